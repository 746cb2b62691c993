"""Greedy evaluation on fixed seeds, and ``python -m learner.evaluate``: leaderboards.

:func:`leaderboard` plays each stored version greedily with the agent that published it
(:meth:`agents.core.Agent.evaluation_policy`) through
:func:`learner.evaluation.evaluate_greedy` (all episodes at once, fixed seeds).

CLI, two modes::

    # a finished run's directory alone (learner.leaderboard: versions.jsonl, summary.json,
    # metrics.jsonl, ratings.json): one table per tag
    python -m learner.evaluate --run-dir outputs/2026-12-01/00-36-55 [--tag TAG] [--json out.json]
    # evaluate the stored versions of model.tag now, on fixed seeds (a live Redis)
    python -m learner.evaluate model.tag=CartPole-v1-mlp_dueling replay.redis_url=redis://host:6379/0
    python -m learner.evaluate ... +versions=[3,7] env.eval_episodes=50 --json out.json

A version that cannot be fetched or loaded (corrupt blob, trimmed from the history,
a different network) is reported and skipped; the others are still ranked.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.table import Table

import conf
from actors.envs import probe_spaces
from agents import AgentError, resolve_agent
from learner.evaluation import evaluate_greedy
from learner.leaderboard import load_board, render_board
from replay.weights import WeightIntegrityError, WeightNotFoundError, WeightStore

logger = logging.getLogger(__name__)


def version_policy(
    tensors: dict[str, np.ndarray], meta: dict[str, str], spaces: tuple[gym.Space, gym.Space]
) -> Any:
    """The greedy policy of one published version, built by the agent that published it
    (``agent`` in its metadata; versions from before agents were named are DQN's) with the
    networks its metadata describes (:meth:`agents.core.Agent.for_export`)."""
    agent_cls = resolve_agent(meta.get("agent", "dqn"))
    agent = agent_cls.for_export(meta, *spaces)
    return agent.evaluation_policy(tensors, meta)


def leaderboard(
    store: Any,
    tag: str,
    env_cfg: Any,
    episodes: int,
    seed: int,
    versions: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Evaluate stored versions of ``tag`` on the same seeds; best mean first.

    A version that cannot be fetched or loaded is skipped with a warning; it comes last,
    with ``error`` saying why and no returns."""
    spaces = probe_spaces(env_cfg)
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for version in versions or store.versions(tag):
        try:
            v, tensors, meta = store.fetch(tag, version)
            act = version_policy(tensors, dict(meta), spaces)
        except (
            WeightIntegrityError,
            WeightNotFoundError,
            AgentError,
            ValueError,
            KeyError,
            RuntimeError,
        ) as exc:
            logger.warning("version %s of %r skipped: %s", version, tag, exc)
            skipped.append({"version": int(version), "error": f"{type(exc).__name__}: {exc}"})
            continue
        returns = evaluate_greedy(act, env_cfg, episodes, seed)
        rows.append(
            {
                "version": v,
                "mean_return": float(returns.mean()),
                "std_return": float(returns.std()),
                "min_return": float(returns.min()),
                "episodes": episodes,
            }
        )
    rows.sort(key=lambda r: (-r["mean_return"], -r["version"]))
    return rows + skipped


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, float):
        return None
    return str(o)


def _run_dir_mode(run_dir: Path, tag: str | None, json_path: Path | None) -> int:
    try:
        board = load_board(run_dir, tag)
    except ValueError as exc:
        raise SystemExit(f"learner.evaluate: {exc}") from None
    # Piped or captured output gets the whole table, not one squeezed to 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    for table in render_board(board):
        console.print(table)
    for warning in board.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    if not any(r.champion for rows in board.tags.values() for r in rows):
        console.print("(no champion recorded: the run wrote no gate results to versions.jsonl)")
    if json_path is not None:
        _write_json(json_path, board.to_dict())
    return 0


def _store_mode(overrides: list[str], json_path: Path | None) -> int:
    versions = None
    rest = []
    for a in overrides:
        if a.startswith("+versions="):
            try:
                versions = [int(x) for x in a.split("=", 1)[1].strip("[]").split(",") if x]
            except ValueError:
                raise SystemExit(f"learner.evaluate: {a!r} must list version numbers") from None
        else:
            rest.append(a)
    cfg = conf.load_config(rest)
    logging.basicConfig(level=cfg.logging.level)
    if cfg.replay.redis_url is None:
        raise SystemExit(
            "learner.evaluate needs replay.redis_url=redis://host:port/db (the store holding "
            "the versions; a run's embedded Redis lives only as long as the run), "
            "or --run-dir PATH for a finished run's directory"
        )
    store = WeightStore(cfg.replay.redis_url, cfg.replay.namespace or "default")
    tag = cfg.model.tag
    if tag is None:
        tags = store.tags()
        if len(tags) != 1:
            raise SystemExit(f"pass model.tag=<one of {tags}>")
        tag = tags[0]
    rows = leaderboard(store, tag, cfg.env, cfg.env.eval_episodes, cfg.env.eval_seed, versions)
    table = Table(
        title=f"{tag} on {cfg.env.id}: {cfg.env.eval_episodes} episodes, seeds {cfg.env.eval_seed}+"
    )
    for col in ("rank", "version", "mean", "std", "min"):
        table.add_column(col, justify="right")
    rank = 0
    for r in rows:
        if "error" in r:
            table.add_row("-", str(r["version"]), "skipped", r["error"][:60], "")
            continue
        rank += 1
        table.add_row(
            str(rank),
            str(r["version"]),
            f"{r['mean_return']:.2f}",
            f"{r['std_return']:.2f}",
            f"{r['min_return']:.2f}",
        )
    Console().print(table)
    if json_path is not None:
        _write_json(
            json_path,
            {"tag": tag, "env_id": cfg.env.id, "seed": cfg.env.eval_seed, "rows": rows},
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI: a leaderboard from ``--run-dir PATH``, or of ``model.tag`` in a live store."""
    parser = argparse.ArgumentParser(
        prog="python -m learner.evaluate",
        description=(
            "Leaderboard of weight versions. With --run-dir: from a run directory alone "
            "(versions.jsonl, summary.json, metrics.jsonl, ratings.json), one table per tag. "
            "Otherwise: evaluate the stored versions of model.tag greedily on fixed seeds; "
            "the remaining arguments are config overrides (model.tag=TAG "
            "replay.redis_url=URL [+versions=[3,7]] [env.eval_episodes=50])."
        ),
    )
    parser.add_argument("--run-dir", type=Path, default=None, help="a run's output directory")
    parser.add_argument("--tag", default=None, help="only this tag (run-dir mode)")
    parser.add_argument("--json", type=Path, default=None, help="also write the table(s) here")
    args, overrides = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    unknown = [a for a in overrides if a.startswith("--")]
    if unknown:
        parser.error(f"unknown option(s) {unknown}")
    if args.run_dir is not None:
        if overrides:
            parser.error(f"--run-dir takes no config overrides, got {overrides}")
        logging.basicConfig(level=logging.INFO)
        return _run_dir_mode(args.run_dir, args.tag, args.json)
    if args.tag is not None:
        parser.error("--tag is for --run-dir; for a live store pass model.tag=TAG")
    return _store_mode(overrides, args.json)


if __name__ == "__main__":
    sys.exit(main())
