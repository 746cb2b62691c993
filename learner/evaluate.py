"""Greedy evaluation on fixed seeds, and ``python -m learner.evaluate``: leaderboards.

``evaluate_policy`` plays ``episodes`` episodes at once (one env per episode, seeds
``seed, seed+1, …``) with batched greedy forward passes, so a CartPole evaluation
of 20 full episodes costs well under a second of CPU.

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
import dataclasses
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

import conf
from actors.envs import make_single_env
from learner.leaderboard import load_board, render_board
from learner.models import QNetwork, build_q_network, load_tensors, model_config_from_metadata
from replay.weights import WeightIntegrityError, WeightNotFoundError, WeightStore

logger = logging.getLogger(__name__)


def _get(cfg: Any, name: str, default: Any = None) -> Any:
    if isinstance(cfg, Mapping):
        return cfg.get(name, default)
    return getattr(cfg, name, default)


def make_env(env_cfg: Any, render_mode: str | None = None) -> gym.Env:
    """``gymnasium.make`` for an ``env`` config section ("module:Id" imports the module)."""
    if render_mode is None:  # the actors package owns env creation ("module:Id", kwargs)
        plain = env_cfg if isinstance(env_cfg, Mapping) else dataclasses.asdict(env_cfg)
        return make_single_env(plain)
    kwargs = dict(_get(env_cfg, "kwargs", {}) or {})
    steps = _get(env_cfg, "max_episode_steps")
    if steps:
        kwargs["max_episode_steps"] = int(steps)
    if render_mode:
        kwargs["render_mode"] = render_mode
    env_id = str(_get(env_cfg, "id"))
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as exc:
        raise ValueError(f"env.id={env_id!r} cannot be made: {exc}") from exc


def env_spaces(env_cfg: Any) -> tuple[gym.Space, int]:
    """The observation space and number of actions of the configured env."""
    env = make_env(env_cfg)
    try:
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise ValueError(
                f"env.id={_get(env_cfg, 'id')!r} has action space {env.action_space}; DQN needs Discrete"
            )
        return env.observation_space, int(env.action_space.n)
    finally:
        env.close()


def _stack(observations: list[Any]) -> Any:
    first = observations[0]
    if isinstance(first, Mapping):
        return {k: np.stack([np.asarray(o[k]) for o in observations]) for k in first}
    return np.stack([np.asarray(o) for o in observations])


def _to_torch(obs: Any, device: torch.device) -> Any:
    if isinstance(obs, Mapping):
        return {k: torch.as_tensor(v, device=device) for k, v in obs.items()}
    return torch.as_tensor(obs, device=device)


@torch.no_grad()
def evaluate_policy(
    model: QNetwork,
    env_cfg: Any,
    episodes: int,
    seed: int,
    device: torch.device | str = "cpu",
    max_steps: int = 1_000_000,
) -> np.ndarray:
    """Greedy returns of ``episodes`` episodes with seeds ``seed + i`` (order kept)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    envs = [make_env(env_cfg) for _ in range(episodes)]
    try:
        obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
        returns = np.zeros(episodes, dtype=np.float64)
        active = list(range(episodes))
        steps = 0
        while active and steps < max_steps:
            q = model(_to_torch(_stack([obs[i] for i in active]), device))
            actions = q.argmax(dim=1).cpu().numpy()
            still = []
            for i, a in zip(active, actions, strict=True):
                o, r, terminated, truncated, _ = envs[i].step(int(a))
                returns[i] += float(r)
                obs[i] = o
                if not (terminated or truncated):
                    still.append(i)
            active = still
            steps += 1
        return returns
    finally:
        for env in envs:
            env.close()
        model.train(was_training)


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
    obs_space, num_actions = env_spaces(env_cfg)
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for version in versions or store.versions(tag):
        try:
            v, tensors, meta = store.fetch(tag, version)
            model = build_q_network(model_config_from_metadata(meta), obs_space, num_actions)
            load_tensors(model, tensors)
        except (
            WeightIntegrityError,
            WeightNotFoundError,
            ValueError,
            KeyError,
            RuntimeError,
        ) as exc:
            logger.warning("version %s of %r skipped: %s", version, tag, exc)
            skipped.append({"version": int(version), "error": f"{type(exc).__name__}: {exc}"})
            continue
        returns = evaluate_policy(model, env_cfg, episodes, seed)
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
