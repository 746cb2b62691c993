"""Prioritized sampling: frequencies follow priorities (and a uniform sampler fails the
same test), importance weights, priority updates and their persistence."""

from __future__ import annotations

import numpy as np
import pytest
from replay_testkit import check_consistent, make_batch

from replay import ReplayClient, ReplaySampler, TableConfig, TransitionSpec

# Upper 0.1% point of the chi-square distribution with 19 degrees of freedom.
CHI2_19DF_P999 = 43.82
K = 20


def _fill(
    client: ReplayClient, spec: TransitionSpec, priorities: np.ndarray, chunk_size: int = 7
) -> None:
    client.create_table(TableConfig("replay", capacity=1000), spec)
    with client.writer("replay", chunk_size=chunk_size) as w:
        w.append(make_batch(spec, 0, len(priorities)), priorities)


def _chi_square(
    sampler: ReplaySampler, expected_p: np.ndarray, draws: int, batch: int = 500
) -> float:
    counts = np.zeros(len(expected_p))
    for _ in range(draws // batch):
        idx = check_consistent(sampler.sample(batch, timeout_ms=1000).data)
        counts += np.bincount(idx, minlength=len(expected_p))
    expected = expected_p * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_frequencies_match_priorities_and_uniform_fails(
    client: ReplayClient, spec: TransitionSpec, alpha: float
) -> None:
    prio = np.arange(1, K + 1, dtype=np.float64) ** 1.5  # 1 .. ~89: strongly skewed
    _fill(client, spec, prio)
    expected = prio**alpha / (prio**alpha).sum()
    prioritized = client.sampler("replay", alpha=alpha, priority_eps=0.0, seed=11)
    stat = _chi_square(prioritized, expected, 40_000)
    assert stat < CHI2_19DF_P999, f"prioritized sampler rejected: chi2={stat:.1f}"
    # The same test must be able to fail: a uniform sampler is rejected by a wide margin.
    uniform = client.sampler("replay", prioritized=False, seed=11)
    stat_u = _chi_square(uniform, expected, 40_000)
    assert stat_u > 10 * CHI2_19DF_P999, f"uniform sampler not rejected: chi2={stat_u:.1f}"


def test_probabilities_and_importance_weights(client: ReplayClient, spec: TransitionSpec) -> None:
    prio = np.array([0.5, 1.0, 2.0, 4.0, 8.0] * 4)
    _fill(client, spec, prio, chunk_size=6)
    alpha, beta, eps = 0.7, 0.4, 0.01
    s = client.sampler("replay", alpha=alpha, beta=beta, priority_eps=eps, seed=0)
    sb = s.sample(256, timeout_ms=1000)
    idx = check_consistent(sb.data)
    p = (prio + eps) ** alpha
    probs = p / p.sum()
    np.testing.assert_allclose(sb.probabilities, probs[idx], rtol=1e-6)
    n = len(prio)
    w = (n * probs) ** -beta
    np.testing.assert_allclose(sb.weights, w[idx] / w.max(), rtol=1e-5)
    assert sb.weights.max() <= 1.0
    assert sb.ids.dtype == np.int64 and len(np.unique(sb.ids)) == len(np.unique(idx))


def test_priority_updates_change_sampling_and_survive_a_rebuild(
    client: ReplayClient, spec: TransitionSpec
) -> None:
    prio = np.ones(K)
    _fill(client, spec, prio)
    s = client.sampler("replay", alpha=1.0, priority_eps=0.0, seed=5)
    ids_by_index: dict[int, int] = {}
    while len(ids_by_index) < K:
        sb = s.sample(200, timeout_ms=1000)
        ids_by_index.update(zip(sb.data["action"].tolist(), sb.ids.tolist(), strict=True))
    ids = np.array([ids_by_index[i] for i in range(K)])
    new = np.zeros(K)
    new[3], new[7] = 1.0, 3.0  # only transitions 3 and 7 may be drawn now, 1:3
    assert s.update_priorities(ids, new) == K
    got = np.concatenate([s.sample(500).data["action"] for _ in range(20)])
    assert set(got.tolist()) == {3, 7}
    share7 = float(np.mean(got == 7))
    assert abs(share7 - 0.75) < 0.02, share7
    # Priorities were written back into Redis: a brand-new sampler starts from them.
    fresh = ReplayClient(client.url, namespace=client.namespace).sampler(
        "replay", alpha=1.0, priority_eps=0.0, seed=6
    )
    got2 = np.concatenate([fresh.sample(500).data["action"] for _ in range(10)])
    assert set(got2.tolist()) == {3, 7}
    # Ids of evicted transitions are ignored; bad priorities are refused.
    with pytest.raises(ValueError, match="priorities"):
        s.update_priorities(ids[:2], [1.0, -2.0])
    with pytest.raises(ValueError, match="shape"):
        s.update_priorities(ids[:2], [1.0])


def test_updates_for_evicted_ids_are_ignored(client: ReplayClient, spec: TransitionSpec) -> None:
    client.create_table(TableConfig("replay", capacity=100), spec)
    w = client.writer("replay", chunk_size=50)
    w.append(make_batch(spec, 0, 100))
    w.flush()
    s = client.sampler("replay", seed=0)
    old = s.sample(64).ids
    w.append(make_batch(spec, 100, 100))  # evicts all of them
    w.flush()
    s.sample(1)
    assert s.update_priorities(old, np.full(len(old), 5.0)) == 0
    idx = check_consistent(s.sample(500).data)
    assert idx.min() >= 100
