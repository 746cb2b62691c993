"""Regression: the prioritized sampler never serves a draw of probability 0 and its
importance weights stay finite and in (0, 1] (evictions racing a sample, priorities
of exactly 0, draws at the very top of the sum-tree, bad priorities refused)."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
from replay_testkit import check_consistent, make_batch

from replay import ReplayClient, ReplaySampler, TableConfig, TransitionSpec
from replay.sumtree import SumTree

CAPACITY, CHUNK = 100, 10


def _check_batch(sb: Any) -> None:
    assert np.all(np.isfinite(sb.probabilities)) and np.all(sb.probabilities > 0)
    assert np.all(np.isfinite(sb.weights)), sb.weights
    assert np.all(sb.weights > 0) and np.all(sb.weights <= 1.0), sb.weights


class _EvictingSampler(ReplaySampler):
    """Runs a real writer between the sampler's pipelined reads (deterministically),
    as a concurrent actor would: chunks are evicted after their records were read."""

    def __init__(self, *args: Any, on_fetch: list[Any], **kwargs: Any) -> None:
        self._on_fetch = on_fetch
        super().__init__(*args, **kwargs)

    def _fetch(self, positions: np.ndarray) -> Any:
        reply = super()._fetch(positions)
        if self._on_fetch:
            self._on_fetch.pop(0)()
        return reply


def test_records_evicted_during_a_sample_are_redrawn(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    client.create_table(TableConfig("replay", capacity=CAPACITY), spec)
    w = client.writer("replay", chunk_size=CHUNK)
    prio = np.ones(CAPACITY)
    prio[: 2 * CHUNK] = 1000.0  # chunks 0 and 1 take almost all the mass
    w.append(make_batch(spec, 0, CAPACITY), prio)
    w.flush()
    next_index = [CAPACITY]

    def write_one_chunk() -> None:  # evicts the oldest live chunk in Redis
        w.append(make_batch(spec, next_index[0], CHUNK))
        w.flush()
        next_index[0] += CHUNK

    # The sampler indexes chunks 0..9; chunk 0 is then evicted behind its back. The
    # first fetch misses chunk 0 but reads chunk 1 whole; before the redraw's fetch a
    # writer evicts chunk 1 too, so the records of chunk 1 read in the first round
    # belong to an evicted chunk by the time the batch is assembled.
    s = _EvictingSampler(client, "replay", alpha=1.0, beta=0.6, seed=3, on_fetch=[write_one_chunk])
    write_one_chunk()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "divide by zero encountered in power" fails
        sb = s.sample(512, timeout_ms=2000)
    _check_batch(sb)
    idx = check_consistent(sb.data)
    assert idx.min() >= 2 * CHUNK, "a transition of an evicted chunk was served"
    np.testing.assert_array_equal(sb.ids & 0xFFFF, idx % CHUNK)


def test_zero_priorities_from_the_learner_stay_drawable_with_finite_weights(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    client.create_table(TableConfig("replay", capacity=CAPACITY), spec)
    with client.writer("replay", chunk_size=CHUNK) as w:
        w.append(make_batch(spec, 0, 40), np.full(40, 2.0))
    s = client.sampler("replay", alpha=0.6, beta=0.4, priority_eps=1e-6, seed=1)
    sb = s.sample(256)
    new = np.zeros(len(sb.ids))  # |delta| = 0: clamped to eps, never a zero leaf
    assert s.update_priorities(sb.ids, new) > 0
    for _ in range(5):
        got = s.sample(512)
        _check_batch(got)
        check_consistent(got.data)
    # Everything at priority 0 (+eps): uniform again, every weight exactly 1.
    every = np.unique(np.concatenate([s.sample(512).ids for _ in range(10)]))
    assert s.update_priorities(every, np.zeros(len(every))) == 40
    got = s.sample(512)
    _check_batch(got)
    np.testing.assert_array_equal(got.weights, 1.0)
    np.testing.assert_allclose(got.probabilities, 1 / 40)


def test_bad_priorities_are_refused_naming_index_and_value(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    client.create_table(TableConfig("replay", capacity=CAPACITY), spec)
    with client.writer("replay", chunk_size=CHUNK) as w:
        w.append(make_batch(spec, 0, 20))
    s = client.sampler("replay", seed=2)
    ids = s.sample(4).ids
    before = s.sample(2000).probabilities.copy()
    for bad, text in [(np.nan, "nan"), (np.inf, "inf"), (-0.5, "-0.5"), (1e39, "1e+39")]:
        prio = np.ones(4)
        prio[2] = bad
        with pytest.raises(ValueError, match=rf"index 2.*{re.escape(text)}") as err:
            s.update_priorities(ids, prio)
        assert "priorit" in str(err.value)
    # Nothing was applied: the distribution is unchanged (all priorities still 1).
    np.testing.assert_allclose(s.sample(2000).probabilities, before[0])


def test_sumtree_never_draws_a_zero_leaf_at_the_top_edge() -> None:
    tree = SumTree(1000)
    w = np.zeros(1000)
    w[[0, 17, 500]] = [0.1, 1e-12, 3.0]  # the last leaves (and the padding) are zero
    tree.update(np.arange(1000), w)
    rng = np.random.default_rng(0)
    # Draws u == total (the top edge) and just below must land on a live leaf.
    total = tree.total
    u = np.array([total, np.nextafter(total, 0.0), total * (1 - 1e-17), 0.0])
    assert np.all(w[tree._descend_live(u)] > 0)
    for _ in range(50):
        assert np.all(w[tree.sample(512, rng)] > 0)
    assert tree.min() == 1e-12


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_sumtree_refuses_bad_weights(bad: float) -> None:
    tree = SumTree(8)
    tree.update(np.arange(8), np.ones(8))
    with pytest.raises(ValueError, match=r"position 5"):
        tree.update(np.array([1, 5]), np.array([2.0, bad]))
    assert tree.total == 8.0  # nothing applied
