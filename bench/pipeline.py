"""Pipeline benchmark: async vs sync throughput, learner starvation, weight propagation,
and CartPole wall-clock against our single-process DQN — all in one run, same config.

Parts (each can be skipped):

1. ``async`` vs ``sync``: ``python -m learner.main mode=<m>`` for ``--duration-s`` of wall
   time (no eval, no target), same overrides; env steps/s and learner updates/s over the
   steady window of ``metrics.jsonl`` (first row with env steps > 0 to the last row),
   and the fraction of the learner's time spent waiting on replay (async).
2. Weight propagation: ``actors.num`` Ray actors running; ``--versions`` versions
   published ``--publish-interval-s`` apart; for each version the time from the publish
   call to the moment the LAST actor acted with it (or a newer one), read from the
   actors' ``fsrl:{ns}:actors:switches`` stream. p50/p99 over versions.
3. CartPole-v1 to a greedy eval mean >= 475 (20 fixed-seed episodes): ``python -m
   learner.main`` with the default config (time from its start to the solving eval,
   from its summary) vs ``bench/single_process_dqn.py`` (CleanRL's hyper-parameters),
   alternating run by run on seeds 1..repeats so both see the same machine load.

    python bench/pipeline.py --json /tmp/pipeline.json
    python bench/pipeline.py --skip-cartpole --duration-s 30      # quick look

Medians over ``--repeats``. Figures and the commands go to docs/benchmarks.md.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUIET = ["logging.console=false", "logging.tensorboard=false"]


def launch(overrides: list[str], timeout_s: float) -> tuple[dict[str, Any], list[dict], float]:
    """Run ``python -m learner.main`` with ``overrides``; return (summary, metric rows, process s).

    The summary gains ``launch_unix_s``: when this script started the process."""
    run_dir = Path(tempfile.mkdtemp(prefix="fsrl-bench-"))
    cmd = [sys.executable, "-m", "learner.main", *overrides, *QUIET, f"hydra.run.dir={run_dir}"]
    print("  $", " ".join(cmd[1:]), flush=True)
    launch_unix_s = time.time()
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"learner.main failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["launch_unix_s"] = launch_unix_s
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    shutil.rmtree(run_dir, ignore_errors=True)
    return summary, rows, elapsed


def steady_rates(rows: list[dict], interval_s: float = 1.0) -> dict[str, float]:
    """env steps/s and updates/s between the first row with env steps and the last row,
    and the learner's wait fraction over the same window."""
    rows = [r for r in rows if r.get("charts/env_steps") is not None]
    live = [r for r in rows if r["charts/env_steps"] > 0]
    if len(live) < 2:
        raise RuntimeError("too few metric rows to measure a rate; raise --duration-s")
    first, last = live[0], live[-1]
    dt = last["time"] - first["time"]
    out = {
        "env_steps_per_s": (last["charts/env_steps"] - first["charts/env_steps"]) / dt,
        "updates_per_s": (last["charts/learner_updates"] - first["charts/learner_updates"]) / dt,
        "window_s": dt,
        "wait_fraction_steady": float("nan"),
    }
    # The learner reports its wait fraction cumulatively since its prefetcher started
    # (W(t) = f(t) * (t - t0)), which folds in the actors' start-up. The prefetcher starts
    # about one dump interval before the first metric row, so t0 ~ rows[0].time - interval
    # and the steady window's own fraction is (W(last) - W(first)) / (last - first).
    key = "learner/replay_wait_fraction"
    if first.get(key) is not None and last.get(key) is not None:
        t0 = rows[0]["time"] - interval_s
        waited = last[key] * (last["time"] - t0) - first[key] * (first["time"] - t0)
        out["wait_fraction_steady"] = min(1.0, max(0.0, waited / dt))
    return out


def bench_modes(overrides: list[str], duration_s: float, repeats: int) -> dict[str, Any]:
    budget = [
        "budget.env_steps=null",
        "budget.learner_updates=null",
        f"budget.wall_time_s={duration_s}",
        "budget.target_eval_return=null",
        "learner.eval_interval_s=0",
        "learner.checkpoint_interval_updates=0",
        "logging.interval_s=1.0",
    ]
    out: dict[str, Any] = {}
    for mode in ("async", "sync"):
        runs = []
        for _ in range(repeats):
            summary, rows, _ = launch([f"mode={mode}", *budget, *overrides], duration_s + 240)
            rates = steady_rates(rows, interval_s=1.0)
            rates["wait_fraction_cumulative"] = float(summary.get("replay_wait_fraction") or 0.0)
            runs.append(rates)
            print(
                f"  {mode}: {rates['env_steps_per_s']:,.0f} env steps/s, "
                f"{rates['updates_per_s']:,.1f} updates/s, learner wait "
                f"{rates['wait_fraction_steady']:.3f} steady / "
                f"{rates['wait_fraction_cumulative']:.3f} cumulative",
                flush=True,
            )
        for key in ("env_steps_per_s", "updates_per_s"):
            out[f"{mode}_{key}"] = statistics.median(r[key] for r in runs)
        if mode == "async":
            out["learner_wait_fraction"] = statistics.median(
                r["wait_fraction_steady"] for r in runs
            )
            out["learner_wait_fraction_cumulative"] = statistics.median(
                r["wait_fraction_cumulative"] for r in runs
            )
    out["async_sync_steps_ratio"] = out["async_env_steps_per_s"] / out["sync_env_steps_per_s"]
    out["async_sync_updates_ratio"] = out["async_updates_per_s"] / max(
        out["sync_updates_per_s"], 1e-9
    )
    return out


def bench_propagation(overrides: list[str], versions: int, interval_s: float) -> dict[str, Any]:
    import ray
    import redis

    from actors.remote import create_remote_actor
    from actors.spec import ActorSpec, build_agent
    from conf import load_config
    from replay import ReplayClient
    from replay.embedded import EmbeddedRedis
    from replay.keys import RunKeys
    from replay.weights import WeightStore

    cfg = load_config(list(overrides))
    agent = build_agent(cfg)
    num = int(cfg.actors.num)
    ns = "bench-propagation"
    tag = "bench"
    with EmbeddedRedis() as server:
        client = ReplayClient(server.url, namespace=ns)
        client.create_table(cfg_table(cfg), agent.transition_spec())
        store = WeightStore(server.url, ns)
        tensors, meta = agent.learner("cpu", int(cfg.seed)).export()
        store.publish(tag, tensors, meta)
        r = redis.Redis.from_url(server.url)
        ray.init(
            address="local",
            num_cpus=os.cpu_count() or 2,
            include_dashboard=False,
            log_to_driver=False,
        )
        try:
            actors = [
                create_remote_actor(ActorSpec.from_config(cfg, i, server.url, ns, tag))
                for i in range(num)
            ]
            refs = [a.run.remote() for a in actors]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                running = [
                    r.hget(RunKeys(ns).actor_status(i), "running") == b"1" for i in range(num)
                ]
                if all(running):
                    break
                time.sleep(0.2)
            else:
                raise RuntimeError("actors did not start within 120 s")
            time.sleep(2.0)
            rng = np.random.default_rng(0)
            published: dict[int, float] = {}
            for _ in range(versions):
                noisy = {
                    k: v + rng.normal(0, 1e-3, v.shape).astype(v.dtype) for k, v in tensors.items()
                }
                t = time.time()
                v = store.publish(tag, noisy, meta)
                published[v] = t
                time.sleep(interval_s * (0.75 + 0.5 * rng.random()))
            time.sleep(3.0)
            r.set(RunKeys(ns).actors_stop, 1)
            ray.get(refs, timeout=60)
            switches: dict[int, list[tuple[int, float]]] = {i: [] for i in range(num)}
            for _, f in r.xrange(RunKeys(ns).switches):
                switches[int(f[b"actor_id"])].append(
                    (int(f[b"policy_version"]), float(f[b"time_s"]))
                )
        finally:
            ray.shutdown()
            r.close()
            store.close()
            client.close()

    every_actor, per_pair, missed = [], [], 0
    for v, t_pub in sorted(published.items()):
        lags = []
        for i in range(num):
            later = [ts for (sv, ts) in switches[i] if sv >= v]
            if not later:
                missed += 1
                continue
            lags.append(min(later) - t_pub)
        per_pair += lags
        if len(lags) == num:
            every_actor.append(max(lags))
    return {
        "weight_propagation_p50_s": float(np.percentile(every_actor, 50)),
        "weight_propagation_p99_s": float(np.percentile(every_actor, 99)),
        "weight_propagation_max_s": float(np.max(every_actor)),
        "weight_propagation_pair_p50_s": float(np.percentile(per_pair, 50)),
        "weight_propagation_pair_p99_s": float(np.percentile(per_pair, 99)),
        "weight_propagation_versions": len(published),
        "weight_propagation_actors": num,
        "weight_propagation_missed": missed,
        "weight_poll_interval_s": float(cfg.actors.weight_poll_interval_s),
    }


def cfg_table(cfg: Any) -> Any:
    from replay import TableConfig

    return TableConfig(name=cfg.replay.table, capacity=int(cfg.replay.capacity))


def solve_with_launcher(overrides: list[str], seed: int, max_wall_s: float) -> dict[str, Any]:
    """One ``python -m learner.main`` run on CartPole until its eval reaches 475 (or the cap)."""
    summary, _, process_s = launch(
        ["env=cartpole", f"seed={seed}", f"budget.wall_time_s={max_wall_s}", *overrides],
        max_wall_s + 300,
    )
    solved = [e for e in summary.get("evals", []) if e["mean"] >= 475.0]
    wall_s = solved[0]["elapsed_s"] if solved else float(summary["wall_time_s"])
    # process start (interpreter, imports, Hydra) -> the solving evaluation
    pre_run_s = (
        float(summary.get("start_unix_s", summary["launch_unix_s"])) - summary["launch_unix_s"]
    )
    run = {
        "seed": seed,
        "solved": bool(solved),
        "wall_s": wall_s,
        "process_to_solve_s": pre_run_s + wall_s,
        "process_s": process_s,
        "timeline_s": summary.get("timeline_s", {}),
        "env_steps": solved[0]["env_steps"] if solved else summary["env_steps"],
        "learner_updates": solved[0]["learner_updates"] if solved else summary["learner_updates"],
        "stop_reason": summary["stop_reason"],
    }
    print(f"  learner.main: {run}", flush=True)
    return run


def solve_with_baseline(seed: int, max_wall_s: float) -> dict[str, Any]:
    """One run of bench/single_process_dqn.py (CleanRL's hyper-parameters) in its own process,
    like ``learner.main``: ``wall_s`` from its training start (its own clock) and
    ``process_to_solve_s`` from the process start (it exits right after the solving eval)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "baseline.json"
        cmd = [
            sys.executable,
            str(ROOT / "bench" / "single_process_dqn.py"),
            "--seeds",
            str(seed),
            "--max-wall-s",
            str(max_wall_s),
            "--json",
            str(out),
        ]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        process_s = time.monotonic() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"baseline failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        run = dict(json.loads(out.read_text())["baseline_per_seed"][0])
    run["process_to_solve_s"] = process_s
    print(f"  baseline: {run}", flush=True)
    return run


def bench_cartpole(
    overrides: list[str], repeats: int, max_wall_s: float, baseline: bool
) -> dict[str, Any]:
    """Ours and the baseline alternate (same seeds 1..repeats), so both see the same load."""
    ours, base = [], []
    for seed in range(1, repeats + 1):
        ours.append(solve_with_launcher(overrides, seed, max_wall_s))
        if baseline:
            base.append(solve_with_baseline(seed, max_wall_s))
    out: dict[str, Any] = {
        "cartpole_wallclock_s": statistics.median(r["wall_s"] for r in ours),
        "cartpole_process_s": statistics.median(r["process_s"] for r in ours),
        "cartpole_process_to_solve_s": statistics.median(r["process_to_solve_s"] for r in ours),
        "cartpole_env_steps_to_solve": statistics.median(r["env_steps"] for r in ours),
        "cartpole_updates_to_solve": statistics.median(r["learner_updates"] for r in ours),
        "cartpole_solved_runs": sum(r["solved"] for r in ours),
        "cartpole_runs": len(ours),
        "cartpole_per_seed": ours,
    }
    if base:
        out.update(
            {
                "baseline_wallclock_s": statistics.median(r["wall_s"] for r in base),
                "baseline_process_to_solve_s": statistics.median(
                    r["process_to_solve_s"] for r in base
                ),
                "baseline_env_steps_to_solve": statistics.median(r["env_steps"] for r in base),
                "baseline_solved_runs": sum(r["solved"] for r in base),
                "baseline_runs": len(base),
                "baseline_per_seed": base,
            }
        )
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("overrides", nargs="*", help="Hydra overrides applied to every learner.main run")
    p.add_argument("--duration-s", type=float, default=60.0, help="wall time of each mode run")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--versions", type=int, default=30)
    p.add_argument("--publish-interval-s", type=float, default=1.0)
    p.add_argument("--cartpole-max-s", type=float, default=900.0)
    p.add_argument("--skip-modes", action="store_true")
    p.add_argument("--skip-propagation", action="store_true")
    p.add_argument("--skip-cartpole", action="store_true")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--baseline-json", help="reuse figures from bench/single_process_dqn.py --json")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()

    result: dict[str, Any] = {
        "overrides": args.overrides,
        "cpu_count": os.cpu_count(),
        "load_average_1m_at_start": os.getloadavg()[0],
    }

    def part(name: str, fn: Any) -> None:
        """Run one part; a failure is recorded (and printed) and the other parts still run."""
        print(f"{name} ...", flush=True)
        try:
            result.update(fn())
        except Exception as exc:
            result[f"{name.replace(' ', '_')}_error"] = repr(exc)[:2000]
            print(f"  {name} FAILED: {exc!r}"[:2000], flush=True)

    if not args.skip_modes:
        part("async vs sync", lambda: bench_modes(args.overrides, args.duration_s, args.repeats))
    if not args.skip_propagation:
        part(
            "weight propagation",
            lambda: bench_propagation(args.overrides, args.versions, args.publish_interval_s),
        )
    if not args.skip_cartpole:
        with_baseline = not (args.skip_baseline or args.baseline_json)
        part(
            "cartpole",
            lambda: bench_cartpole(
                args.overrides, args.repeats, args.cartpole_max_s, baseline=with_baseline
            ),
        )
    if args.baseline_json:
        prior = json.loads(Path(args.baseline_json).read_text())
        result.update(
            {k: v for k, v in prior.items() if k.startswith("baseline_") and k != "baseline_traces"}
        )
    result["load_average_1m_at_end"] = os.getloadavg()[0]
    if "cartpole_wallclock_s" in result and "baseline_wallclock_s" in result:
        result["cartpole_vs_baseline_ratio"] = (
            result["cartpole_wallclock_s"] / result["baseline_wallclock_s"]
        )
        result["cartpole_vs_baseline_process_ratio"] = (
            result["cartpole_process_to_solve_s"] / result["baseline_process_to_solve_s"]
        )
        # the same seeds ran back to back: the median of per-seed ratios, load paired
        pairs = zip(result["cartpole_per_seed"], result.get("baseline_per_seed", []), strict=False)
        per_seed = [o["wall_s"] / b["wall_s"] for o, b in pairs]
        if per_seed:
            result["cartpole_vs_baseline_paired_ratio_median"] = statistics.median(per_seed)
        # a capped (unsolved) run makes its wall-clock a lower bound, not a figure
        result["cartpole_ratio_all_solved"] = result.get("cartpole_solved_runs") == result.get(
            "cartpole_runs"
        ) and result.get("baseline_solved_runs") == result.get("baseline_runs")

    targets = {
        "async_sync_steps_ratio": (">=", 1.5),
        "learner_wait_fraction": ("<", 0.05),
        "weight_propagation_p99_s": ("<=", 1.0),
        "cartpole_vs_baseline_ratio": ("<=", 0.5),
        "cartpole_vs_baseline_process_ratio": ("<=", 0.5),
    }
    print()
    print(f"{'figure':<34} {'value':>14}  target")
    for key, value in result.items():
        if isinstance(value, bool | int | float) and key != "cpu_count":
            target = targets.get(key)
            mark = ""
            if target:
                op, bound = target
                ok = {"<=": value <= bound, ">=": value >= bound, "<": value < bound}[op]
                mark = f"{op} {bound}  {'met' if ok else 'MISSED'}"
            print(f"{key:<34} {value:>14,.3f}  {mark}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
