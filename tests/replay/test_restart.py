"""Redis restarted mid-run (without persistence): writer and sampler carry on."""

from __future__ import annotations

import threading

import numpy as np
from replay_testkit import check_consistent, make_batch

from replay import ReplayClient, TableConfig, TransitionSpec
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
