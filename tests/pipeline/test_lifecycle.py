"""A tag's lifecycle in a real Redis: the lease, gated promotion, actors following the
champion, and per-version records that outlive the run in its directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actors.worker import ActorWorker
from agents.dqn.networks import build_q_network, export_for_edge
from conf import load_config
from learner.leaderboard import load_board
from learner.lifecycle import TagLifecycle
from learner.main import run
from replay import ReplayClient, TableConfig
from replay.registry import TagLeaseError
from replay.weights import WeightStore

ROOT = Path(__file__).resolve().parents[2]
TAG = "CartPole-v1-mlp_dueling"


def _publish(store: WeightStore, seed: int) -> int:
    import gymnasium as gym
    import torch

    torch.manual_seed(seed)
    net = build_q_network({"arch": "mlp_dueling"}, gym.make("CartPole-v1").observation_space, 2)
    return store.publish(TAG, *export_for_edge(net))


def test_a_second_learner_on_a_held_tag_fails_naming_it(
    run_cfg, redis_url: str, namespace: str, tmp_path: Path, ray_session
) -> None:
    store = WeightStore(redis_url, namespace)
    holder = TagLifecycle(store, TAG, tmp_path / "first", lease_ttl_s=30, gate_margin=0)
    try:
        with pytest.raises(TagLeaseError, match=TAG) as err:
            run(run_cfg("mode=sync", "budget.env_steps=200"), tmp_path / "second")
        assert namespace in str(err.value) and str(tmp_path / "first") in str(err.value)
        assert store.versions(TAG) == []  # the refused learner published nothing
    finally:
        holder.close()
    assert holder.lease.holder() is None  # released: the next learner may take the tag


def test_a_version_that_fails_its_gate_is_never_followed_by_champion_actors(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    cfg = load_config(["actors.follow=champion", "actors.envs_per_actor=2", "seed=3"])
    client = ReplayClient(redis_url, namespace=namespace)
    client.create_table(TableConfig("replay", capacity=10_000), _spec(cfg))
    store = WeightStore(redis_url, namespace)
    life = TagLifecycle(store, TAG, tmp_path, lease_ttl_s=30, gate_margin=0)
    worker = ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG)
    try:
        v0 = _publish(store, 0)
        assert not worker.poll_weights() and worker.policy_version == -1  # no champion yet
        assert life.evaluated(v0, 50.0, 5).passed  # the first evaluated version is crowned
        assert worker.poll_weights() and worker.policy_version == v0
        v1 = _publish(store, 1)
        assert not life.evaluated(v1, 20.0, 5).passed  # worse: fails its gate
        assert not worker.poll_weights() and worker.policy_version == v0
        worker.collect(20)  # acting goes on with the champion
        assert worker.policy_version == v0
        v2 = _publish(store, 2)
        assert life.evaluated(v2, 80.0, 5).passed
        assert worker.poll_weights() and worker.policy_version == v2
        gates = life.registry.gates(TAG)
        assert [gates[v]["passed"] for v in (v0, v1, v2)] == [True, False, True]
    finally:
        worker.stop()
        life.close()
        client.close()


def test_online_returns_per_version_survive_in_the_run_directory(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    store = WeightStore(redis_url, namespace)
    life = TagLifecycle(store, TAG, tmp_path, lease_ttl_s=30, gate_margin=0)
    v0, v1 = _publish(store, 0), _publish(store, 1)
    life.evaluated(v0, 10.0, 3)
    for ret in (9.0, 11.0, 10.0):
        life.episode(v0, ret)
    life.episode(v1, 30.0)
    life.episode(-1, 99.0)  # acted with the seeded initial weights: credited to no version
    life.close()
    online = life.registry.online_stats(TAG)
    assert online[v0]["count"] == 3 and online[v0]["mean"] == pytest.approx(10.0)
    board = load_board(tmp_path, TAG)
    rows = {r.version: r for r in board.tags[TAG]}
    assert rows[v0].online["count"] == 3 and rows[v0].online["mean"] == pytest.approx(10.0)
    assert rows[v1].online["count"] == 1 and rows[v0].champion and not rows[v1].champion


@pytest.mark.slow
def test_the_leaderboard_shows_a_cartpole_run_from_its_directory_alone(
    run_cfg, tmp_path: Path, ray_session
) -> None:
    run_dir = tmp_path / "run"
    cfg = run_cfg(
        "mode=sync", "budget.env_steps=3000", "env.eval_episodes=3", "learner.eval_interval_s=0.5"
    )
    summary = run(cfg, run_dir)
    assert summary["champion"] is not None
    out = tmp_path / "board.json"
    proc = subprocess.run(
        [sys.executable, "-m", "learner.evaluate", "--run-dir", str(run_dir), "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    board = json.loads(out.read_text())
    rows = board["tags"][TAG]
    assert any(r["champion"] and r["version"] == summary["champion"] for r in rows)
    assert all(r["eval_return"] is not None for r in rows if r["gate"] is not None)
    assert sum((r["online"] or {}).get("count", 0) for r in rows) == summary["episodes"] > 0
    assert str(summary["champion"]) in proc.stdout and "online" in proc.stdout.lower()


def _spec(cfg):  # type: ignore[no-untyped-def]
    from actors.spec import build_agent

    return build_agent(cfg).transition_spec()


def test_a_run_on_a_tag_whose_latest_version_is_corrupt_starts_from_the_newest_good_one(
    run_cfg, redis_url: str, namespace: str, tmp_path: Path, ray_session, caplog
) -> None:
    import redis as redis_lib

    store = WeightStore(redis_url, namespace)
    v0, v1 = _publish(store, 0), _publish(store, 1)
    raw = redis_lib.Redis.from_url(redis_url)
    key = store.keys.weights(TAG).version(v1)
    blob = raw.hget(key, "blob")
    raw.hset(key, "blob", blob[:-8] + b"garbage!")  # same length, wrong sha256
    summary = run(run_cfg("mode=sync", "budget.env_steps=300"), tmp_path / "run")
    assert summary["stop_reason"].startswith("env step budget"), summary
    versions = store.versions(TAG)
    assert [v for v in versions if v not in (v0, v1)] and all(
        v > v1 for v in versions if v not in (v0, v1)
    )  # numbering goes on above the corrupt version
    assert f"latest {TAG} version {v1} is corrupt; starting from version {v0}" in caplog.text


@pytest.mark.slow
def test_a_resumed_run_counts_only_its_own_actors_steps_on_top_of_the_checkpoint(
    run_cfg, redis_url: str, namespace: str, tmp_path: Path, ray_session
) -> None:
    """The actors' life hashes of the first run stay in Redis; the resumed run must not
    count them again (it did: its count jumped past the budget and it stopped at once)."""
    runs = tmp_path / "runs" / "today"
    common = ("budget.wall_time_s=120", "budget.target_eval_return=null", "env.eval_episodes=2")
    first = run(run_cfg(*common, "budget.env_steps=2000"), runs / "a")
    client = ReplayClient(redis_url, namespace=namespace)
    inserted_before = client.metrics("replay")["replay/inserts_total"]
    resumed = run(run_cfg(*common, "budget.env_steps=4000", "learner.resume=true"), runs / "b")
    inserted = client.metrics("replay")["replay/inserts_total"] - inserted_before
    client.close()
    assert first["env_steps"] >= 2000 and resumed["stop_reason"].startswith("env step budget")
    assert inserted >= 1500, (first, resumed, inserted)  # the resumed run really stepped
    assert resumed["env_steps"] == pytest.approx(first["env_steps"] + inserted, abs=200)
