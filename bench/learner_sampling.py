"""Learner updates/s by where sampling runs: nowhere, inline, in a thread, in a process.

One learner, no actors: a table of CartPole-shaped transitions in a private Redis,
the default DQN (128-128 dueling MLP, batch 128) on CPU, and for ``--duration-s`` each:

* ``alone``: updates on one pre-sampled batch (the update's own cost);
* ``inline``: sample a batch, update, write its priorities back, in one thread (sync mode);
* ``thread``: :class:`learner.prefetch.Prefetcher`, the sampler in a thread of the learner;
* ``process``: :class:`learner.prefetch.ProcessPrefetcher`, the sampler in a child process.

Modes alternate round by round (``--repeats``), medians reported, so all see the same
machine. ``process / thread`` is the figure behind ``learner.sampler_process=true``.

    python bench/learner_sampling.py --repeats 3 --json out/learner_sampling.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.dqn.learner import DQN, TorchBatch  # noqa: E402
from conf import load_config  # noqa: E402
from learner.prefetch import Prefetcher, ProcessPrefetcher  # noqa: E402
from replay import ReplayClient, TableConfig, TransitionSpec  # noqa: E402
from replay.embedded import EmbeddedRedis  # noqa: E402

MODES = ("alone", "inline", "thread", "process")


def fill(client: ReplayClient, n: int, seed: int = 0) -> None:
    """``n`` random CartPole-shaped transitions with random priorities."""
    spec = TransitionSpec.standard((4,), np.float32)
    client.create_table(TableConfig("replay", capacity=100_000), spec)
    rng = np.random.default_rng(seed)
    with client.writer("replay", chunk_size=64) as w:
        for _ in range(n // 64):
            b = spec.empty_batch(64)
            b["obs"][:] = rng.normal(size=(64, 4))
            b["next_obs"][:] = rng.normal(size=(64, 4))
            b["action"][:] = rng.integers(0, 2, 64)
            b["reward"][:] = 1.0
            b["discount"][:] = 0.97
            w.append(b, rng.random(64) + 0.1)
        w.flush(timeout_ms=5000)


def measure(mode: str, client: ReplayClient, dqn: DQN, batch: int, depth: int, dur: float) -> dict:
    """Updates/s (and the learner's wait fraction) of one mode for ``dur`` seconds."""
    cpu = torch.device("cpu")
    prepare = dqn.prepare
    sampler = client.sampler("replay", seed=0)
    n, wait = 0, float("nan")
    try:
        if mode == "alone":
            sb = sampler.sample(batch)
            tb = TorchBatch.from_numpy(sb.data, sb.weights, cpu)
            t0 = time.monotonic()
            while time.monotonic() - t0 < dur:
                dqn.update(tb)
                n += 1
        elif mode == "inline":
            t0 = time.monotonic()
            while time.monotonic() - t0 < dur:
                sb = sampler.sample(batch)
                prio, _ = dqn.update(TorchBatch.from_numpy(sb.data, sb.weights, cpu))
                sampler.update_priorities(sb.ids, prio)
                n += 1
        else:
            pf: Any = (
                Prefetcher(sampler, batch, depth, prepare)
                if mode == "thread"
                else ProcessPrefetcher(client, "replay", batch, depth, prepare, {}, seed=0)
            )
            pf.start()
            try:
                while pf.get(30.0) is None:  # the child's start-up is not measured
                    pass
                pf.reset_wait()
                t0 = time.monotonic()
                while time.monotonic() - t0 < dur:
                    item = pf.get(1.0)
                    if item is None:
                        continue
                    prio, _ = dqn.update(item.batch)
                    pf.update_priorities(item.ids, prio)
                    n += 1
                wait = pf.wait_fraction
            finally:
                pf.stop()
        elapsed = time.monotonic() - t0
    finally:
        sampler.close()
    return {"updates_per_s": n / elapsed, "ms_per_update": 1e3 * elapsed / n, "wait": wait}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--duration-s", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--transitions", type=int, default=51_200)
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args()
    torch.set_num_threads(1)
    cfg = load_config([])
    runs: dict[str, list[dict]] = {m: [] for m in MODES}
    with EmbeddedRedis() as server:
        client = ReplayClient(server.url, namespace="bench-learner-sampling")
        fill(client, a.transitions)
        space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        dqn = DQN(cfg.model, cfg.algo, space, 2, torch.device("cpu"), seed=0)
        for r in range(a.repeats):
            for mode in MODES:
                got = measure(
                    mode,
                    client,
                    dqn,
                    int(cfg.algo.batch_size),
                    int(cfg.learner.prefetch_batches),
                    a.duration_s,
                )
                runs[mode].append(got)
                print(
                    f"  round {r + 1} {mode:>8}: {got['updates_per_s']:7.1f} updates/s", flush=True
                )
        client.close()
    result: dict[str, Any] = {
        "batch_size": int(cfg.algo.batch_size),
        "prefetch_batches": int(cfg.learner.prefetch_batches),
        "duration_s": a.duration_s,
        "repeats": a.repeats,
    }
    for mode in MODES:
        result[f"updates_per_s_{mode}"] = statistics.median(x["updates_per_s"] for x in runs[mode])
        result[f"ms_per_update_{mode}"] = statistics.median(x["ms_per_update"] for x in runs[mode])
    for mode in ("thread", "process"):
        result[f"learner_wait_fraction_{mode}"] = statistics.median(x["wait"] for x in runs[mode])
    result["process_thread_updates_ratio"] = (
        result["updates_per_s_process"] / result["updates_per_s_thread"]
    )
    result["process_alone_updates_ratio"] = (
        result["updates_per_s_process"] / result["updates_per_s_alone"]
    )
    print()
    print(f"{'sampling':>10} {'updates/s':>10} {'ms/update':>10} {'learner wait':>13}")
    for mode in MODES:
        w = result.get(f"learner_wait_fraction_{mode}")
        wtxt = f"{100 * w:12.1f}%" if w is not None else f"{'':>13}"
        print(
            f"{mode:>10} {result[f'updates_per_s_{mode}']:10.1f} "
            f"{result[f'ms_per_update_{mode}']:10.2f} {wtxt}"
        )
    print(f"process / thread updates/s: {result['process_thread_updates_ratio']:.2f}x")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
