"""Learner updates SAC needs to reach −200 on Pendulum-v1: one process, no Ray or Redis.

The pipeline's Pendulum wall-clock is bounded by the learner, so what a setting costs is
the number of updates before a greedy evaluation reaches the target. This script counts
that number with the agent contract's own pieces (``ActorPolicy`` → n-step folder → a
numpy ring buffer → ``AgentLearner``; the loop of ``tests/agents/sac_loop.py``), one
process per (setting, seed) run. Settings are ``algo.*`` overrides of the
``experiment=sac_pendulum`` agent (128-128, batch 128, 1,000 random steps first).

    python bench/sac_updates.py --seeds 1 2 3 --set base= --set tau=tau:0.02 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

sys.path.append(str(Path(__file__).resolve().parents[1] / "tests" / "agents"))
from sac_loop import run_loop  # noqa: E402 - the tests' single-process loop

from agents.sac import SACAgent, SACConfig  # noqa: E402

PRESET: dict[str, Any] = {
    "hidden_sizes": [128, 128],
    "batch_size": 128,
    "random_warmup_steps": 1000,
}
MIN_SIZE = 1000


def parse_setting(text: str) -> tuple[str, dict[str, Any]]:
    """``name=key:value,key:value`` (values read as JSON where they parse)."""
    name, _, body = text.partition("=")
    overrides: dict[str, Any] = {}
    for item in filter(None, body.split(",")):
        key, sep, raw = item.partition(":")
        if not sep:
            raise SystemExit(f"--set {text!r}: {item!r} is not key:value")
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    return name, overrides


def updates_to_solve(overrides: dict[str, Any], seed: int, args: argparse.Namespace) -> int | None:
    env = gym.make("Pendulum-v1")
    agent = SACAgent(
        SACConfig(**{**PRESET, **overrides}), None, env.observation_space, env.action_space
    )
    result = run_loop(
        agent,
        "Pendulum-v1",
        seed,
        max_steps=args.max_steps,
        min_size_to_sample=MIN_SIZE,
        target_return=args.target,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
    )
    solved = [step for step, mean in result.evals if mean >= args.target]
    return solved[0] - MIN_SIZE if solved else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--set", action="append", default=None, help="name=key:value,...")
    ap.add_argument("--target", type=float, default=-200.0)
    ap.add_argument("--max-steps", type=int, default=12_000)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-episodes", type=int, default=10)
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    settings = [parse_setting(s) for s in (args.set or ["base="])]
    figures: dict[str, Any] = {"seeds": args.seeds, "settings": {}}
    for name, overrides in settings:
        per_seed = {seed: updates_to_solve(overrides, seed, args) for seed in args.seeds}
        solved = [u for u in per_seed.values() if u is not None]
        figures["settings"][name] = {
            "overrides": overrides,
            "updates_to_solve": per_seed,
            "median_updates": statistics.median(solved) if solved else None,
            "solved_runs": len(solved),
        }
        print(f"{name:>12} {overrides}: updates to {args.target:g} per seed {per_seed}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
