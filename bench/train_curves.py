"""Training curves of fsrl runs, and the game figures of a run's final policy.

Reads ``metrics.jsonl`` of one or more run dirs (``python -m learner.main`` writes it)
and plots, against wall-clock minutes, the recent training episode return and the
greedy evaluation mean return; the PNG goes to ``--out``. With ``--games N`` it also
loads the newest checkpoint of each run (``<run dir>/checkpoints``, safetensors) and
plays N greedy games on the evaluation seeds of the run's own config, counting what
the game counts: lines cleared per Tetris game (a game stops at ``--line-cap`` lines),
apples eaten per Snake game. The figures are printed as a table and, with
``--json PATH``, written as one JSON object.

Example::

    python bench/train_curves.py runs/tetris_1h --out docs/img/tetris_1h.png --games 10
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

logger = logging.getLogger(__name__)

#: The issue's cap on one Tetris evaluation game.
DEFAULT_LINE_CAP = 100_000


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The dumps of a run's ``metrics.jsonl`` (a truncated last line is skipped)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: is {run_dir} a run dir?")
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def series(rows: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(wall minutes, values) of ``key`` over the dumps that carry it."""
    pts = [
        (r["charts/wall_time_s"] / 60.0, float(r[key]))
        for r in rows
        if key in r and "charts/wall_time_s" in r and r[key] is not None
    ]
    if not pts:
        return np.zeros(0), np.zeros(0)
    arr = np.asarray(pts, dtype=np.float64)
    return arr[:, 0], arr[:, 1]


def plot(
    runs: dict[str, list[dict[str, Any]]], out: str | Path, title: str, log_y: bool = False
) -> None:
    """One panel per run: training return (line) and evaluation mean return (dots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), squeeze=False)
    for ax, (name, rows) in zip(axes[0], runs.items(), strict=True):
        x, y = series(rows, "charts/episode_return")
        ax.plot(x, y, lw=1, label="training episodes (mean of last 20)")
        x, y = series(rows, "eval/mean_return")
        ax.plot(x, y, "o-", ms=4, label="greedy evaluation (mean)")
        x, y = series(rows, "eval/screen_mean_return")
        if len(x):
            ax.plot(x, y, "x", ms=4, label="evaluation screen (5 games)")
        ax.set_title(name)
        ax.set_xlabel("wall clock (minutes)")
        ax.set_ylabel("return")
        if log_y:
            ax.set_yscale("symlog", linthresh=10.0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def play_games(run_dir: str | Path, games: int, line_cap: int) -> dict[str, Any]:
    """Greedy games of the newest checkpoint; lines (Tetris) or apples (Snake) per game."""
    import torch
    import yaml

    from agents.dqn.networks import build_q_network, obs_to_tensor
    from learner.checkpoint import load_checkpoint
    from learner.evaluate import env_spaces, make_env

    ckpt = load_checkpoint(Path(run_dir) / "checkpoints")
    cfg = yaml.safe_load((ckpt.path / "config.yaml").read_text())
    env_cfg, model_cfg = cfg["env"], cfg["model"]
    obs_space, num_actions = env_spaces(env_cfg)
    model = build_q_network(model_cfg, obs_space, num_actions)
    model.load_state_dict(
        {k[len("online/") :]: v for k, v in ckpt.tensors.items() if k.startswith("online/")}
    )
    model.eval()
    is_tetris = "tetris" in str(env_cfg["id"]).lower()
    counts, steps, returns = [], [], []
    t0 = time.perf_counter()
    for i in range(games):
        env = make_env(env_cfg)
        obs, info = env.reset(seed=int(env_cfg["eval_seed"]) + i)
        done, ret, n = False, 0.0, 0
        while not done:
            with torch.no_grad():
                batch = {k: v[None] for k, v in obs.items()} if isinstance(obs, dict) else obs[None]
                action = int(model(obs_to_tensor(batch)).argmax(dim=1)[0])
            obs, reward, terminated, truncated, info = env.step(action)
            ret += float(reward)
            n += 1
            done = terminated or truncated
            if is_tetris and int(info["lines"]) >= line_cap:
                done = True
        env.close()
        counts.append(int(info["lines"] if is_tetris else info["apples"]))
        steps.append(n)
        returns.append(ret)
    unit = "lines" if is_tetris else "apples"
    return {
        "env_id": env_cfg["id"],
        "checkpoint": str(ckpt.path),
        "learner_updates": int(ckpt.counters.get("updates", 0)),
        "env_steps": int(ckpt.counters.get("env_steps", 0)),
        "games": games,
        "unit": unit,
        f"mean_{unit}_per_game": float(np.mean(counts)),
        f"min_{unit}_per_game": int(np.min(counts)),
        f"max_{unit}_per_game": int(np.max(counts)),
        f"{unit}_per_game": counts,
        "steps_per_game": steps,
        "mean_return": float(np.mean(returns)),
        "eval_wall_s": round(time.perf_counter() - t0, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", help="run dirs holding metrics.jsonl")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--title", default="fsrl training curves")
    parser.add_argument("--log-y", action="store_true", help="symmetric log scale for returns")
    parser.add_argument("--games", type=int, default=0, help="greedy games of the final policy")
    parser.add_argument("--line-cap", type=int, default=DEFAULT_LINE_CAP)
    parser.add_argument("--json", dest="json_path", help="write the figures as one JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    runs = {Path(d).name: read_metrics(d) for d in args.run_dirs}
    plot(runs, args.out, args.title, args.log_y)
    figures: dict[str, Any] = {"plot": str(args.out), "runs": {}}
    print(f"{'run':<20} {'minutes':>8} {'env steps':>11} {'updates':>9} {'best eval':>10}")
    for name, rows in runs.items():
        last = rows[-1] if rows else {}
        evals = [r["eval/mean_return"] for r in rows if r.get("eval/mean_return") is not None]
        best = max(evals) if evals else math.nan
        minutes = last.get("charts/wall_time_s", math.nan) / 60.0
        row = {
            "wall_minutes": minutes,
            "env_steps": last.get("charts/env_steps"),
            "learner_updates": last.get("charts/learner_updates"),
            "best_eval_mean_return": best,
        }
        figures["runs"][name] = row
        print(
            f"{name:<20} {minutes:>8.1f} {row['env_steps'] or 0:>11,.0f} "
            f"{row['learner_updates'] or 0:>9,.0f} {best:>10.1f}"
        )
    if args.games:
        for d in args.run_dirs:
            res = play_games(d, args.games, args.line_cap)
            figures["runs"][Path(d).name]["final_policy"] = res
            unit = res["unit"]
            print(
                f"{Path(d).name}: {res['games']} greedy games, {unit} per game mean "
                f"{res[f'mean_{unit}_per_game']:.1f} (min {res[f'min_{unit}_per_game']}, max "
                f"{res[f'max_{unit}_per_game']}), {res['eval_wall_s']} s"
            )
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
