"""Redis restarted mid-run (without persistence): writer and sampler carry on."""

from __future__ import annotations

import threading

import numpy as np
from replay_testkit import check_consistent, make_batch

from replay import ReplayClient, TableConfig, TransitionSpec
from replay.codec import decode_chunk
from replay.embedded import EmbeddedRedis


def test_writer_and_sampler_recover_from_a_redis_restart(
    redis_server: EmbeddedRedis, namespace: str, spec: TransitionSpec
) -> None:
    client = ReplayClient(redis_server.url, namespace=namespace, reconnect_timeout_s=20.0)
    client.create_table(TableConfig("replay", capacity=10_000, min_size_to_sample=10), spec)
    w = client.writer("replay", chunk_size=50)
    w.append(make_batch(spec, 0, 500))
    w.flush()
    s = ReplayClient(redis_server.url, namespace=namespace, reconnect_timeout_s=20.0).sampler(
        "replay", seed=0
    )
    assert check_consistent(s.sample(64).data).max() < 500

    redis_server.kill()  # crash: every key is gone when it comes back
    restarter = threading.Timer(0.5, redis_server.start)
    restarter.start()
    w.append(make_batch(spec, 500, 200))
    w.flush(timeout_ms=20_000)  # retried with backoff until Redis is back; table re-created
    restarter.join()
    assert client.size("replay") == 200 and w.pending_transitions == 0

    idx = check_consistent(s.sample(256, timeout_ms=10_000).data)
    assert idx.min() >= 500 and idx.max() < 700  # index rebuilt on the new incarnation
    assert s.rebuilds == 2 and s.indexed_size == 200

    # And the other way round: the sampler notices first, then the writer goes on.
    redis_server.restart(down_s=0.2)
    w.append(make_batch(spec, 700, 100))
    w.flush(timeout_ms=20_000)
    idx = check_consistent(s.sample(128, timeout_ms=10_000).data)
    assert set(np.unique(idx)) <= set(range(700, 800))
    assert client.metrics("replay")["replay/size"] == 100


def test_pipelining_writer_rides_out_an_outage_mid_stream(
    redis_server: EmbeddedRedis, namespace: str, spec: TransitionSpec
) -> None:
    client = ReplayClient(redis_server.url, namespace=namespace, reconnect_timeout_s=20.0)
    client.create_table(TableConfig("replay", capacity=10_000), spec)
    w = client.writer("replay", chunk_size=25, max_pending_chunks=2)  # sends while appending
    w.append(make_batch(spec, 0, 100))
    redis_server.kill()
    restarter = threading.Timer(0.5, redis_server.start)
    restarter.start()
    for start in range(100, 400, 50):
        w.append(make_batch(spec, start, 50))  # in flight when the server died, or after
    w.flush(timeout_ms=20_000)
    restarter.join()
    # Chunks sent but not yet acknowledged when the server died stay buffered and are
    # sent again to the new (empty) incarnation; the first 100 are there too unless
    # they had been acknowledged before the crash (then they died with the server).
    stored: list[int] = []
    for key in client.redis.scan_iter(match=client.keys.table("replay").chunk_prefix + "*"):
        stored += decode_chunk(client.redis.get(key), spec)[2]["action"].tolist()
    assert sorted(stored) in (list(range(400)), list(range(100, 400)))  # each exactly once
    assert client.size("replay") == len(stored) and w.pending_transitions == 0
