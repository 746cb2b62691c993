"""The learner's prefetch thread against a real Redis replay: what its batches hold."""

from __future__ import annotations

import numpy as np
import torch

from agents.dqn.learner import TorchBatch
from learner.prefetch import Prefetcher
from replay import ReplayClient, TableConfig, TransitionSpec

N = 4096


def test_each_prefetched_batch_spans_the_whole_replay(redis_url: str, namespace: str) -> None:
    """One sampler call serves several batches; each must cover every age of the replay
    (a contiguous slice of the stratified draws would hold one age band only)."""
    client = ReplayClient(redis_url, namespace=namespace)
    spec = TransitionSpec.standard((4,), np.float32)
    client.create_table(TableConfig("replay", capacity=10_000), spec)
    with client.writer("replay", chunk_size=64) as w:
        batch = spec.empty_batch(N)
        batch["obs"][:] = np.arange(N)[:, None]
        batch["action"][:] = np.arange(N) % 2
        w.append(batch, np.ones(N))
        w.flush(timeout_ms=2000)
    sampler = client.sampler("replay", prioritized=True, seed=0)
    cpu = torch.device("cpu")
    prefetcher = Prefetcher(
        sampler, batch_size=64, depth=16, prepare=lambda d, w: TorchBatch.from_numpy(d, w, cpu)
    )
    assert prefetcher.group == 8
    prefetcher.start()
    try:
        batches = [prefetcher.get(timeout_s=10.0) for _ in range(prefetcher.group)]
    finally:
        prefetcher.stop()
        client.close()
    for item in batches:
        assert item is not None
        age = item.batch.obs[:, 0].numpy()
        assert age.min() < 0.15 * N and age.max() > 0.85 * N, (age.min(), age.max())
        # spread evenly: every quarter of the replay is in every batch
        quarters = np.bincount((age * 4 // N).astype(np.int64), minlength=4)
        assert quarters.min() >= 8, quarters
