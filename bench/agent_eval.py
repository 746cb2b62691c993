"""The evaluation protocols on a run's final policy: Tetris lines, Snake apples per game.

For each run dir (``python -m learner.main ... hydra.run.dir=DIR``) this loads the newest
checkpoint (``DIR/checkpoints``: safetensors plus the run's ``config.yaml``), rebuilds
the run's agent from that config and plays its greedy policy under the env's protocol
(:mod:`learner.protocols`): ``--games`` games (20) on the fixed seeds ``--seed + i``
(default: the run's ``env.eval_seed``), each until it ends or reaches ``--max-steps``
(1,000,000 placements/steps; the robot keeps its time limit), on batched boards. Tetris: lines per game (mean, median,
min, max) and the capped games; Snake: apples per game, the share of games that fill
the board, steps per apple. ``--scripted`` plays a scripted reference policy instead
(Tetris: the linear height/holes/bumpiness controller; Snake: the Hamiltonian cycle) on
the env of ``--experiment``. Figures print as a table; ``--json PATH`` writes them all.

Examples::

    python bench/agent_eval.py runs/tetris_1h runs/snake_1h --json out/agents.json
    python bench/agent_eval.py --scripted --experiment tetris_1h --games 20 --max-steps 100000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import conf  # noqa: E402
from actors.envs import env_section, probe_spaces  # noqa: E402
from agents import resolve_agent  # noqa: E402
from conf.sections import ModelConfig  # noqa: E402
from envs.gopigo_bridge.scripted import wall_turn_policy  # noqa: E402
from envs.snake.scripted import hamiltonian_policy  # noqa: E402
from envs.tetris.scripted import linear_placement_policy  # noqa: E402
from learner.checkpoint import load_checkpoint  # noqa: E402
from learner.protocols import (  # noqa: E402
    DEFAULT_GAMES,
    DEFAULT_MAX_STEPS,
    protocol_name,
    run_protocol,
)

logger = logging.getLogger(__name__)


def final_policy(run_dir: str | Path) -> tuple[Callable[[Any], np.ndarray], dict[str, Any]]:
    """The greedy policy of a run's newest checkpoint, and that checkpoint's facts."""
    ckpt = load_checkpoint(Path(run_dir) / "checkpoints")
    cfg = yaml.safe_load((ckpt.path / "config.yaml").read_text())
    agent_cls = resolve_agent(str(cfg["algo"]["name"]))
    algo: Any = conf.as_section(agent_cls.config_class, cfg["algo"])
    model = conf.as_section(ModelConfig, cfg["model"])
    agent = agent_cls(algo, model, *probe_spaces(cfg["env"]))
    torch.set_num_threads(1)  # small batched forwards: extra threads only contend
    learner = agent.learner("cpu", 0)
    learner.load_state(ckpt.tensors, ckpt.optimizer)
    facts = {
        "checkpoint": str(ckpt.path),
        "learner_updates": int(ckpt.counters.get("updates", 0)),
        "env_steps": int(ckpt.counters.get("env_steps", 0)),
        "env": cfg["env"],
    }
    return learner.greedy(), facts


def scripted_policy(env_cfg: Any) -> Callable[[Any], np.ndarray]:
    """The reference policy of the env's protocol (ValueError where there is none)."""
    env = env_section(env_cfg)
    kwargs = dict(env.kwargs or {})
    name = protocol_name(env)
    if name == "tetris":
        if not kwargs.get("candidate_features"):
            raise ValueError("the scripted Tetris policy needs env.kwargs.candidate_features=true")
        height = int(kwargs.get("height", 20)) + int(kwargs.get("hidden_rows", 2))
        return linear_placement_policy(width=int(kwargs.get("width", 10)), height=height)
    if name == "snake":
        return hamiltonian_policy(int(kwargs.get("height", 10)), int(kwargs.get("width", 10)))
    if name == "gopigo":
        return wall_turn_policy()
    raise ValueError(f"no scripted policy for {env.id!r}")


def _print(name: str, res: dict[str, Any]) -> None:
    unit = res["unit"]
    line = (
        f"{name}: {res['games']} games, {unit} per game mean {res[f'mean_{unit}']:,.1f} "
        f"median {res[f'median_{unit}']:,.1f} min {res[f'min_{unit}']:,.0f} "
        f"max {res[f'max_{unit}']:,.0f}; capped {res['capped_games']}"
    )
    if res["protocol"] == "snake":
        line += (
            f"; filled the board {res['filled_games']}/{res['games']}, "
            f"{res['steps_per_apple']:.1f} steps per apple"
        )
    line += f"; {res['steps']:,} steps in {res['wall_s']:.1f} s ({res['steps_per_s']:,.0f}/s)"
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="*", help="run dirs holding checkpoints/")
    parser.add_argument("--games", type=int, default=DEFAULT_GAMES)
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help=f"step cap of a game (default {DEFAULT_MAX_STEPS:,} for Tetris and Snake, "
        "the env's own limit otherwise)",
    )
    parser.add_argument("--seed", type=int, default=None, help="first seed (default: eval_seed)")
    parser.add_argument("--scripted", action="store_true", help="the scripted reference policy")
    parser.add_argument("--experiment", default=None, help="preset whose env --scripted plays")
    parser.add_argument("--json", dest="json_path", help="write the figures as one JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.games < 1 or (args.max_steps is not None and args.max_steps < 1):
        parser.error(f"--games and --max-steps must be >= 1, got {args.games}, {args.max_steps}")
    if args.scripted == bool(args.run_dirs):
        parser.error("pass run dirs, or --scripted --experiment NAME (not both)")
    jobs: list[tuple[str, Callable[[Any], np.ndarray], Any, dict[str, Any]]] = []
    if args.scripted:
        if not args.experiment:
            parser.error("--scripted needs --experiment NAME (e.g. tetris_1h, snake_1h, gopigo)")
        env = conf.load_config([f"experiment={args.experiment}"]).env
        jobs.append((f"scripted/{args.experiment}", scripted_policy(env), env, {}))
    for d in args.run_dirs:
        act, facts = final_policy(d)
        jobs.append((Path(d).name, act, facts.pop("env"), facts))
    out: dict[str, Any] = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "load_avg_1m": os.getloadavg()[0],
        "runs": {},
    }
    for name, act, env, facts in jobs:
        res = run_protocol(act, env, args.games, args.seed, args.max_steps)
        res.update(facts)
        out["runs"][name] = res
        _print(name, res)
    out["load_avg_1m_end"] = os.getloadavg()[0]
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
