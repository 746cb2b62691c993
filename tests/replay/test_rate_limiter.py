"""The rate limiter: Reverb semantics across processes' counters in Redis."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from replay_testkit import make_batch

from replay import (
    RateLimiterConfigError,
    ReplayClient,
    ReplayConfig,
    ReplayTimeoutError,
    TableConfig,
    TransitionSpec,
    table_config,
)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"capacity": 100, "min_size_to_sample": 101}, "exceeds capacity"),
        ({"min_size_to_sample": 0}, "min_size_to_sample must be >= 1"),
        ({"samples_per_insert": 0.0}, "samples_per_insert must be > 0"),
        ({"samples_per_insert": -1.0}, "samples_per_insert must be > 0"),
        ({"samples_per_insert": 4.0, "error_buffer": 3.0}, "2 \\* max\\(1, samples_per_insert\\)"),
        (
            {"samples_per_insert": 1.0, "min_size_to_sample": 10, "error_buffer": (9.5, 10.5)},
            "deadlock",
        ),
    ],
)
def test_deadlocking_configs_are_rejected_at_construction(kwargs: dict, match: str) -> None:
    with pytest.raises(RateLimiterConfigError, match=match):
        TableConfig("replay", **kwargs)


def test_sane_configs_are_accepted() -> None:
    TableConfig(
        "replay", capacity=1000, min_size_to_sample=100, samples_per_insert=8.0, error_buffer=16.0
    )
    TableConfig("replay", min_size_to_sample=10, samples_per_insert=1.0, error_buffer=(0.0, 20.0))
    cfg = table_config(ReplayConfig(capacity=5000, min_size_to_sample=0, samples_per_insert=0.0))
    assert cfg.min_size_to_sample == 1 and not cfg.rate_limited
    with pytest.raises(RateLimiterConfigError):
        table_config(ReplayConfig(samples_per_insert=2.0, error_buffer=1.0))


def test_samples_wait_for_min_size(client: ReplayClient, spec: TransitionSpec) -> None:
    client.create_table(TableConfig("replay", capacity=1000, min_size_to_sample=100), spec)
    w = client.writer("replay", chunk_size=10)
    w.append(make_batch(spec, 0, 90))
    w.flush()
    s = client.sampler("replay", seed=0)
    with pytest.raises(ReplayTimeoutError, match="blocked"):
        s.sample(8, timeout_ms=100)
    w.append(make_batch(spec, 90, 10))
    w.flush()
    assert len(s.sample(8, timeout_ms=1000)) == 8


def test_inserts_and_samples_block_and_release(client: ReplayClient, spec: TransitionSpec) -> None:
    # SPI 1, min size 100, buffer 50: diff = inserts - samples must stay in [50, 150].
    client.create_table(
        TableConfig(
            "replay",
            capacity=10_000,
            min_size_to_sample=100,
            samples_per_insert=1.0,
            error_buffer=50.0,
        ),
        spec,
    )
    w = client.writer("replay", chunk_size=10, max_pending_chunks=100)
    w.append(make_batch(spec, 0, 250))  # buffered only: fewer than max_pending_chunks
    with pytest.raises(ReplayTimeoutError, match="rate limiter"):
        w.flush(timeout_ms=200)
    assert client.size("replay") == 150  # free up to min size, then up to max_diff
    assert w.pending_transitions == 100  # nothing lost
    # A blocked flush is released by samples taken in another thread of control.
    done = threading.Event()
    errors: list[BaseException] = []

    def flush() -> None:
        try:
            w.flush(timeout_ms=10_000)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        done.set()

    t = threading.Thread(target=flush)
    t.start()
    time.sleep(0.2)
    assert not done.is_set()
    reader = ReplayClient(client.url, namespace=client.namespace)
    s = reader.sampler("replay", prioritized=False, seed=0)
    for _ in range(10):
        s.sample(10, timeout_ms=1000)
    assert done.wait(5.0) and not errors
    t.join()
    assert client.size("replay") == 250
    # Samples are now allowed while 250 - samples - 1 >= 50, i.e. up to 200 in all.
    for _ in range(10):
        s.sample(10, timeout_ms=1000)
    with pytest.raises(ReplayTimeoutError):
        s.sample(10, timeout_ms=100)
    m = client.metrics("replay")
    assert m["replay/samples_total"] == 200 and m["replay/inserts_total"] == 250
    assert m["replay/sample_to_insert_ratio"] == pytest.approx(0.8)
    assert m["replay/insert_blocked_s"] > 0.2 and m["replay/sample_blocked_s"] >= 0.09
    assert w.blocked_s > 0.2 and s.blocked_s >= 0.09


def test_metrics_report_rates(client: ReplayClient, spec: TransitionSpec) -> None:
    client.create_table(TableConfig("replay", capacity=1000), spec)
    client.metrics("replay")
    with client.writer("replay", chunk_size=10) as w:
        w.append(make_batch(spec, 0, 100), np.ones(100))
    time.sleep(0.05)
    m = client.metrics("replay")
    assert m["replay/size"] == 100 and m["replay/inserts_per_s"] > 0
    assert set(m) >= {
        "replay/size", "replay/inserts_per_s", "replay/samples_per_s",
        "replay/sample_to_insert_ratio", "replay/insert_blocked_s", "replay/sample_blocked_s",
        "replay/malformed_chunks",
    }  # fmt: skip


def test_a_new_writer_held_back_mid_pipeline_loses_and_duplicates_nothing(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    from replay.codec import decode_chunk

    # diff = inserts - samples must stay <= 30 once 10 transitions are stored.
    client.create_table(
        TableConfig(
            "replay",
            capacity=10_000,
            min_size_to_sample=10,
            samples_per_insert=1.0,
            error_buffer=20.0,
        ),
        spec,
    )
    with client.writer("replay", chunk_size=10) as w0:
        w0.append(make_batch(spec, 0, 30))
    assert client.size("replay") == 30
    # A new writer pipelines chunks (4 per request, sent without waiting) into a table
    # that is already at its ratio: its first chunk is held back, so must the rest be.
    w1 = client.writer("replay", chunk_size=5, max_pending_chunks=4, timeout_ms=200)
    w1.append(make_batch(spec, 100, 20))
    with pytest.raises(ReplayTimeoutError):
        w1.append(make_batch(spec, 120, 20))
    assert client.size("replay") == 30 and w1.pending_transitions == 40
    s = client.sampler("replay", prioritized=False, seed=0)
    for _ in range(4):
        s.sample(10, timeout_ms=1000)  # makes room for 40 more inserts
    w1.flush(timeout_ms=2000)
    assert client.size("replay") == 70
    stored: list[int] = []
    for key in client.redis.scan_iter(match=client.keys("replay").chunk_prefix + "*"):
        stored += decode_chunk(client.redis.get(key), spec)[2]["action"].tolist()
    assert sorted(stored) == list(range(30)) + list(range(100, 140))  # each exactly once
