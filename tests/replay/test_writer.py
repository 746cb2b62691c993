"""The writer is the one place that chunks: odd batch sizes in, chunks of exactly
``chunk_size`` out (the rest on flush), priorities from ``priority_fn`` once per sealed
chunk, and partial chunks sent by age through ``flush_due``."""

from __future__ import annotations

import time

import numpy as np
import pytest
from replay_testkit import make_batch

from replay import ReplayClient, TableConfig, TransitionSpec
from replay.codec import decode_chunk


def _stored_chunks(client: ReplayClient, spec: TransitionSpec) -> list[tuple[np.ndarray, dict]]:
    """(priorities, batch) of every stored chunk, in commit order."""
    keys = client.keys.table("replay")
    seqs = sorted(
        int(k.decode().rsplit(":", 1)[1])
        for k in client.redis.scan_iter(match=keys.chunk_prefix + "*")
    )
    out = []
    for seq in seqs:
        _, prio, batch = decode_chunk(client.redis.get(keys.chunk(seq)), spec)
        out.append((prio, batch))
    return out


def _prio_of(cols: dict[str, np.ndarray]) -> np.ndarray:
    return cols["action"].astype(np.float32) * 10 + 1


CASES = [
    # (chunk_size, appended batch sizes, sizes of the stored chunks after flush)
    (5, [3, 3, 3, 3, 1], [5, 5, 3]),
    (4, [7, 1, 9], [4, 4, 4, 4, 1]),
    (1, [2, 3], [1, 1, 1, 1, 1]),
    (8, [8], [8]),
    (6, [1, 1, 1, 1, 1, 1, 5], [6, 5]),
    (7, [20], [7, 7, 6]),
]


@pytest.mark.parametrize(("chunk_size", "appends", "expected"), CASES)
def test_odd_batches_become_chunks_of_exactly_chunk_size(
    client: ReplayClient,
    spec: TransitionSpec,
    chunk_size: int,
    appends: list[int],
    expected: list[int],
) -> None:
    client.create_table(TableConfig("replay", capacity=1000), spec)
    calls: list[np.ndarray] = []

    def priority_fn(cols: dict[str, np.ndarray]) -> np.ndarray:
        assert set(cols) == set(spec.names)  # the chunk's columns, flat names
        calls.append(cols["action"].copy())
        return _prio_of(cols)

    w = client.writer(
        "replay", chunk_size=chunk_size, max_pending_chunks=2, priority_fn=priority_fn
    )
    start = 0
    for n in appends:
        w.append(make_batch(spec, start, n))
        start += n
    w.flush()
    chunks = _stored_chunks(client, spec)
    assert [len(b["action"]) for _, b in chunks] == expected
    # Rows in order, each exactly once; priorities computed per chunk from its own rows.
    actions = np.concatenate([b["action"] for _, b in chunks])
    np.testing.assert_array_equal(actions, np.arange(start))
    for prio, batch in chunks:
        np.testing.assert_array_equal(prio, _prio_of(batch))
    assert [len(c) for c in calls] == expected  # once per sealed chunk
    assert w.transitions_sent == start and w.chunks_sent == len(expected)


def test_given_priorities_win_and_the_rest_come_from_priority_fn(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    client.create_table(TableConfig("replay", capacity=1000), spec)
    with client.writer("replay", chunk_size=4, priority_fn=_prio_of) as w:
        w.append(make_batch(spec, 0, 2), np.array([0.5, 0.25]))
        w.append(make_batch(spec, 2, 4))  # without: computed when the chunk is sealed
    (p0, _), (p1, _) = _stored_chunks(client, spec)
    np.testing.assert_array_equal(p0, [0.5, 0.25, 21.0, 31.0])
    np.testing.assert_array_equal(p1, [41.0, 51.0])


@pytest.mark.parametrize("priority_fn", [None, lambda cols: None])
def test_without_priority_fn_or_its_opinion_priorities_default_to_one(
    client: ReplayClient, spec: TransitionSpec, priority_fn
) -> None:
    client.create_table(TableConfig("replay", capacity=1000), spec)
    with client.writer("replay", chunk_size=3, priority_fn=priority_fn) as w:
        w.append(make_batch(spec, 0, 5))
    assert [p.tolist() for p, _ in _stored_chunks(client, spec)] == [[1.0] * 3, [1.0] * 2]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda cols: np.ones(2), r"shape \(2,\) for a chunk of 4"),
        (lambda cols: np.full(len(cols["action"]), np.nan), "finite"),
        (lambda cols: -np.ones(len(cols["action"])), "finite and >= 0"),
        (lambda cols: 1 / 0, "division by zero"),
    ],
)
def test_a_failing_priority_fn_loses_nothing_and_says_why(
    client: ReplayClient, spec: TransitionSpec, bad, message: str
) -> None:
    client.create_table(TableConfig("replay", capacity=1000), spec)
    w = client.writer("replay", chunk_size=4, priority_fn=bad)
    with pytest.raises(ValueError, match=message) as info:
        w.append(make_batch(spec, 0, 6))
    assert "'replay'" in str(info.value) and "priority 1.0" in str(info.value)
    assert w.priority_errors == 1 and w.pending_transitions == 6
    with pytest.raises(ValueError, match=message):  # the next sealed chunk, too
        w.append(make_batch(spec, 6, 2))
    assert w.priority_errors == 2
    w.close()
    chunks = _stored_chunks(client, spec)
    np.testing.assert_array_equal(np.concatenate([b["action"] for _, b in chunks]), np.arange(8))
    assert all(np.all(p == 1.0) for p, _ in chunks)


def test_flush_due_sends_a_partial_chunk_once_it_is_old_enough(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    client.create_table(TableConfig("replay", capacity=1000), spec)
    w = client.writer("replay", chunk_size=100, max_age_ms=50, priority_fn=_prio_of)
    assert not w.flush_due()  # nothing buffered: nothing to do
    w.append(make_batch(spec, 0, 3))
    sealed_at = time.monotonic()
    while time.monotonic() - sealed_at < 0.06:
        time.sleep(0.01)
    assert w.flush_due(timeout_ms=1000)
    assert client.size("replay") == 3 and w.pending_transitions == 0
    ((prio, batch),) = _stored_chunks(client, spec)
    np.testing.assert_array_equal(batch["action"], [0, 1, 2])
    np.testing.assert_array_equal(prio, [1.0, 11.0, 21.0])
    assert not w.flush_due()  # sent: nothing is due any more
    w.close()


@pytest.mark.parametrize("max_age_ms", [None, 3_600_000])
def test_flush_due_leaves_young_or_unaged_rows_buffered(
    client: ReplayClient, spec: TransitionSpec, max_age_ms: int | None
) -> None:
    client.create_table(TableConfig("replay", capacity=1000), spec)
    w = client.writer("replay", chunk_size=4, max_pending_chunks=8, max_age_ms=max_age_ms)
    w.append(make_batch(spec, 0, 10))  # two whole chunks sealed, two rows partial
    assert not w.flush_due()
    assert client.size("replay") == 0 and w.pending_transitions == 10
    w.close()
    assert client.size("replay") == 10


def test_flush_due_with_max_age_zero_sends_sealed_and_partial_chunks(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    client.create_table(TableConfig("replay", capacity=1000), spec)
    w = client.writer("replay", chunk_size=4, max_pending_chunks=8, max_age_ms=0)
    w.append(make_batch(spec, 0, 10))
    assert w.flush_due()
    assert [len(b["action"]) for _, b in _stored_chunks(client, spec)] == [4, 4, 2]
    w.close()


def test_flush_due_keeps_rows_the_rate_limiter_holds_back(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    from replay import ReplayTimeoutError

    client.create_table(
        TableConfig(
            "replay", capacity=1000, min_size_to_sample=4, samples_per_insert=1.0, error_buffer=4.0
        ),
        spec,
    )
    w = client.writer("replay", chunk_size=4, max_age_ms=0)
    w.append(make_batch(spec, 0, 16))
    with pytest.raises(ReplayTimeoutError):
        w.flush_due(timeout_ms=100)
    assert 0 < client.size("replay") < 16
    assert w.pending_transitions == 16 - client.size("replay")  # kept, not dropped
    client.sampler("replay", prioritized=False).sample(8, timeout_ms=1000)
    assert w.flush_due(timeout_ms=2000)
    assert client.size("replay") == 16 and w.pending_transitions == 0


def test_the_replay_config_section_opens_a_writer(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    from replay import ReplayConfig, table_config
    from replay.config import writer_kwargs

    cfg = ReplayConfig(chunk_size=5, max_pending_chunks=3, flush_timeout_ms=250, max_chunk_age_ms=0)
    client.create_table(table_config(cfg), spec)
    w = client.writer(cfg.table, priority_fn=_prio_of, **writer_kwargs(cfg))
    assert (w.chunk_size, w.max_pending_chunks, w.timeout_ms, w.max_age_ms) == (5, 3, 250, 0)
    w.append(make_batch(spec, 0, 7))
    assert w.flush_due() and client.size(cfg.table) == 7
    w.close()
