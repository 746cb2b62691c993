"""The Ray wrapper: an actor killed mid-run is restarted by Ray and keeps writing."""

from __future__ import annotations

import time

import pytest
import redis

from actors.remote import create_remote_actor
from actors.reporting import life_key, status_key
from actors.spec import ActorSpec

TAG = "cartpole-test"


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@pytest.mark.slow
def test_killed_actor_is_restarted_and_continues_writing(
    ray_session, make_cfg, replay_table, redis_url, namespace
) -> None:
    import ray

    cfg = make_cfg(
        "actors.max_restarts=2",
        "actors.heartbeat_interval_s=0.2",
        "actors.num_cpus_per_actor=0.5",
    )
    client = replay_table(cfg, capacity=200_000)
    r = redis.Redis.from_url(redis_url)
    handle = create_remote_actor(ActorSpec.from_config(cfg, 0, redis_url, namespace, TAG))
    try:
        run_ref = handle.run.remote()
        wait_for(lambda: client.size("replay") > 500, 60, "the first transitions")
        # the step count survives a crash as of the last heartbeat: wait for one mid-run
        wait_for(
            lambda: int(r.hget(life_key(namespace, 0), "env_steps") or 0) > 0, 30, "a heartbeat"
        )
        pid_before = int(r.hget(status_key(namespace, 0), "pid"))
        assert ray.get(handle.stats.remote(), timeout=30)["transitions"] > 0  # answers mid-run

        ray.kill(handle, no_restart=False)
        size_at_kill = client.size("replay")
        wait_for(
            lambda: int(r.hget(life_key(namespace, 0), "restarts") or 0) == 1,
            60,
            "Ray to restart the actor",
        )
        wait_for(
            lambda: client.size("replay") > size_at_kill + 1_000, 60, "writes after the restart"
        )
        status = r.hgetall(status_key(namespace, 0))
        assert int(status[b"pid"]) != pid_before and int(status[b"restarts"]) == 1
        assert status[b"running"] == b"1"  # run() was retried on the new incarnation

        ray.get(handle.stop.remote(), timeout=30)
        stats = ray.get(run_ref, timeout=30)
        assert stats["restarts"] == 1
        assert stats["env_steps_total"] > stats["env_steps"] > 0  # budget counts both lives
    finally:
        ray.kill(handle, no_restart=True)
        r.close()
