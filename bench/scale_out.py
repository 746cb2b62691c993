"""Scale-out benchmark: env steps/s and learner updates/s with 1, 2 and 4 worker hosts.

Each point is a fresh multi-host cluster on Docker networks (tests/e2e/cluster.py: Redis,
a Ray head running ``python -m learner.main`` with the learner, N worker hosts), every
worker host given the same CPU quota (``docker run --cpus``) and one Ray CPU, with one
actor per host (``actors.num=N``, ``actors.num_cpus_per_actor=1``), CartPole, no target,
``budget.wall_time_s`` of training. The rate limiter is off by default
(``replay.samples_per_insert=0``) so the actors are bound by their own hosts, not by the
learner; ``--spi 8`` measures the shipped setting instead.

Rates are medians over the steady part of ``metrics.jsonl`` (dumps after the first env
steps, the first ``--warmup-s`` dropped). The ideal line is N x the 1-host rate;
efficiency = rate(N) / (N x rate(1)).

    python bench/scale_out.py --json /tmp/scale_out.json                 # 1, 2, 4 hosts
    python bench/scale_out.py --hosts 1,2 --seconds 40 --cpus-per-host 0.5

Needs the images of `make images` and a running Docker daemon (fails loudly otherwise).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from cluster import Cluster, docker, require_docker  # noqa: E402


def steady_rates(rows: list[dict[str, Any]], warmup_s: float) -> dict[str, float]:
    """Medians of env steps/s and updates/s over the dumps after warm-up."""
    started = [r for r in rows if r.get("charts/env_steps", 0) > 0 and "charts/wall_time_s" in r]
    if not started:
        started = [r for r in rows if r.get("charts/env_steps", 0) > 0]
    t0 = started[0].get("charts/wall_time_s", 0.0) if started else 0.0
    steady = [
        r for r in started if r.get("charts/wall_time_s", t0 + warmup_s) - t0 >= warmup_s
    ] or started
    if len(steady) > 1:
        steady = steady[:-1]  # the last dump spans the shutdown
    env = [float(r["charts/env_steps_per_s"]) for r in steady if "charts/env_steps_per_s" in r]
    upd = [float(r["charts/updates_per_s"]) for r in steady if "charts/updates_per_s" in r]
    return {
        "env_steps_per_s": statistics.median(env) if env else float("nan"),
        "updates_per_s": statistics.median(upd) if upd else float("nan"),
        "dumps": float(len(steady)),
    }


def measure(hosts: int, args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.monotonic()
    with Cluster(workers=hosts, worker_cpus=1, robot=False) as cluster:
        up_s = time.monotonic() - t0
        # The quota is set once the nodes joined: Ray's start-up under 0.4 CPU takes minutes.
        for i in range(1, hosts + 1):
            docker("update", "--cpus", str(args.cpus_per_host), cluster.cname(f"w{i}"))
        run = cluster.learner(
            f"scale{hosts}",
            f"replay.namespace=scale{hosts}",
            f"actors.num={hosts}",
            "actors.num_cpus_per_actor=1",
            f"replay.samples_per_insert={args.spi}",
            "budget.target_eval_return=null",
            "budget.env_steps=100000000",
            f"budget.wall_time_s={args.seconds}",
            "learner.eval_interval_s=0",
            "logging.interval_s=2",
        )
        rc = run.wait(args.seconds + 300)
        if rc != 0:
            raise RuntimeError(f"{hosts} host(s): learner.main exited {rc}:\n{run.tail()}")
        summary = run.summary()
        rates = steady_rates(run.metrics(), args.warmup_s)
    return {
        "hosts": hosts,
        "cluster_up_s": round(up_s, 1),
        "env_steps": summary["env_steps"],
        "learner_updates": summary["learner_updates"],
        "wall_s": summary["wall_time_s"],
        **rates,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--hosts", default="1,2,4", help="worker host counts, comma separated")
    p.add_argument("--cpus-per-host", type=float, default=0.4, help="docker --cpus per host")
    p.add_argument("--seconds", type=float, default=60.0, help="training wall time per point")
    p.add_argument("--warmup-s", type=float, default=10.0)
    p.add_argument("--spi", type=float, default=0.0, help="replay.samples_per_insert (0: off)")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args(argv)
    require_docker()
    counts = [int(x) for x in args.hosts.split(",")]
    points = []
    for n in counts:
        points.append(measure(n, args))
        print(json.dumps(points[-1]), flush=True)
    base = next((pt for pt in points if pt["hosts"] == 1), points[0])
    per_host = {k: base[k] / base["hosts"] for k in ("env_steps_per_s", "updates_per_s")}
    print(f"{'hosts':>5} {'env steps/s':>12} {'ideal':>8} {'eff':>5} {'updates/s':>10}")
    for pt in points:
        ideal = per_host["env_steps_per_s"] * pt["hosts"]
        pt["ideal_env_steps_per_s"] = ideal
        pt["efficiency"] = pt["env_steps_per_s"] / ideal if ideal else float("nan")
        print(
            f"{pt['hosts']:>5} {pt['env_steps_per_s']:>12.0f} {ideal:>8.0f} "
            f"{pt['efficiency']:>5.2f} {pt['updates_per_s']:>10.1f}"
        )
    result = {"args": {k: str(v) for k, v in vars(args).items()}, "points": points}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
