"""ActorWorker in-process against a real Redis: versions, priorities, weights, episodes, stop."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest
import redis
import torch

from actors.reporting import ACTOR_PROTOCOL_VERSION, HEARTBEAT_EVERY_STEPS
from actors.spec import ActorConfigError, build_agent
from actors.worker import ActorWorker
from agents.dqn.networks import build_q_network
from conf import from_container
from replay import ReplayClient, TableConfig
from replay.keys import RunKeys

TAG = "cartpole-test"  # the tag the `publish` fixture (conftest.py) writes to


def sample_all(client, n: int = 4096):
    sampler = client.sampler("replay", prioritized=False, seed=0)
    return sampler.sample(n, timeout_ms=2_000).data


def test_transitions_carry_the_policy_version_that_acted(
    make_cfg, replay_table, publish, redis_url, namespace
) -> None:
    cfg = make_cfg()
    client = replay_table(cfg)
    v0 = publish(cfg, seed=1)
    worker = ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG)
    try:
        assert worker.policy_version == v0
        first = worker.collect(200)
        assert first["policy_version"] == v0 and first["env_steps"] == 200
        size_v0 = client.size("replay")
        assert size_v0 == first["transitions"] > 150  # all but the open n-step windows
        v1 = publish(cfg, seed=2)
        second = worker.collect(200)
        assert second["policy_version"] == v1 > v0
        data = sample_all(client)
        versions = set(np.unique(data["policy_version"]).tolist())
        assert versions == {v0, v1}
        assert np.all(data["actor_id"] == 0)
        # CartPole pays 1 per step: the folded reward is sum_k gamma^k over n_steps steps.
        gamma = cfg["algo"]["gamma"]
        k = data["n_steps"].astype(np.float64)
        np.testing.assert_allclose(data["reward"], (1 - gamma**k) / (1 - gamma), rtol=1e-5)
        expected_discount = np.where(data["terminated"], 0.0, gamma**k)
        np.testing.assert_allclose(data["discount"], expected_discount, rtol=1e-5)
        assert data["n_steps"].min() >= 1 and data["n_steps"].max() == cfg["algo"]["n_step"]
        stats = worker.stats()
        assert stats["transitions"] == client.size("replay")
        assert set(stats["per_version"]) <= {str(v0), str(v1)}
    finally:
        worker.stop()


def test_initial_priorities_are_td_errors_of_the_local_network(
    make_cfg, replay_table, publish, redis_url, namespace
) -> None:
    cfg = make_cfg()
    client = replay_table(cfg)
    publish(cfg, seed=3)
    worker = ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG)
    try:
        worker.collect(300)
        sampler = client.sampler("replay", prioritized=True, alpha=1.0, priority_eps=0.0, seed=0)
        sb = sampler.sample(256, timeout_ms=2_000)
        d = sb.data
        q = worker._policy.q.q_values(d["obs"]).astype(np.float64)
        q_next = worker._policy.q.q_values(d["next_obs"]).astype(np.float64)
        td = d["reward"] + d["discount"] * q_next.max(1) - q[np.arange(len(q)), d["action"]]
        # With alpha = 1 the draw probability is proportional to the stored priority.
        ratio = sb.probabilities / np.abs(td)
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-3)
    finally:
        worker.stop()


def test_weight_polling_refuses_corrupt_and_misfit_blobs(
    make_cfg, replay_table, publish, redis_url, namespace, caplog
) -> None:
    cfg = make_cfg()
    replay_table(cfg)
    worker = ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG)
    r = redis.Redis.from_url(redis_url)
    try:
        assert worker.policy_version == -1  # nothing published yet: own initial network
        # ... the learner's network seeded with seed * 1_000_003 + actor_id * 10_007
        probe = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
        torch.manual_seed(cfg["seed"] * 1_000_003)
        net = build_q_network(cfg["model"], worker.observation_space, int(worker.action_space.n))
        with torch.no_grad():
            expected = net(torch.from_numpy(probe)).numpy()
        np.testing.assert_allclose(worker._policy.q.q_values(probe), expected, rtol=1e-5, atol=1e-6)
        assert worker.poll_weights() is False
        v0 = publish(cfg, seed=1)
        assert worker.poll_weights() is True and worker.policy_version == v0
        assert worker.poll_weights() is False  # unchanged: one GET, no fetch
        before = worker._policy.q.q_values(probe)

        v1 = publish(cfg, seed=2)
        r.hset(f"fsrl:{namespace}:weights:{TAG}:v:{v1}", "blob", b"\x00garbage")
        assert worker.poll_weights() is False
        assert worker.policy_version == v0 and worker.stats()["weights_refused"] == 1
        assert worker.poll_weights() is False  # the refused version is not fetched again
        assert worker.stats()["weights_refused"] == 1
        np.testing.assert_array_equal(worker._policy.q.q_values(probe), before)  # kept v0

        caplog.set_level(logging.WARNING, logger="actors.worker")
        publish(cfg, seed=3, hidden_sizes=[8])  # sound blob, wrong architecture
        assert worker.poll_weights() is False
        width = cfg["model"]["hidden_sizes"][0]
        assert f"torso.0.weight is [8, 4], the network needs [{width}, 4]" in caplog.text
        np.testing.assert_array_equal(worker._policy.q.q_values(probe), before)
        assert worker.policy_version == v0 and worker.stats()["weights_refused"] == 2

        v3 = publish(cfg, seed=4)
        assert worker.poll_weights() is True and worker.policy_version == v3
        switches = r.xrange(RunKeys(namespace).switches)
        assert [int(f[b"policy_version"]) for _, f in switches] == [v0, v3]
        worker.collect(20)  # still acts and writes after refusals
    finally:
        worker.stop()
        r.close()


def test_episode_stream_and_heartbeat(make_cfg, replay_table, redis_url, namespace) -> None:
    cfg = make_cfg()
    replay_table(cfg)
    worker = ActorWorker.from_config(cfg, 1 % int(cfg["actors"]["num"]), redis_url, namespace, TAG)
    r = redis.Redis.from_url(redis_url)
    try:
        worker.collect(400)
        entries = r.xrange(RunKeys(namespace).episodes)
        assert len(entries) == worker.stats()["episodes"] > 0
        for _, f in entries:
            assert int(f[b"proto"]) == ACTOR_PROTOCOL_VERSION
            assert float(f[b"return"]) == int(f[b"length"])  # CartPole: +1 per step
            assert int(f[b"policy_version"]) == -1
        status = r.hgetall(RunKeys(namespace).actor_status(worker.actor_id))
        assert int(status[b"env_steps"]) == 400
        ttl_ms = r.pttl(RunKeys(namespace).actor_status(worker.actor_id))
        assert 0 < ttl_ms <= 3_000 * cfg["actors"]["heartbeat_interval_s"]
    finally:
        worker.stop()
        r.close()


def test_collect_is_deterministic_given_the_seed(
    make_cfg, replay_table, redis_url, namespace
) -> None:
    cfg = make_cfg()
    replay_table(cfg)
    results = []
    for _ in range(2):
        worker = ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG)
        worker.collect(300)
        results.append((worker._obs.copy(), worker.stats()["episodes"], worker._book.length.copy()))
        worker.stop()
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1:2] == results[1][1:2]
    np.testing.assert_array_equal(results[0][2], results[1][2])
    with pytest.raises(ValueError, match="multiple of actors.envs_per_actor=2"):
        ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG).collect(3)


def test_run_ends_on_stop_key_and_on_stop(make_cfg, replay_table, redis_url, namespace) -> None:
    cfg = make_cfg("actors.heartbeat_interval_s=0.1")
    client = replay_table(cfg)
    r = redis.Redis.from_url(redis_url)
    try:
        worker = ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG)
        out: dict = {}
        thread = threading.Thread(target=lambda: out.update(worker.run()))
        thread.start()
        deadline = time.monotonic() + 10
        while client.size("replay") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        r.set(RunKeys(namespace).actors_stop, 1)
        thread.join(timeout=10)
        assert not thread.is_alive() and out["env_steps"] > 0
        assert out["transitions"] == client.size("replay")  # flushed on the way out
        r.delete(RunKeys(namespace).actors_stop)

        thread = threading.Thread(target=lambda: out.update(worker.run()))
        thread.start()
        time.sleep(0.3)
        worker.stop()
        worker.stop()  # idempotent
        thread.join(timeout=10)
        assert not thread.is_alive() and worker.is_stopped()
        assert r.hget(RunKeys(namespace).actor_status(0), "running") == b"0"  # final heartbeat
        with pytest.raises(RuntimeError, match="stopped"):
            worker.collect(2)
    finally:
        r.close()


def test_stop_leaves_a_rate_limited_run_within_one_flush_timeout(
    make_cfg, redis_url, namespace
) -> None:
    """An actor the rate limiter holds back (nobody samples) leaves run() within the send
    already waiting (one replay.flush_timeout_ms) once stop() is called: the run's last
    flush and the close's flush wait STOPPING_SEND_MS each, not a whole timeout each
    (three timeouts in all before: ~2.9 s of every default run's teardown)."""
    flush_ms = 2_000
    cfg = make_cfg(f"replay.flush_timeout_ms={flush_ms}")
    client = ReplayClient(redis_url, namespace=namespace)
    # 1 sample per insert with a small buffer: inserts stop ~32 transitions past min size
    limited = TableConfig(
        "replay", capacity=50_000, min_size_to_sample=64, samples_per_insert=1.0, error_buffer=32
    )
    client.create_table(limited, build_agent(from_container(cfg)).transition_spec())
    worker = ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG)
    out: dict = {}
    thread = threading.Thread(target=lambda: out.update(worker.run()))
    try:
        thread.start()
        deadline = time.monotonic() + 20
        while worker.stats()["blocked_flushes"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert worker.stats()["blocked_flushes"] > 0, "the rate limiter never held the actor back"
        held = client.size("replay")
        stopped_at = time.monotonic()
        worker.stop()
        thread.join(timeout=30)
        took = time.monotonic() - stopped_at
        assert not thread.is_alive() and worker.is_stopped()
        assert client.size("replay") == held  # nothing let in past the limiter
        # the send in flight ends within one timeout; each later one within 0.1 s
        assert took < 1.5 * flush_ms / 1000, f"run() took {took:.2f} s to end after stop()"
    finally:
        worker.stop()
        client.close()


def test_budget_and_bad_config(make_cfg, replay_table, redis_url, namespace) -> None:
    cfg = make_cfg()
    replay_table(cfg)
    worker = ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG)
    stats = worker.run(max_env_steps=100)
    assert stats["env_steps"] == 100
    worker.stop()
    with pytest.raises(ActorConfigError, match="actor_id=5"):
        ActorWorker.from_config(cfg, 5, redis_url, namespace, TAG)
    broken = {**cfg, "algo": {**cfg["algo"], "n_step": 0}}
    with pytest.raises(ActorConfigError, match="algo.n_step"):
        ActorWorker.from_config(broken, 0, redis_url, namespace, TAG)


def test_dict_observation_env_masks_actions_and_flattens_columns(
    make_cfg, replay_table, redis_url, namespace
) -> None:
    cfg = make_cfg("env=tetris", "algo.eps_base=1.0", "algo.eps_alpha=0.0")  # always explore
    client = replay_table(cfg)
    worker = ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG)
    try:
        worker.collect(120)
        data = sample_all(client, 512)
        assert {"obs/action_mask", "obs/candidate_features", "next_obs/board"} <= set(data)
        mask = data["obs/action_mask"].astype(bool)
        # every stored action was allowed by the mask of the observation it was taken in
        assert mask[np.arange(len(mask)), data["action"]].all()
        assert worker.stats()["transitions"] == client.size("replay") > 0
    finally:
        worker.stop()


def test_a_fast_actor_reports_its_env_steps_every_few_thousand_steps(
    make_cfg, replay_table, redis_url, namespace
) -> None:
    """The run's env-step count is read from the heartbeats: with the time-based heartbeat
    an hour away, the actor still writes its count every HEARTBEAT_EVERY_STEPS env steps,
    so a reader sees it climb while the actor runs, not only at the end."""
    cfg = make_cfg("actors.heartbeat_interval_s=3600")
    replay_table(cfg)
    life = RunKeys(namespace).actor_life(0)
    r = redis.Redis.from_url(redis_url)
    worker = ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG)
    budget = 3 * HEARTBEAT_EVERY_STEPS + 100
    seen: set[int] = set()
    out: dict = {}
    try:
        thread = threading.Thread(target=lambda: out.update(worker.run(max_env_steps=budget)))
        thread.start()
        while thread.is_alive():
            seen.add(int(r.hget(life, "env_steps") or 0))
            time.sleep(0.002)
        thread.join()
        assert out["env_steps"] == budget
        assert int(r.hget(life, "env_steps")) == budget  # the final heartbeat
        during = {s for s in seen if 0 < s < budget}
        assert during, seen
        assert all(s % HEARTBEAT_EVERY_STEPS < cfg["actors"]["envs_per_actor"] for s in during)
    finally:
        worker.stop()
        r.close()
