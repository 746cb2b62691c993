"""Replay throughput: inserts and prioritized samples per second, next to raw Redis.

    python bench/replay_throughput.py [--repeats 3] [--json PATH] [--cases tetris,atari]

For a Tetris-size transition (~0.5 KB record) and an Atari-size one (84x84x4 uint8 obs
and next_obs, ~56 KB), measured against one private ``redis-server`` started here:

* insert transitions/s with 1 and 2 writer *processes* (chunks of ``chunk_size``,
  ``max_pending_chunks`` chunks per pipelined MULTI/EXEC), start-to-flush wall clock;
* prioritized sample transitions/s, batch 512, decoded to numpy (index built first);
* the peer, in the same run against the same server: ``redis-benchmark -t set,get
  -d <bytes> -P 16 -c <writers>`` where ``<bytes>`` is our chunk size in bytes: SET is
  compared with inserts, GET (same value size, one client) with samples.

Figures are medians over ``--repeats``; ratios compare payload bytes/s (record bytes
times transitions/s) with the peer's value bytes/s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from replay import ReplayClient, TableConfig, TransitionSpec  # noqa: E402
from replay.embedded import EmbeddedRedis  # noqa: E402

BATCH = 512


@dataclass(frozen=True)
class Case:
    name: str
    obs_shape: tuple[int, ...]
    chunk_size: int
    per_writer: int  # transitions each writer inserts per repeat
    capacity: int
    sample_batches: int

    @property
    def spec(self) -> TransitionSpec:
        return TransitionSpec.standard(self.obs_shape, np.uint8)


CASES = {
    # 236-byte observation: obs + next_obs + the standard columns = 512-byte records.
    "tetris": Case(
        "tetris", (236,), chunk_size=256, per_writer=200_000, capacity=400_000, sample_batches=200
    ),
    "atari": Case(
        "atari", (84, 84, 4), chunk_size=16, per_writer=4_000, capacity=6_000, sample_batches=10
    ),
}


def _writer_proc(url: str, ns: str, case_name: str, go: mp.Event, out: mp.Queue) -> None:
    case = CASES[case_name]
    client = ReplayClient(url, namespace=ns)
    spec = case.spec
    rng = np.random.default_rng(0)
    n = case.chunk_size * 8
    batch = spec.empty_batch(n)
    batch["obs"][:] = rng.integers(0, 255, size=batch["obs"].shape, dtype=np.uint8)
    batch["next_obs"][:] = rng.integers(0, 255, size=batch["next_obs"].shape, dtype=np.uint8)
    prio = rng.random(n).astype(np.float32) + 0.1
    writer = client.writer("replay", chunk_size=case.chunk_size, max_pending_chunks=16)
    go.wait()
    t0 = time.perf_counter()
    for _ in range(case.per_writer // n):
        writer.append(batch, prio)
    writer.flush()
    t1 = time.perf_counter()
    out.put((t0, t1, writer.transitions_sent))


def measure_insert(url: str, case: Case, writers: int) -> tuple[float, str]:
    ns = f"bench-{uuid.uuid4().hex[:8]}"
    client = ReplayClient(url, namespace=ns)
    client.create_table(TableConfig("replay", capacity=case.capacity), case.spec)
    ctx = mp.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_writer_proc, args=(url, ns, case.name, go, out)) for _ in range(writers)
    ]
    for p in procs:
        p.start()
    time.sleep(0.5)  # let every writer connect and build its batch
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    start = min(r[0] for r in results)
    end = max(r[1] for r in results)
    sent = sum(r[2] for r in results)
    return sent / (end - start), ns


def measure_sample(url: str, ns: str, case: Case) -> float:
    client = ReplayClient(url, namespace=ns)
    sampler = client.sampler("replay", prioritized=True, alpha=0.6, beta=0.4, seed=0)
    for _ in range(3):
        sampler.sample(BATCH)  # warm up
    t0 = time.perf_counter()
    for _ in range(case.sample_batches):
        sb = sampler.sample(BATCH)
    dt = time.perf_counter() - t0
    assert sb.data["obs"].shape == (BATCH, *case.obs_shape)
    sampler.close()
    client.delete_table("replay")
    return case.sample_batches * BATCH / dt


def redis_benchmark(port: int, nbytes: int, clients: int, password: str = "") -> dict[str, float]:
    """Requests/s of redis-benchmark SET and GET with ``nbytes`` values."""
    n = max(200, min(20_000, int(0.75e9 / nbytes)))
    cmd = ["redis-benchmark", "-p", str(port), "-t", "set,get", "-d", str(nbytes), "-n", str(n),
           "-P", "16", "-c", str(clients), "-q"]  # fmt: skip
    if password:  # the embedded server's random password (redis-benchmark has no env for it)
        cmd += ["-a", password]
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True).stdout
    out = {}
    for name in ("SET", "GET"):
        found = re.findall(rf"{name}: ([0-9.]+) requests per second", text.replace("\r", "\n"))
        if not found:
            raise RuntimeError(f"could not parse redis-benchmark output: {text!r}")
        out[name] = float(found[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cases", default="tetris,atari")
    ap.add_argument("--json", type=Path, default=None, help="write the figures as one JSON object")
    args = ap.parse_args()
    figures: dict[str, float | int | str] = {"load_avg_1m_start": os.getloadavg()[0]}
    rows = []
    with EmbeddedRedis() as server:
        figures["redis_version"] = subprocess.run(
            [server.binary, "--version"], capture_output=True, text=True
        ).stdout.split()[2]
        for name in args.cases.split(","):
            case = CASES[name]
            rec = case.spec.record_size
            chunk_bytes = case.chunk_size * rec
            ins: dict[int, list[float]] = {1: [], 2: []}
            smp: list[float] = []
            raw_set: dict[int, list[float]] = {1: [], 2: []}
            raw_get: list[float] = []
            for _ in range(args.repeats):
                for w in (1, 2):
                    rate, ns = measure_insert(server.url, case, w)
                    ins[w].append(rate)
                    if w == 1:
                        smp.append(measure_sample(server.url, ns, case))
                    else:
                        ReplayClient(server.url, namespace=ns).delete_table("replay")
                    peer = redis_benchmark(server.port, chunk_bytes, w, server.password)
                    raw_set[w].append(peer["SET"] * chunk_bytes)
                    if w == 1:
                        raw_get.append(peer["GET"] * chunk_bytes)
                server.stop()  # a clean server for the next repeat (frees memory)
                server.start()
            med = statistics.median
            p = name
            figures[f"{p}_record_bytes"] = rec
            figures[f"{p}_chunk_size"] = case.chunk_size
            figures[f"{p}_chunk_bytes"] = chunk_bytes
            for w in (1, 2):
                figures[f"{p}_insert_per_s_{w}w"] = med(ins[w])
                figures[f"{p}_insert_bytes_per_s_{w}w"] = med(ins[w]) * rec
                figures[f"{p}_raw_set_bytes_per_s_{w}c"] = med(raw_set[w])
                figures[f"{p}_insert_ratio_to_raw_set_{w}w"] = med(ins[w]) * rec / med(raw_set[w])
                rows.append(
                    (f"{p} insert", f"{w} writer(s)", f"{rec} B", f"{chunk_bytes / 1e3:.0f} KB",
                     f"{med(ins[w]):,.0f}", f"{med(ins[w]) * rec / 1e6:,.0f}",
                     f"{med(raw_set[w]) / 1e6:,.0f}", f"{med(ins[w]) * rec / med(raw_set[w]):.0%}")
                )  # fmt: skip
            figures[f"{p}_sample_per_s"] = med(smp)
            figures[f"{p}_sample_bytes_per_s"] = med(smp) * rec
            figures[f"{p}_raw_get_bytes_per_s"] = med(raw_get)
            figures[f"{p}_sample_ratio_to_raw_get"] = med(smp) * rec / med(raw_get)
            rows.append(
                (f"{p} sample (prio, b={BATCH})", "1 sampler", f"{rec} B", f"{chunk_bytes / 1e3:.0f} KB",
                 f"{med(smp):,.0f}", f"{med(smp) * rec / 1e6:,.0f}", f"{med(raw_get) / 1e6:,.0f}",
                 f"{med(smp) * rec / med(raw_get):.0%}")
            )  # fmt: skip
    figures["repeats"] = args.repeats
    figures["load_avg_1m_end"] = os.getloadavg()[0]
    header = ("what", "procs", "record", "msg", "transitions/s", "MB/s", "raw MB/s", "vs raw")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print(
            "  ".join(
                str(c).rjust(wd) if i >= 4 else str(c).ljust(wd)
                for i, (c, wd) in enumerate(zip(r, widths, strict=True))
            )
        )
    print(
        f"(medians of {args.repeats}; raw = redis-benchmark -P 16 with values of the chunk size "
        "(msg): SET next to inserts, GET next to samples)"
    )
    print(
        f"load average (1 min) at start {figures['load_avg_1m_start']:.1f}, "
        f"at end {figures['load_avg_1m_end']:.1f} on {os.cpu_count()} CPUs"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
