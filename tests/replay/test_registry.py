"""The model registry against a real redis-server: gated champions, gate records,
per-version online returns, and the lease that keeps a second learner off a tag."""

from __future__ import annotations

import json
import pickle
import time

import numpy as np
import pytest
import redis

from replay.keys import RunKeys
from replay.registry import (
    REGISTRY_PROTOCOL_VERSION,
    ModelRegistry,
    RegistryError,
    TagLease,
    TagLeaseError,
)
from replay.weights import WeightFollower, WeightNotFoundError, WeightStore

META = {"arch": "mlp_dueling"}


def _publish(store: WeightStore, n: int, tag: str = "q") -> list[int]:
    return [store.publish(tag, {"w": np.full(3, i, np.float32)}, META) for i in range(n)]


@pytest.fixture()
def store(redis_url: str, namespace: str) -> WeightStore:
    s = WeightStore(redis_url, namespace)
    yield s
    s.close()


@pytest.fixture()
def raw(redis_url: str) -> redis.Redis:
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


def test_a_version_that_fails_its_gate_is_never_followed(store: WeightStore) -> None:
    reg = ModelRegistry(store)
    follower = WeightFollower(store, "q", follow="champion")
    _publish(store, 2)
    reg.record_gate("q", 0, True, {"games": 0, "why": "first version"})
    reg.set_champion("q", 0)
    assert reg.champion("q") == 0 and follower.poll() and follower.version == 0
    reg.record_gate("q", 1, False, {"games": 40, "win_rate": 0.4, "threshold": 0.55})
    with pytest.raises(RegistryError, match=r"version 1 of tag 'q'.*failed its gate.*0\.4"):
        reg.set_champion("q", 1)
    assert reg.champion("q") == 0
    _publish(store, 1)  # v2: latest moves on, the champion does not
    assert not follower.poll() and follower.version == 0
    reg.record_gate("q", 2, True, {"games": 40, "win_rate": 0.7})
    reg.set_champion("q", 2)
    assert follower.poll() and follower.version == 2
    with pytest.raises(WeightNotFoundError):
        reg.set_champion("q", 9)
    assert reg.champion("q") == 2


def test_gates_round_trip_as_versioned_json(store: WeightStore, raw: redis.Redis) -> None:
    reg = ModelRegistry(store)
    reg.record_gate("q", 3, True, {"wins": 30, "games": 40})
    reg.record_gate("q", 1, False, {"wins": 10, "games": 40})
    gates = reg.gates("q")
    assert list(gates) == [1, 3]
    assert gates[3]["passed"] is True and gates[3]["detail"] == {"wins": 30, "games": 40}
    assert gates[1]["passed"] is False and gates[1]["time_ms"] > 0
    stored = json.loads(raw.hget(reg.keys.registry("q").gates, "3"))
    assert stored["proto"] == REGISTRY_PROTOCOL_VERSION
    with pytest.raises(ValueError, match="not plain JSON"):
        reg.record_gate("q", 4, True, {"bad": object()})
    raw.hset(reg.keys.registry("q").gates, "5", json.dumps({"proto": 99, "passed": True}))
    with pytest.raises(RegistryError, match="field b'5'.*protocol 99"):
        reg.gates("q")


def test_online_returns_per_version_match_numpy(store: WeightStore, raw: redis.Redis) -> None:
    reg = ModelRegistry(store)
    rng = np.random.default_rng(0)
    seen: dict[int, list[float]] = {3: [], 4: []}
    for _ in range(20):
        k = int(rng.integers(1, 6))
        returns = rng.normal(100.0, 15.0, size=k)
        versions = rng.choice([3, 4], size=k)
        counts = reg.record_episodes("q", versions, returns)
        for v, r in zip(versions, returns, strict=True):
            seen[int(v)].append(float(r))
        assert all(counts[v] == len(seen[v]) for v in counts)
    assert reg.record_episodes("q", 7, [5.0]) == {7: 1}
    stats = reg.online_stats("q")
    assert list(stats) == [3, 4, 7]
    for v in (3, 4):
        x = np.asarray(seen[v])
        assert stats[v]["count"] == len(x)
        assert stats[v]["mean"] == pytest.approx(x.mean(), rel=1e-12)
        assert stats[v]["std"] == pytest.approx(x.std(ddof=1), rel=1e-9)
    assert stats[7] == {"count": 1.0, "mean": 5.0, "std": 0.0}
    fields = {k.decode(): v.decode() for k, v in raw.hgetall(reg.keys.registry("q").online).items()}
    assert fields["proto"] == str(REGISTRY_PROTOCOL_VERSION) and fields["7:mean"] == "5"
    assert reg.record_episodes("q", 3, []) == {}
    with pytest.raises(ValueError, match="finite"):
        reg.record_episodes("q", 3, [1.0, float("nan")])
    with pytest.raises(ValueError, match="2 versions for 3 episode returns"):
        reg.record_episodes("q", [3, 4], [1.0, 2.0, 3.0])
    assert reg.online_stats("other") == {}


def test_registry_pickles_by_address(store: WeightStore) -> None:
    reg = ModelRegistry(store)
    _publish(store, 1)
    reg.set_champion("q", 0)
    clone = pickle.loads(pickle.dumps(reg))
    assert clone.champion("q") == 0


def test_a_second_learner_on_a_held_tag_fails_naming_it(raw: redis.Redis, namespace: str) -> None:
    keys = RunKeys(namespace)
    first = TagLease(raw, keys, "cartpole-mlp", owner="learner@hostA:101", ttl_s=30)
    with first:
        second = TagLease(raw, keys, "cartpole-mlp", owner="learner@hostB:202", ttl_s=30)
        with pytest.raises(TagLeaseError) as info:
            second.acquire()
        msg = str(info.value)
        assert "'cartpole-mlp'" in msg and repr(namespace) in msg
        assert "held by 'learner@hostA:101' (for " in msg and " s, expires in " in msg
        # another tag, or the same tag in another namespace, is free
        with TagLease(raw, keys, "other", owner="b", ttl_s=30):
            pass
        with TagLease(raw, RunKeys(namespace + "-2"), "cartpole-mlp", owner="b", ttl_s=30):
            pass
        assert not second.release()  # not ours: the holder keeps it
        assert first.holder()[0] == "learner@hostA:101"
    with second:  # released on leaving the block: the tag is free
        assert second.held


def test_renew_keeps_the_lease_and_expiry_frees_it(raw: redis.Redis, namespace: str) -> None:
    keys = RunKeys(namespace)
    first = TagLease(raw, keys, "q", owner="first", ttl_s=1.0).acquire()
    other = TagLease(raw, keys, "q", owner="second", ttl_s=5)
    start = time.monotonic()
    while time.monotonic() - start < 2.2:  # over two TTLs, renewed all along
        first.renew()
        time.sleep(0.1)
    with pytest.raises(TagLeaseError, match="'first'"):
        other.acquire()
    time.sleep(1.3)  # not renewed: it expires
    other.acquire()
    with pytest.raises(TagLeaseError, match=r"lease of 'first' was lost \(now held by 'second'\)"):
        first.renew()
    assert not first.release() and other.holder()[0] == "second"
    assert other.release() and other.holder() is None
    with pytest.raises(TagLeaseError, match="expired"):
        other.renew()
    with pytest.raises(ValueError, match="ttl_s"):
        TagLease(raw, keys, "q", owner="x", ttl_s=0)
    with pytest.raises(ValueError, match="model tag"):
        TagLease(raw, keys, "a:b", owner="x", ttl_s=1)
