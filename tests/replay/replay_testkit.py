"""Helpers shared by the replay tests: batches whose every field encodes the transition index."""

from __future__ import annotations

import numpy as np

from replay import TransitionSpec


def make_batch(spec: TransitionSpec, start: int, n: int) -> dict[str, np.ndarray]:
    """Transitions start..start+n-1 whose every field encodes their index (checkable)."""
    b = spec.empty_batch(n)
    idx = np.arange(start, start + n)
    b["obs"][:] = idx[:, None]
    b["next_obs"][:] = idx[:, None] + 0.5
    b["action"][:] = idx
    b["reward"][:] = idx * 0.25
    b["policy_version"][:] = idx
    return b


def check_consistent(data: dict[str, np.ndarray]) -> np.ndarray:
    """Every sampled row must be one whole transition written by make_batch."""
    idx = data["action"]
    np.testing.assert_array_equal(
        data["obs"], np.repeat(idx[:, None], 4, axis=1).astype(np.float32)
    )
    np.testing.assert_array_equal(data["next_obs"], data["obs"] + 0.5)
    np.testing.assert_array_equal(data["reward"], (idx * 0.25).astype(np.float32))
    np.testing.assert_array_equal(data["policy_version"], idx)
    return idx


def racing_writer(url: str, namespace: str, writer_no: int, chunk_size: int, chunks: int) -> None:
    """Child-process body: write ``chunks`` chunks whose rows name (writer, chunk, row)."""
    from replay import ReplayClient

    client = ReplayClient(url, namespace=namespace)
    _, spec = client.table_info("replay")
    with client.writer("replay", chunk_size=chunk_size, max_pending_chunks=4) as w:
        for c in range(1, chunks + 1):
            b = spec.empty_batch(chunk_size)
            b["actor_id"][:] = writer_no
            b["policy_version"][:] = c
            b["action"][:] = np.arange(chunk_size)
            b["obs"][:] = (writer_no * 1000 + c) % 65536
            b["next_obs"][:] = b["obs"] + 1
            w.append(b, np.full(chunk_size, 1.0 + writer_no))
