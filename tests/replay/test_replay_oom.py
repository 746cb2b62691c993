"""A full Redis (tiny maxmemory, noeviction) surfaces as a ReplayOutOfMemoryError that
names the table, its capacity and Redis's maxmemory, and keeps the unsent chunk."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from replay import ReplayClient, ReplayOutOfMemoryError, TableConfig, TransitionSpec
from replay.embedded import EmbeddedRedis


@pytest.fixture()
def small_redis() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(maxmemory_mb=3) as server:
        yield server


def test_writing_past_maxmemory_names_table_capacity_and_maxmemory(
    small_redis: EmbeddedRedis, namespace: str
) -> None:
    spec = TransitionSpec.standard((256,), np.float32)  # ~2 KiB per transition
    with ReplayClient(small_redis.url, namespace=namespace, connect_timeout_s=2) as client:
        client.create_table(TableConfig(name="big", capacity=100_000, min_size_to_sample=1), spec)
        obs = np.ones((64, 256), np.float32)
        batch = {
            "obs": obs, "next_obs": obs, "action": np.zeros(64, np.int64),
            "reward": np.zeros(64, np.float32), "discount": np.ones(64, np.float32),
            "terminated": np.zeros(64, bool), "truncated": np.zeros(64, bool),
            "n_steps": np.ones(64, np.uint8), "policy_version": np.zeros(64, np.int64),
            "actor_id": np.zeros(64, np.int32),
        }  # fmt: skip
        writer = client.writer("big", chunk_size=64)
        with pytest.raises(ReplayOutOfMemoryError) as info:
            for _ in range(200):  # ~26 MiB against a 3 MiB limit
                writer.append(batch, np.ones(64, np.float32))
                writer.flush(timeout_ms=5000)
        msg = str(info.value)
        assert "'big'" in msg and "capacity 100,000 transitions" in msg
        assert "maxmemory 3.0 MiB" in msg and "replay.capacity" in msg
        assert writer.pending_transitions > 0  # the refused chunk is kept, not lost
        stored = client.size("big")
        assert 0 < stored < 200 * 64
