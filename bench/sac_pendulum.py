"""SAC on Pendulum-v1 to a greedy evaluation mean of -200: ``python -m learner.main
experiment=sac_pendulum`` (our actors, Redis replay, learner, weight store; async) against
bench/single_process_sac.py (our own single-process SAC with CleanRL's settings), the two
alternating run by run on seeds 1..repeats (or ``--seeds``) so both see the same load.

Figures per side, medians over the runs:

* ``wall_s`` — from training start to the first evaluation at or above the target (ours:
  the run's own clock, from ``learner.main.run``'s start, as the CartPole figure; the
  peer: from its start, its evaluations included);
* ``process_to_solve_s`` — from process start (interpreter, imports, Ray, Redis) to that
  evaluation;
* env steps and learner updates to solve; the load average before each run.

    python bench/sac_pendulum.py --repeats 3 --json /tmp/sac_pendulum.json

Figures and the command go to docs/benchmarks.md ("SAC on Pendulum-v1").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["logging.console=false", "logging.tensorboard=false"]


def ours(seed: int, target: float, max_wall_s: float, overrides: list[str]) -> dict[str, Any]:
    """One ``python -m learner.main experiment=sac_pendulum`` run until the target (or the cap)."""
    run_dir = Path(tempfile.mkdtemp(prefix="fsrl-sac-bench-"))
    cmd = [
        sys.executable,
        "-m",
        "learner.main",
        "experiment=sac_pendulum",
        f"seed={seed}",
        f"budget.target_eval_return={target}",
        f"budget.wall_time_s={max_wall_s}",
        *overrides,
        *QUIET,
        f"hydra.run.dir={run_dir}",
    ]
    print("  $", " ".join(cmd[1:]), flush=True)
    launch = time.time()
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=max_wall_s + 300, check=False
    )
    process_s = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"learner.main failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    shutil.rmtree(run_dir, ignore_errors=True)
    solved = [e for e in summary.get("evals", []) if e["mean"] >= target]
    wall_s = solved[0]["elapsed_s"] if solved else float(summary["wall_time_s"])
    pre_run_s = float(summary.get("start_unix_s", launch)) - launch
    run = {
        "seed": seed,
        "solved": bool(solved),
        "wall_s": wall_s,
        "process_to_solve_s": pre_run_s + wall_s,
        "process_s": process_s,
        "env_steps": solved[0]["env_steps"] if solved else summary["env_steps"],
        "learner_updates": solved[0]["learner_updates"] if solved else summary["learner_updates"],
        "replay_wait_fraction": summary.get("replay_wait_fraction"),
        "stop_reason": summary["stop_reason"],
    }
    print(f"  ours: {run}", flush=True)
    return run


def peer(seed: int, target: float, max_wall_s: float) -> dict[str, Any]:
    """One run of bench/single_process_sac.py in its own process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peer.json"
        cmd = [
            sys.executable,
            str(ROOT / "bench" / "single_process_sac.py"),
            "--seeds",
            str(seed),
            "--target-return",
            str(target),
            "--max-wall-s",
            str(max_wall_s),
            "--json",
            str(out),
        ]
        print("  $", " ".join(cmd[1:]), flush=True)
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        process_s = time.monotonic() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"peer failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        run = dict(json.loads(out.read_text())["baseline_per_seed"][0])
    run["process_to_solve_s"] = process_s  # it exits right after the solving evaluation
    print(f"  peer: {run}", flush=True)
    return run


def medians(runs: list[dict[str, Any]], keys: list[str]) -> dict[str, float]:
    return {k: statistics.median(float(r[k]) for r in runs) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="seeds 1..repeats, each side")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="instead of 1..repeats")
    parser.add_argument("--target-return", type=float, default=-200.0)
    parser.add_argument("--max-wall-s", type=float, default=900.0)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--json", type=str, default=None, help="write the figures here")
    parser.add_argument("overrides", nargs="*", help="extra learner.main overrides for ours")
    args = parser.parse_args()

    mine: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    for seed in args.seeds or range(1, args.repeats + 1):
        load = os.getloadavg()[0]
        mine.append(
            {**ours(seed, args.target_return, args.max_wall_s, args.overrides), "load_1m": load}
        )
        if not args.skip_peer:
            load = os.getloadavg()[0]
            theirs.append({**peer(seed, args.target_return, args.max_wall_s), "load_1m": load})

    keys = ["wall_s", "process_to_solve_s", "env_steps", "load_1m"]
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "target_return": args.target_return,
        "ours": {
            **medians(mine, [*keys, "learner_updates"]),
            "solved_runs": sum(r["solved"] for r in mine),
            "runs": mine,
        },
    }
    if theirs:
        result["peer"] = {
            **medians(theirs, keys),
            "solved_runs": sum(r["solved"] for r in theirs),
            "runs": theirs,
        }
        all_solved = all(r["solved"] for r in mine + theirs)
        result["ratio_wall"] = result["ours"]["wall_s"] / result["peer"]["wall_s"]
        result["ratio_process_to_solve"] = (
            result["ours"]["process_to_solve_s"] / result["peer"]["process_to_solve_s"]
        )
        # a capped (unsolved) run makes its wall-clock a lower bound, not a figure
        result["all_solved"] = all_solved
    print()
    print(f"{'side':>6} {'solved':>7} {'wall_s':>8} {'proc_s':>8} {'steps':>7} {'load':>5}")
    for name in ("ours", "peer"):
        if name in result:
            r = result[name]
            print(
                f"{name:>6} {r['solved_runs']:>3}/{len(r['runs']):<3} {r['wall_s']:>8.1f} "
                f"{r['process_to_solve_s']:>8.1f} {r['env_steps']:>7.0f} {r['load_1m']:>5.1f}"
            )
    if "ratio_wall" in result:
        print(
            f"ours/peer: {result['ratio_wall']:.2f}x from training start, "
            f"{result['ratio_process_to_solve']:.2f}x from process start"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
