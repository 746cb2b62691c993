"""Training curves of fsrl runs, and the game figures of a run's final policy.

Reads ``metrics.jsonl`` of one or more run dirs (``python -m learner.main`` writes it)
and plots with the user command's plotter (:mod:`learner.curves`, ``fsrl curves``),
against wall-clock minutes, the recent training episode return and the
greedy evaluation mean return; the PNG goes to ``--out``. With ``--games N`` it also
loads the newest checkpoint of each run (``<run dir>/checkpoints``, safetensors) and
plays N greedy games on the evaluation seeds of the run's own config under the env's
evaluation protocol (:mod:`learner.protocols`; ``bench/agent_eval.py`` does the same
for any agent): lines cleared per Tetris game, apples eaten per Snake game, each game
up to ``--max-steps`` (1,000,000 by default). The figures are printed as a table and, with
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
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from learner.curves import plot, read_metrics  # noqa: E402  (the user command's plotter)

logger = logging.getLogger(__name__)


def play_games(run_dir: str | Path, games: int, max_steps: int | None) -> dict[str, Any]:
    """Greedy games of the newest checkpoint under the env's evaluation protocol
    (:mod:`learner.protocols`: lines per Tetris game, apples per Snake game, on batched
    boards, each game up to ``max_steps``, default 1,000,000 for the games)."""
    import torch
    import yaml

    from actors.envs import probe_spaces
    from agents.dqn.networks import build_q_network, obs_to_tensor
    from learner.checkpoint import load_checkpoint
    from learner.protocols import run_protocol

    ckpt = load_checkpoint(Path(run_dir) / "checkpoints")
    cfg = yaml.safe_load((ckpt.path / "config.yaml").read_text())
    env_cfg, model_cfg = cfg["env"], cfg["model"]
    obs_space, action_space = probe_spaces(env_cfg)
    model = build_q_network(model_cfg, obs_space, int(action_space.n))
    model.load_state_dict(
        {k[len("online/") :]: v for k, v in ckpt.tensors.items() if k.startswith("online/")}
    )
    model.eval()
    torch.set_num_threads(1)

    def act(obs: Any) -> np.ndarray:
        with torch.no_grad():
            return model(obs_to_tensor(obs)).argmax(dim=1).numpy()

    res = run_protocol(act, env_cfg, games, max_steps=max_steps)
    unit = res["unit"]
    res.update(
        {
            "checkpoint": str(ckpt.path),
            "learner_updates": int(ckpt.counters.get("updates", 0)),
            "env_steps": int(ckpt.counters.get("env_steps", 0)),
            f"mean_{unit}_per_game": res[f"mean_{unit}"],
            f"min_{unit}_per_game": res[f"min_{unit}"],
            f"max_{unit}_per_game": res[f"max_{unit}"],
            "eval_wall_s": res["wall_s"],
        }
    )
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", help="run dirs holding metrics.jsonl")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--title", default="fsrl training curves")
    parser.add_argument("--log-y", action="store_true", help="symmetric log scale for returns")
    parser.add_argument("--games", type=int, default=0, help="greedy games of the final policy")
    parser.add_argument(
        "--max-steps", type=int, default=None, help="step cap of a game (protocol default)"
    )
    parser.add_argument("--json", dest="json_path", help="write the figures as one JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    runs = {Path(d).name: read_metrics(d) for d in args.run_dirs}
    plot(runs, args.out, args.title, x="wall", log_y=args.log_y)
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
            res = play_games(d, args.games, args.max_steps)
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
