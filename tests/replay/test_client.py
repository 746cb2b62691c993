"""Tables, writers and samplers end to end against the real redis-server fixture."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import redis
from replay_testkit import check_consistent, make_batch

from replay import (
    MalformedChunkError,
    ReplayClient,
    ReplayConnectionError,
    ReplayError,
    TableConfig,
    TransitionSpec,
)
from replay.chunk_io import insert_chunks
from replay.codec import encode_chunk
from replay.embedded import EmbeddedRedis, free_port
from replay.scripts import MALFORMED


def test_write_then_sample_round_trip(client: ReplayClient, spec: TransitionSpec) -> None:
    client.create_table(TableConfig("replay", capacity=10_000), spec)
    with client.writer("replay", chunk_size=32) as w:
        for start in range(0, 1000, 100):
            w.append(make_batch(spec, start, 100), np.ones(100))
        w.flush(timeout_ms=1000)
        assert w.pending_transitions == 0
    assert client.size("replay") == 1000
    s = client.sampler("replay", prioritized=False, seed=1)
    sb = s.sample(512, timeout_ms=2000)
    assert len(sb) == 512 and sb.weights.dtype == np.float32
    idx = check_consistent(sb.data)
    assert idx.min() >= 0 and idx.max() < 1000
    np.testing.assert_allclose(sb.probabilities, 1 / 1000)
    np.testing.assert_array_equal(sb.weights, 1.0)
    assert len(np.unique(idx)) > 300  # really random, not one chunk


def test_partial_chunk_is_sent_by_flush_and_context_exit(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    client.create_table(TableConfig("replay", capacity=1000), spec)
    w = client.writer("replay", chunk_size=64)
    w.append(make_batch(spec, 0, 10))
    assert client.size("replay") == 0 and w.pending_transitions == 10
    w.flush(timeout_ms=1000)
    assert client.size("replay") == 10
    with client.writer("replay", chunk_size=64) as w2:
        w2.append(make_batch(spec, 10, 5))
    assert client.size("replay") == 15


def test_keys_are_namespaced_and_runs_do_not_mix(redis_url: str, spec: TransitionSpec) -> None:
    a = ReplayClient(redis_url, namespace="run-a-keys")
    b = ReplayClient(redis_url, namespace="run-b-keys")
    for c in (a, b):
        c.delete_table("replay")
        c.create_table(TableConfig("replay", capacity=100), spec)
    with a.writer("replay", chunk_size=8) as w:
        w.append(make_batch(spec, 0, 20))
    assert a.size("replay") == 20 and b.size("replay") == 0
    keys = [k.decode() for k in a.redis.keys("fsrl:run-a-keys:*")]
    assert keys and all(k.startswith("fsrl:run-a-keys:") for k in keys)


def test_create_table_is_idempotent_and_refuses_a_different_spec(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    cfg = TableConfig("replay", capacity=100)
    client.create_table(cfg, spec)
    client.create_table(cfg, spec)  # same: fine
    other = TransitionSpec.standard((5,), np.float32)
    with pytest.raises(ReplayError, match="different transition spec"):
        client.create_table(cfg, other)
    with pytest.raises(ReplayError, match="exists with config"):
        client.create_table(TableConfig("replay", capacity=200), spec)


def test_client_pickles_by_address(client: ReplayClient, spec: TransitionSpec) -> None:
    client.create_table(TableConfig("replay", capacity=100), spec)
    with client.writer("replay", chunk_size=4) as w:
        w.append(make_batch(spec, 0, 8))
    clone = pickle.loads(pickle.dumps(client))
    assert clone is not client and clone.url == client.url and clone.namespace == client.namespace
    assert clone.size("replay") == 8


def test_wrong_password_fails_naming_the_url_without_the_password() -> None:
    with EmbeddedRedis(password="s3cret-pw") as server:
        bad_url = server.url.replace("s3cret-pw", "wrong-pw")
        with pytest.raises(ReplayConnectionError) as err:
            ReplayClient(bad_url, namespace="x", connect_timeout_s=2.0)
        msg = str(err.value)
        assert f"127.0.0.1:{server.port}" in msg and "***" in msg
        assert "wrong-pw" not in msg and "s3cret-pw" not in msg
        no_pw = f"redis://127.0.0.1:{server.port}/0"
        with pytest.raises(ReplayConnectionError, match=f"127.0.0.1:{server.port}"):
            ReplayClient(no_pw, namespace="x", connect_timeout_s=2.0)
        ok = ReplayClient(server.url, namespace="x")  # the right password works
        assert ok.redis.ping()


def test_unreachable_server_fails_within_the_timeout() -> None:
    import time

    url = f"redis://:pw@127.0.0.1:{free_port()}/0"
    t0 = time.monotonic()
    with pytest.raises(
        ReplayConnectionError, match="cannot reach redis at redis://:\\*\\*\\*@127.0.0.1"
    ):
        ReplayClient(url, namespace="x", connect_timeout_s=0.5)
    assert time.monotonic() - t0 < 3.0


def test_malformed_chunks_are_rejected_counted_and_never_served(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    client.create_table(TableConfig("replay", capacity=1000), spec)
    with client.writer("replay", chunk_size=10) as w:
        w.append(make_batch(spec, 0, 20))
    keys = client.keys.table("replay")
    rec = np.zeros(5, dtype=spec.record_dtype)
    good = encode_chunk(spec, rec, np.ones(5), b"m" * 8, 1)
    good2 = encode_chunk(spec, rec, np.ones(5), b"v" * 8, 1)
    other_spec = TransitionSpec.standard((3,), np.float32)
    wrong_schema = encode_chunk(
        other_spec, np.zeros(5, dtype=other_spec.record_dtype), np.ones(5), b"n" * 8, 1
    )
    bad_chunks = [b"garbage", good[:-1], wrong_schema, good2[:4] + b"\x09" + good2[5:]]
    for blob in bad_chunks:
        (reply,) = insert_chunks(client, "replay", [blob])
        assert int(reply[0]) == MALFORMED
    # A chunk that passes the server's structural checks but whose header checksum is
    # broken is caught by the sampler when it indexes it.
    torn = bytearray(encode_chunk(spec, rec, np.ones(5), b"t" * 8, 1))
    torn[52] ^= 0xFF  # header crc
    (reply,) = insert_chunks(client, "replay", [bytes(torn)])
    assert int(reply[0]) == 1
    assert client.size("replay") == 25
    s = client.sampler("replay", prioritized=False, seed=0)
    assert s.malformed_chunks == 1 and s.indexed_size == 20
    assert client.metrics("replay")["replay/malformed_chunks"] == len(bad_chunks) + 1
    again = client.sampler("replay", prioritized=False, seed=1)  # meets it too: counted once
    assert again.malformed_chunks == 1
    assert client.metrics("replay")["replay/malformed_chunks"] == len(bad_chunks) + 1
    # Rejected chunks leave no staging keys behind.
    assert not list(client.redis.scan_iter(match=keys.prefix + "stage:*"))
    for _ in range(5):
        check_consistent(s.sample(256, timeout_ms=1000).data)  # never the zero-filled torn rows
    # The writer reports a table whose schema changed under it as malformed.
    w2 = client.writer("replay", chunk_size=4)
    w2.spec = other_spec
    w2._records = np.zeros(4, dtype=other_spec.record_dtype)
    w2._schema_json = other_spec.to_json().encode()
    w2.append(other_spec.empty_batch(4))
    with pytest.raises(MalformedChunkError, match="schema digest"):
        w2.flush(timeout_ms=1000)


def test_capacity_overfill_keeps_size_and_memory_flat(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    capacity = 20_000
    client.create_table(TableConfig("replay", capacity=capacity), spec)
    used: list[int] = []
    with client.writer("replay", chunk_size=100) as w:
        for rnd in range(10):
            for start in range(0, capacity, 1000):
                w.append(make_batch(spec, rnd * capacity + start, 1000))
            w.flush(timeout_ms=5000)
            assert client.size("replay") <= capacity
            used.append(int(client.redis.info("memory")["used_memory"]))
    assert client.size("replay") == capacity
    # Memory after 2x, .., 10x the capacity stays within 10% of the level at 2x.
    assert max(used[1:]) < used[1] * 1.10, used
    chunk_keys = list(
        client.redis.scan_iter(match=client.keys.table("replay").chunk_prefix + "*", count=1000)
    )
    assert len(chunk_keys) == capacity // 100
    s = client.sampler("replay", prioritized=False, seed=3)
    idx = check_consistent(s.sample(4096, timeout_ms=1000).data)
    assert idx.min() >= 9 * capacity  # only the newest capacity transitions survive


def test_restarted_sampler_sees_every_stored_transition(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    client.create_table(TableConfig("replay", capacity=5000), spec)
    with client.writer("replay", chunk_size=50) as w:
        w.append(make_batch(spec, 0, 8000), np.ones(8000))
    first = client.sampler("replay", seed=0)
    assert first.indexed_size == 5000
    del first
    fresh = ReplayClient(client.url, namespace=client.namespace).sampler(
        "replay", prioritized=False, seed=1
    )
    assert fresh.indexed_size == 5000
    seen: set[int] = set()
    for _ in range(20):
        seen.update(check_consistent(fresh.sample(2048, timeout_ms=1000).data).tolist())
    assert seen == set(range(3000, 8000))


def test_sampler_learns_new_chunks_incrementally(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    client.create_table(TableConfig("replay", capacity=1000), spec)
    w = client.writer("replay", chunk_size=10)
    w.append(make_batch(spec, 0, 10))
    w.flush()
    s = client.sampler("replay", prioritized=False, seed=0)
    assert set(s.sample(64).data["action"].tolist()) == set(range(10))
    w.append(make_batch(spec, 10, 990))
    w.flush()
    s.sample(1)  # notices the new head and indexes the new chunks
    assert s.indexed_size == 1000
    w.append(make_batch(spec, 1000, 500))  # evicts the 500 oldest
    w.flush()
    got = set()
    for _ in range(10):
        got.update(check_consistent(s.sample(1000).data).tolist())
    assert min(got) >= 500 and s.indexed_size == 1000


def test_bad_user_input_gets_clear_errors(client: ReplayClient, spec: TransitionSpec) -> None:
    client.create_table(TableConfig("replay", capacity=100), spec)
    with pytest.raises(ReplayError, match="no replay table"):
        client.writer("nope")
    with pytest.raises(ValueError, match="chunk_size"):
        client.writer("replay", chunk_size=101)
    w = client.writer("replay", chunk_size=10)
    with pytest.raises(ValueError, match="priorities"):
        w.append(make_batch(spec, 0, 3), [1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="priorities"):
        w.append(make_batch(spec, 0, 3), [1.0, float("nan"), 1.0])
    assert w.pending_transitions == 0  # nothing half-buffered
    with pytest.raises(ReplayConnectionError, match="not a redis URL"):
        ReplayClient("http://localhost:1/0")
    with pytest.raises(ValueError, match="namespace"):
        ReplayClient(client.url, namespace="")
    assert isinstance(client.redis, redis.Redis)


def test_acl_user_restricted_to_fsrl_keys_works_and_a_wrong_password_is_named(
    redis_url: str, namespace: str, spec: TransitionSpec
) -> None:
    admin = redis.Redis.from_url(redis_url)
    user = f"actor-{namespace[-6:]}"
    admin.execute_command("ACL", "SETUSER", user, "reset", "on", ">pw-ok", "~fsrl:*", "+@all")
    # host:port without the fixture's own (embedded server's) credentials
    host_port = redis_url.split("//", 1)[1].split("/", 1)[0].rpartition("@")[2]
    client = ReplayClient(f"redis://{user}:pw-ok@{host_port}/0", namespace=namespace)
    client.create_table(TableConfig("replay", capacity=100), spec)
    with client.writer("replay", chunk_size=8) as w:  # every key it touches is fsrl:*
        w.append(make_batch(spec, 0, 16))
    check_consistent(client.sampler("replay", seed=0).sample(32, timeout_ms=1000).data)
    with pytest.raises(ReplayConnectionError) as err:
        ReplayClient(
            f"redis://{user}:nope@{host_port}/0", namespace=namespace, connect_timeout_s=1.0
        )
    msg = str(err.value)
    assert f"redis://{user}:***@{host_port}/0" in msg and "nope" not in msg
    admin.execute_command("ACL", "DELUSER", user)
