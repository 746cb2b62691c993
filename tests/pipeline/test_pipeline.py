"""End-to-end runs of ``learner.main.run`` on a real Redis and a real Ray."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import redis

from learner.checkpoint import list_checkpoints
from learner.main import run
from replay.weights import WeightStore
from tests.pipeline.helpers import RunThread

pytestmark = pytest.mark.usefixtures("ray_session")

TAG = "CartPole-v1-mlp_dueling"
SYNC = (
    "mode=sync",
    "budget.env_steps=1500",
    "learner.sync_steps_per_phase=250",
    "learner.sync_updates_per_step=0.25",
    "env.eval_episodes=3",
)


def test_sync_runs_are_bit_for_bit_reproducible_and_resume_keeps_versions_monotonic(
    run_cfg, tmp_path: Path, redis_url: str
) -> None:
    runs = tmp_path / "runs" / "today"  # like Hydra's runs/<date>/<time>
    a = run(run_cfg(*SYNC, ns=f"{os.getpid()}-a"), runs / "a")
    b = run(run_cfg(*SYNC, ns=f"{os.getpid()}-b"), runs / "b")
    c = run(run_cfg(*SYNC, "seed=1", ns=f"{os.getpid()}-c"), tmp_path / "elsewhere" / "x" / "c")
    assert a["stop_reason"].startswith("env step budget")
    assert a["learner_updates"] > 200
    assert a["weights_sha256"] == b["weights_sha256"]
    assert a["final_version"] == b["final_version"]
    assert a["weights_sha256"] != c["weights_sha256"]
    # The run dir holds the metrics, the summary and a checkpoint without pickle.
    assert (runs / "a" / "metrics.jsonl").stat().st_size > 0
    assert json.loads((runs / "a" / "summary.json").read_text())["weights_sha256"]
    (ckpt,) = list_checkpoints(runs / "a" / "checkpoints")
    assert {p.name for p in ckpt.iterdir()} == {"state.safetensors", "state.json", "config.yaml"}

    # learner.resume=true picks the newest checkpoint of the tag under runs/ (a's or
    # b's: identical) and continues into an empty store (as if Redis lost everything):
    # training continues from its counters and versions never go back.
    ns = f"{os.getpid()}-resume"
    resumed = run(
        run_cfg(*SYNC, "budget.env_steps=2000", "learner.resume=true", ns=ns), runs / "resumed"
    )
    assert resumed["learner_updates"] > a["learner_updates"]
    assert resumed["env_steps"] >= 2000
    versions = WeightStore(redis_url, ns).versions(TAG)
    assert min(versions) == a["final_version"] + 1
    assert resumed["final_version"] == max(versions)


@pytest.mark.slow
def test_async_run_learns_cartpole_within_a_step_budget(run_cfg, tmp_path: Path) -> None:
    cfg = run_cfg(
        "actors.num=2",
        "seed=3",
        "replay.samples_per_insert=8",
        "replay.error_buffer=2000",
        "replay.min_size_to_sample=1000",
        "budget.env_steps=60000",
        "budget.wall_time_s=240",
        "budget.target_eval_return=150",
        "learner.eval_interval_s=3",
    )
    summary = run(cfg, tmp_path)
    assert summary["stop_reason"] == "target eval return 150.0 reached", summary
    assert summary["best_eval_mean_return"] >= 150
    assert summary["env_steps"] <= 60000 + 5000


def test_run_survives_a_redis_restart(run_cfg, tmp_path: Path, redis_server, namespace) -> None:
    cfg = run_cfg("budget.env_steps=6000", "learner.publish_interval_updates=10")
    store = WeightStore(redis_server.url, namespace)
    runner = RunThread(cfg, tmp_path)
    runner.start()
    deadline = time.monotonic() + 60
    while (store.latest_version(TAG) or 0) < 3:
        assert time.monotonic() < deadline, "the run never published 3 versions"
        assert runner.is_alive(), runner.error
        time.sleep(0.2)
    before = store.latest_version(TAG)
    redis_server.restart(down_s=0.5)  # every key is gone: replay, weights, actor state
    summary = runner.result(timeout_s=150)
    assert summary["stop_reason"].startswith("env step budget"), summary
    assert summary["final_version"] > before
    assert store.latest_version(TAG) == summary["final_version"]
    # The replay was re-created on the empty server and filled again after the restart.
    from replay import ReplayClient

    assert ReplayClient(redis_server.url, namespace).state("replay")["inserts"] > 0


def test_killed_actor_is_restarted_and_the_run_finishes(
    run_cfg, tmp_path: Path, redis_url, namespace
) -> None:
    cfg = run_cfg("budget.env_steps=8000", "actors.max_restarts=2")
    runner = RunThread(cfg, tmp_path)
    runner.start()
    r = redis.Redis.from_url(redis_url)
    key = f"fsrl:{namespace}:actors:0"
    deadline = time.monotonic() + 60
    while int(r.hget(key, "env_steps") or 0) < 500:
        assert time.monotonic() < deadline, "actor 0 never reported 500 env steps"
        assert runner.is_alive(), runner.error
        time.sleep(0.1)
    pid = int(r.hget(key, "pid"))
    os.kill(pid, signal.SIGKILL)
    summary = runner.result(timeout_s=150)
    assert summary["stop_reason"].startswith("env step budget"), summary
    assert summary["actor_restarts"] >= 1
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
