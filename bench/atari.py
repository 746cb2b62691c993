"""Atari benchmark: replay bytes per transition, and Pong env steps/s and learner updates/s
of ``python -m learner.main experiment=atari`` against CleanRL's ``dqn_atari`` settings
run here beside it (``bench/single_process_dqn_atari.py``).

Parts (each can be skipped):

1. ``storage`` — bytes per transition of real Pong transitions (random actions, the
   preset's env and 3-step folding): the record size as the agent's columns come
   (``obs`` + ``next_obs``, 8 frames) and with ``replay/frames.py`` (7 frames at n = 3,
   5 at n = 1), and what Redis really holds (``MEMORY USAGE`` of the chunk keys over a
   private redis-server, so allocator rounding counts) at the default chunk size 64 and at
   the preset's 53; plus zlib level 1 on each record alone (what a variable-length
   record could hold), for the trade-off in the docs.
2. ``peer`` — the CleanRL-settings single-process DQN: env steps/s and updates/s over
   ``--window-s`` after a 2,000-step warm-up (changes from CleanRL listed in its docstring).
3. ``ours`` — ``learner.main experiment=atari mode=async`` (2 actors x 4 envs, the
   learner, Redis) with ``replay.min_size_to_sample=2000`` (the shortened warm-up) and
   ``replay.capacity=20000`` (the peer's buffer): env steps/s and updates/s over the
   ``metrics.jsonl`` rows from the first update on, at least ``--window-s`` long.
4. ``updates`` — updates/s of each learner alone on the same random uint8 batches of 32
   (ours: double Q, dueling heads, n-step targets, importance weights; the peer: plain DQN).

Both sides run torch with one thread per process (the 2-core box is shared; two threads
there oversubscribe). One run each; load averages are recorded around every part.

    python bench/atari.py --json /tmp/atari.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after ROOT: a bench script must not shadow a package

import conf  # noqa: E402
from actors.envs import VectorStepper, make_vector_env  # noqa: E402
from actors.nstep import NStepFolder  # noqa: E402
from actors.spec import build_agent, frame_layout, table_spec  # noqa: E402
from replay import ReplayClient, TableConfig  # noqa: E402
from replay.embedded import EmbeddedRedis  # noqa: E402

QUIET = ["logging.console=false", "logging.tensorboard=false"]


def load() -> float:
    return round(os.getloadavg()[0], 2)


def pong_transitions(env_id: str, n_step: int, steps: int) -> tuple[Any, dict[str, np.ndarray]]:
    """(config, standard columns) of ``steps`` x 2 envs of random play, folded n-step."""
    cfg = conf.load_config(["experiment=atari", f"env.id={env_id}", f"algo.n_step={n_step}"])
    agent = build_agent(cfg)
    stepper = VectorStepper(make_vector_env(cfg.env, 2, seed=5), seed=5)
    folder = NStepFolder(2, agent.n_step, agent.gamma)
    rng = np.random.default_rng(5)
    obs = stepper.reset()
    parts: list[dict[str, np.ndarray]] = []
    for _ in range(steps):
        action = rng.integers(0, 6, 2)
        step = stepper.step(action)
        pv = {"policy_version": np.zeros(2, np.int64)}
        args = (step.reward, step.terminated, step.truncated, step.next_obs)
        out = folder.step(obs, action, *args, extras=pv)
        obs = step.obs
        if len(out["reward"]):
            out.pop("env_index", None)
            out["actor_id"] = np.zeros(len(out["reward"]), np.int32)
            parts.append(out)
    stepper.close()
    return cfg, {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def redis_bytes(client: ReplayClient, table: str) -> int:
    keys = list(client.redis.scan_iter(match=client.table_keys(table).chunk_prefix + "*"))
    return sum(int(client.redis.memory_usage(k)) for k in keys)


def storage(env_id: str, steps: int) -> dict[str, Any]:
    out: dict[str, Any] = {"load_before": load()}
    with EmbeddedRedis() as server:
        client = ReplayClient(server.url, namespace="bench-atari")
        for n_step in (3, 1):
            cfg, batch = pong_transitions(env_id, n_step, steps)
            agent = build_agent(cfg)
            layout = frame_layout(agent, cfg.env)
            assert layout is not None
            packed = layout.pack(batch)
            rows = len(batch["reward"])
            row: dict[str, Any] = {"transitions": rows}
            for name, spec, cols in (
                ("plain", agent.transition_spec(), batch),
                ("frames_once", table_spec(agent, cfg.env), packed),
            ):
                row[f"{name}_record_bytes"] = spec.record_size
                records = np.zeros(rows, spec.record_dtype)
                for field in spec.names:
                    records[field] = cols[field]
                packed_sizes = [len(zlib.compress(r.tobytes(), 1)) for r in records]
                row[f"{name}_zlib1_record_bytes"] = round(float(np.mean(packed_sizes)))
                for chunk in (64, 53):
                    table = f"{name}-{n_step}-{chunk}"
                    client.create_table(TableConfig(table, capacity=10 * rows), spec)
                    with client.writer(table, chunk_size=chunk) as writer:
                        writer.append(cols)
                    row[f"{name}_redis_bytes_chunk{chunk}"] = round(
                        redis_bytes(client, table) / rows
                    )
            out[f"n_step_{n_step}"] = row
        client.close()
    out["load_after"] = load()
    return out


def peer(env_id: str, window_s: float) -> dict[str, Any]:
    from single_process_dqn_atari import Hyper, run

    before = load()
    result = run(env_id, Hyper(), window_s, threads=1)
    return {**result, "load_before": before, "load_after": load()}


def ours(env_id: str, window_s: float, timeout_s: float) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix="fsrl-bench-atari-"))
    overrides = [
        "experiment=atari", f"env.id={env_id}", "mode=async", "seed=1",
        "replay.min_size_to_sample=2000", "replay.capacity=20000",
        "budget.env_steps=null", f"budget.wall_time_s={window_s + 120}",
        "budget.target_eval_return=null", "learner.eval_interval_s=0",
        "env.eval_episodes=1", "env.max_episode_steps=1000",
        "learner.torch_threads=1", "actors.torch_threads=1",
        *QUIET, f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    cmd = [sys.executable, "-m", "learner.main", *overrides]
    print("  $", " ".join(cmd[1:]), flush=True)
    before = load()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"learner.main failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    shutil.rmtree(run_dir, ignore_errors=True)
    rows = [r for r in rows if (r.get("charts/learner_updates") or 0) > 0]
    first, last = rows[0], rows[-1]
    dt = last["time"] - first["time"]
    return {
        "env_steps_per_s": (last["charts/env_steps"] - first["charts/env_steps"]) / dt,
        "updates_per_s": (last["charts/learner_updates"] - first["charts/learner_updates"]) / dt,
        "window_s": round(dt, 2),
        "warmup_s": round(first["time"] - summary["start_unix_s"], 2),
        "summary": {k: summary[k] for k in ("env_steps", "learner_updates", "stop_reason")},
        "overrides": overrides[:-1],
        "load_before": before,
        "load_after": load(),
    }


def updates_alone(env_id: str, seconds: float) -> dict[str, Any]:
    import torch
    from single_process_dqn_atari import nature_cnn, q_of

    torch.set_num_threads(1)
    cfg = conf.load_config(["experiment=atari", f"env.id={env_id}"])
    agent = build_agent(cfg)
    rng = np.random.default_rng(0)
    spec = agent.transition_spec()
    batches = []
    for _ in range(8):
        b = spec.empty_batch(32)
        b["obs"][:] = rng.integers(0, 256, b["obs"].shape, dtype=np.uint8)
        b["next_obs"][:] = rng.integers(0, 256, b["next_obs"].shape, dtype=np.uint8)
        b["action"][:] = rng.integers(0, 6, 32)
        b["discount"][:] = 0.99**3
        batches.append(b)
    learner = agent.learner(torch.device("cpu"), 0)
    weights = np.ones(32, np.float32)

    def ours_step(i: int) -> None:
        learner.update(learner.prepare(batches[i % 8], weights))

    q, target = nature_cnn(6), nature_cnn(6)
    opt = torch.optim.Adam(q.parameters(), lr=1e-4)

    def peer_step(i: int) -> None:
        b = batches[i % 8]
        with torch.no_grad():
            y = torch.as_tensor(b["reward"]) + 0.99 * q_of(target, b["next_obs"]).max(1).values
        act = torch.as_tensor(b["action"])[:, None]
        loss = torch.nn.functional.mse_loss(q_of(q, b["obs"]).gather(1, act)[:, 0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    out: dict[str, Any] = {"load_before": load()}
    for name, fn in (("peer", peer_step), ("ours", ours_step), ("peer_again", peer_step)):
        fn(0)
        t0, i = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            i += 1
            fn(i)
        out[f"{name}_updates_per_s"] = i / (time.perf_counter() - t0)
    out["load_after"] = load()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env-id", default="ALE/Pong-v5")
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--storage-steps", type=int, default=400)
    parser.add_argument("--updates-s", type=float, default=15.0)
    parser.add_argument("--skip", nargs="*", default=[], help="storage peer ours updates")
    parser.add_argument("--json", type=str, default=None, help="write the figures here")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "env_id": args.env_id,
        "cpus": os.cpu_count(),
    }
    parts = {
        "storage": lambda: storage(args.env_id, args.storage_steps),
        "peer": lambda: peer(args.env_id, args.window_s),
        "ours": lambda: ours(args.env_id, args.window_s, timeout_s=args.window_s + 420),
        "updates": lambda: updates_alone(args.env_id, args.updates_s),
    }
    for name, fn in parts.items():
        if name in args.skip:
            continue
        print(f"== {name} (load {load()})", flush=True)
        result[name] = fn()
        print(json.dumps(result[name], indent=1), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
