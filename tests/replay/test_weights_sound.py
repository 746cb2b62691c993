"""One loop finds the newest sound weight version: corrupt blobs (a real Redis, a
flipped byte) and versions the consumer refuses are skipped, logged and counted;
followers of ``latest`` never go back, followers of ``champion`` never leave it."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import redis

from replay.keys import RunKeys
from replay.weights import (
    WeightFollower,
    WeightIntegrityError,
    WeightNotFoundError,
    WeightStore,
    decode_weights,
    encode_weights,
)
from robot_edge.weights import decode_safetensors

META = {"arch": "mlp_dueling", "hidden_sizes": "[4]"}


def _tensors(i: int) -> dict[str, np.ndarray]:
    return {"w": np.full((2, 3), i, dtype=np.float32), "b": np.arange(3, dtype=np.int64) + i}


def _corrupt(redis_url: str, namespace: str, tag: str, version: int) -> None:
    raw = redis.Redis.from_url(redis_url)
    key = RunKeys(namespace).weights(tag).version(version)
    blob = bytearray(raw.hget(key, "blob"))
    blob[-1] ^= 0xFF  # one tensor byte: the sha256 no longer matches
    raw.hset(key, "blob", bytes(blob))
    raw.close()


@pytest.fixture()
def store(redis_url: str, namespace: str) -> WeightStore:
    s = WeightStore(redis_url, namespace, history=8)
    yield s
    s.close()


def test_one_codec_shared_with_the_edge() -> None:
    blob = encode_weights(_tensors(3), META)
    tensors, meta = decode_safetensors(blob)  # what the Pi runs
    assert meta == {**META, "fsrl_weights_format": "1"}
    np.testing.assert_array_equal(tensors["w"], _tensors(3)["w"])
    tensors2, meta2 = decode_weights(blob)
    assert meta2 == META and tensors2["b"].dtype == np.int64


def test_newest_sound_skips_corrupt_and_refused_versions(
    store: WeightStore, redis_url: str, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert store.fetch_newest_sound("q") is None
    for i in range(4):
        store.publish("q", _tensors(i), META)
    _corrupt(redis_url, namespace, "q", 3)
    _corrupt(redis_url, namespace, "q", 1)
    refused: list[tuple[int, str]] = []
    with caplog.at_level(logging.WARNING, logger="replay.weights"):
        v, tensors, meta = store.fetch_newest_sound(
            "q", on_refused=lambda v, why: refused.append((v, why))
        )
    assert v == 2 and meta == META
    np.testing.assert_array_equal(tensors["w"], _tensors(2)["w"])
    assert [r[0] for r in refused] == [3] and "sha256" in refused[0][1]
    assert store.refused == 1 and "version 3" in caplog.text
    # below: resume from the newest good version under a broken one
    assert store.fetch_newest_sound("q", below=2)[0] == 0  # 1 is corrupt too
    assert store.refused == 2

    # accept: a consumer refuses what does not fit (False or ValueError)
    def fits(v: int, t: dict, m: dict) -> bool:
        if v == 2:
            raise ValueError("hidden size 4 != 8")
        return True

    assert store.fetch_newest_sound("q", accept=fits, skip={3, 1})[0] == 0
    assert store.fetch_newest_sound("q", accept=lambda v, t, m: v < 2, skip={3})[0] == 0
    assert store.fetch_newest_sound("q", above=0, skip={3, 1}, accept=lambda *a: False) is None
    # every version corrupt: nothing sound
    for v in (0, 2):
        _corrupt(redis_url, namespace, "q", v)
    assert store.fetch_newest_sound("q") is None


def test_latest_follower_takes_the_newest_sound_version_and_never_goes_back(
    store: WeightStore, redis_url: str, namespace: str
) -> None:
    follower = WeightFollower(store, "q")
    assert not follower.poll() and follower.version is None
    for i in range(3):
        store.publish("q", _tensors(i), META)
    _corrupt(redis_url, namespace, "q", 2)
    assert follower.poll() and follower.version == 1 and follower.refused == 1
    np.testing.assert_array_equal(follower.tensors["w"], _tensors(1)["w"])
    assert not follower.poll() and follower.refused == 1  # a refused version is not re-read
    store.publish("q", _tensors(3), META)
    _corrupt(redis_url, namespace, "q", 3)
    assert not follower.poll() and follower.version == 1 and follower.refused == 2
    store.publish("q", _tensors(4), META)
    assert follower.poll() and follower.version == 4


def test_follower_accept_refuses_unfit_versions(store: WeightStore) -> None:
    loaded: list[int] = []

    def load(v: int, tensors: dict, meta: dict) -> None:
        if tensors["w"].shape != (2, 3):
            raise ValueError(f"w has shape {tensors['w'].shape}")
        loaded.append(v)

    follower = WeightFollower(store, "q", accept=load)
    store.publish("q", _tensors(0), META)
    assert follower.poll() and loaded == [0]
    store.publish("q", {"w": np.zeros((5, 5), np.float32)}, META)
    assert not follower.poll() and follower.version == 0 and follower.refused == 1
    assert loaded == [0]


def test_champion_must_exist_and_be_sound(
    store: WeightStore, redis_url: str, namespace: str
) -> None:
    store.publish("q", _tensors(0), META)
    store.publish("q", _tensors(1), META)
    with pytest.raises(WeightNotFoundError, match="version 7"):
        store.set_champion("q", 7)
    _corrupt(redis_url, namespace, "q", 1)
    with pytest.raises(WeightIntegrityError, match="version 1"):
        store.set_champion("q", 1)
    assert store.champion_version("q") is None
    store.set_champion("q", 0)
    assert store.champion_version("q") == 0


def test_history_trimming_never_drops_the_champion(redis_url: str, namespace: str) -> None:
    store = WeightStore(redis_url, namespace, history=2)
    store.publish("q", _tensors(0), META)
    store.set_champion("q", 0)
    for i in range(1, 6):
        store.publish("q", _tensors(i), META)
    assert store.versions("q") == [0, 4, 5]
    assert store.fetch("q", 0)[0] == 0
    store.set_champion("q", 5)
    store.publish("q", _tensors(6), META)
    assert store.versions("q") == [5, 6]


def test_champion_follower_never_moves_off_the_champion(
    store: WeightStore, redis_url: str, namespace: str
) -> None:
    follower = WeightFollower(store, "q", follow="champion")
    for i in range(3):
        store.publish("q", _tensors(i), META)
    assert not follower.poll() and follower.version is None  # no champion: nothing
    store.set_champion("q", 1)
    assert follower.poll() and follower.version == 1
    store.publish("q", _tensors(3), META)  # a newer latest is not followed
    assert not follower.poll() and follower.version == 1
    store.set_champion("q", 0)  # a roll-back is
    assert follower.poll() and follower.version == 0
    store.set_champion("q", 3)
    _corrupt(redis_url, namespace, "q", 3)  # corrupted after its promotion: refused
    assert not follower.poll() and follower.version == 0 and follower.refused == 1
    with pytest.raises(ValueError, match="follow"):
        WeightFollower(store, "q", follow="newest")  # type: ignore[arg-type]
