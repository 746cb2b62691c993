"""WeightStore against a real redis-server: versions, integrity, history, restarts."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest
import redis

from replay.embedded import EmbeddedRedis
from replay.errors import ReplayConnectionError
from replay.weights import (
    WeightFollower,
    WeightIntegrityError,
    WeightNotFoundError,
    WeightStore,
    mask_url,
)

META = {"arch": "mlp_dueling", "hidden_sizes": "[4]"}


def _tensors(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"torso.0.weight": rng.standard_normal((4, 3)).astype(np.float32), "b": np.arange(3.0)}


def test_publish_fetch_round_trip_and_versions(redis_url: str, namespace: str) -> None:
    store = WeightStore(redis_url, namespace, history=3)
    assert store.latest_version("q") is None
    with pytest.raises(WeightNotFoundError, match="'q'"):
        store.fetch("q")
    versions = [store.publish("q", _tensors(i), META) for i in range(5)]
    assert versions == [0, 1, 2, 3, 4]
    assert store.latest_version("q") == 4
    assert store.versions("q") == [2, 3, 4]  # bounded history
    v, tensors, meta = store.fetch("q")
    assert v == 4 and meta == META
    for name, arr in _tensors(4).items():
        np.testing.assert_array_equal(tensors[name], arr)
        assert tensors[name].dtype == arr.dtype
    v2, tensors2, _ = store.fetch("q", version=2)
    np.testing.assert_array_equal(tensors2["b"], _tensors(2)["b"])
    with pytest.raises(WeightNotFoundError, match="version 0"):
        store.fetch("q", version=0)


def test_tags_live_side_by_side(redis_url: str, namespace: str) -> None:
    store = WeightStore(redis_url, namespace)
    assert store.publish("a", _tensors(0), META) == 0
    assert store.publish("b", _tensors(1), META) == 0
    assert store.publish("a", _tensors(2), META) == 1
    assert store.tags() == ["a", "b"]
    assert store.fetch("b")[0] == 0 and store.fetch("a")[0] == 1


def test_corrupt_blob_is_refused_and_follower_keeps_previous(
    redis_url: str, namespace: str
) -> None:
    store = WeightStore(redis_url, namespace)
    follower = WeightFollower(store, "q")
    store.publish("q", _tensors(0), META)
    assert follower.poll() and follower.version == 0
    v1 = store.publish("q", _tensors(1), META)
    raw = redis.Redis.from_url(redis_url)
    key = f"fsrl:{namespace}:weights:q:v:{v1}"
    blob = bytearray(raw.hget(key, "blob"))
    blob[-1] ^= 0xFF  # flip one bit of a tensor byte
    raw.hset(key, "blob", bytes(blob))
    with pytest.raises(WeightIntegrityError, match="version 1"):
        store.fetch("q")
    assert not follower.poll()
    assert follower.version == 0 and follower.refused == 1
    np.testing.assert_array_equal(follower.tensors["b"], _tensors(0)["b"])
    # A later good version is taken.
    store.publish("q", _tensors(2), META)
    assert follower.poll() and follower.version == 2


def test_latest_never_points_at_a_missing_blob(redis_url: str, namespace: str) -> None:
    store = WeightStore(redis_url, namespace, history=1)
    raw = redis.Redis.from_url(redis_url)
    for i in range(20):
        store.publish("q", _tensors(i), META)
        latest = store.latest_version("q")
        assert raw.hexists(f"fsrl:{namespace}:weights:q:v:{latest}", "blob")
        assert hashlib.sha256(
            raw.hget(f"fsrl:{namespace}:weights:q:v:{latest}", "blob")
        ).hexdigest() == store.sha256("q", latest)
    assert store.versions("q") == [19]


def test_versions_are_monotonic_across_restarts(namespace: str) -> None:
    with EmbeddedRedis() as server:
        store = WeightStore(server.url, namespace)
        assert [store.publish("q", _tensors(i), META) for i in range(3)] == [0, 1, 2]
        # A second learner (a restart) on the same store continues the count.
        again = WeightStore(server.url, namespace)
        assert again.publish("q", _tensors(3), META) == 3
        # The store loses everything (no persistence); the resuming learner passes its
        # checkpoint's version, so versions still never go back.
        server.restart()
        assert again.latest_version("q") is None
        assert again.publish("q", _tensors(4), META, min_version=4) == 4
        assert again.publish("q", _tensors(5), META) == 5
        assert again.publish("q", _tensors(6), META, min_version=2) == 6


def test_store_pickles_by_address(redis_url: str, namespace: str) -> None:
    store = WeightStore(redis_url, namespace, history=5)
    store.publish("q", _tensors(0), META)
    clone = pickle.loads(pickle.dumps(store))
    assert clone.history == 5 and clone.latest_version("q") == 0


def test_bad_input_names_the_problem(redis_url: str, namespace: str) -> None:
    store = WeightStore(redis_url, namespace)
    with pytest.raises(ValueError, match="arch"):
        store.publish("q", _tensors(0), {"hidden_sizes": "[4]"})
    with pytest.raises(ValueError, match="tag"):
        store.publish("a:b", _tensors(0), META)
    with pytest.raises(TypeError, match="hidden"):
        store.publish("q", _tensors(0), {"arch": "x", "hidden": 4})  # type: ignore[dict-item]


def test_unreachable_redis_fails_fast_naming_the_masked_url() -> None:
    url = "redis://:s3cret@127.0.0.1:1/0"
    with pytest.raises(ReplayConnectionError, match=r"127\.0\.0\.1:1") as info:
        WeightStore(url, "ns", connect_timeout_s=0.5)
    assert "s3cret" not in str(info.value)
    assert mask_url(url) == "redis://:***@127.0.0.1:1/0"
