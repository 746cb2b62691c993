"""``ChunkIndex``: a sampler's in-process view of a table — which chunks are live, where
their transitions sit in a ring of positions, and a sum-tree over their weights.

It is fed the answers of the ``index``/``gate`` scripts (the chunks inserted since the
last look: sequence number, header and priorities) and validates each header
(checksum, schema digest, record size, priorities) before a chunk becomes drawable.
It never talks to Redis itself.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import numpy as np

from replay.codec import HEADER_SIZE, ChunkHeader, decode_header, decode_priorities
from replay.errors import MalformedChunkError
from replay.schema import TransitionSpec
from replay.sumtree import SumTree

logger = logging.getLogger(__name__)

#: A sample id is ``(chunk seq << ROW_BITS) | row``.
ROW_BITS = 16


class ChunkIndex:
    """The live chunks of one table and a sum-tree over their transitions' weights.

    Promises: a transition's weight is ``(priority + priority_eps) ** alpha``
    (prioritized; a positive base never rounds to 0) or 1 (uniform); evicted chunks
    weigh 0 at once; a malformed chunk is never indexed (its seq is returned for
    counting); an answer from a table with another epoch (re-created) resets the index.
    Positions live in a ring of ``2 × capacity`` (live transitions never exceed the
    capacity and a chunk never exceeds it, so positions never collide).
    """

    def __init__(
        self,
        table: str,
        spec: TransitionSpec,
        capacity: int,
        prioritized: bool,
        alpha: float,
        priority_eps: float,
    ) -> None:
        self.table = table
        self.spec = spec
        self.prioritized = bool(prioritized)
        self.alpha = float(alpha)
        self.priority_eps = float(priority_eps)
        self.record_size = spec.record_size
        self.P = 2 * int(capacity)
        self.tree = SumTree(self.P)
        self.pos_seq = np.zeros(self.P, dtype=np.int64)
        self.pos_row = np.zeros(self.P, dtype=np.int64)
        self.c_seq = np.full(self.P, -1, dtype=np.int64)  # indexed by seq % P
        self.c_start = np.zeros(self.P, dtype=np.int64)
        self.c_n = np.zeros(self.P, dtype=np.int64)
        self.c_body = np.zeros(self.P, dtype=np.int64)
        self._live: deque[int] = deque()
        self.count = 0  # live indexed transitions
        self._write_pos = 0
        self.next_seq = 0
        self.head = 0
        self.epoch: bytes | None = None
        self.rebuilds = 0

    def reset(self) -> None:
        """Forget every chunk (the table is gone or was re-created)."""
        self.tree.clear()
        self.c_seq.fill(-1)
        self._live.clear()
        self.count = 0
        self._write_pos = 0
        self.next_seq = 0
        self.head = 0
        self.epoch = None

    def apply(self, head: int, tail: int, epoch: bytes, flat: list[Any]) -> tuple[bool, list[int]]:
        """Apply one index answer: ``(False, [])`` if the table changed epoch (the index
        was reset: ask again from seq 0), else ``(True, seqs of malformed chunks)``."""
        if epoch != self.epoch:
            if self.epoch is not None:
                logger.warning("replay table %s was re-created; rebuilding the index", self.table)
                self.reset()
                self.epoch = epoch
                self.rebuilds += 1
                return False, []
            self.epoch = epoch
            self.rebuilds += 1
        self._evict_before(tail)
        bad = self._add_chunks(flat)
        self.next_seq = max(self.next_seq, tail)
        self.head = head
        return True, bad

    def _evict_before(self, tail: int) -> None:
        dropped: list[np.ndarray] = []
        while self._live and self._live[0] < tail:
            seq = self._live.popleft()
            slot = seq % self.P
            n, start = int(self.c_n[slot]), int(self.c_start[slot])
            dropped.append((start + np.arange(n)) % self.P)
            self.c_seq[slot] = -1
            self.count -= n
        if dropped:
            pos = np.concatenate(dropped)
            self.tree.update(pos, np.zeros(pos.shape[0]))

    def _add_chunks(self, flat: list[Any]) -> list[int]:
        positions: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        bad_seqs: list[int] = []
        for i in range(0, len(flat), 2):
            seq, prefix = int(flat[i]), flat[i + 1]
            self.next_seq = max(self.next_seq, seq + 1)
            try:
                header = self._check_header(prefix)
                prio = decode_priorities(prefix, header)
            except MalformedChunkError as exc:
                bad_seqs.append(seq)
                logger.warning("table %s chunk %d rejected: %s", self.table, seq, exc)
                continue
            n = header.n
            pos = (self._write_pos + np.arange(n)) % self.P
            self._write_pos = (self._write_pos + n) % self.P
            slot = seq % self.P
            self.c_seq[slot], self.c_start[slot], self.c_n[slot] = seq, pos[0], n
            self.c_body[slot] = header.body_offset
            self.pos_seq[pos] = seq
            self.pos_row[pos] = np.arange(n)
            self._live.append(seq)
            self.count += n
            positions.append(pos)
            weights.append(self.weights_of(prio))
        if positions:
            self.tree.update(np.concatenate(positions), np.concatenate(weights))
        return bad_seqs

    def _check_header(self, prefix: bytes) -> ChunkHeader:
        header = decode_header(prefix)
        if header.spec_digest != self.spec.digest:
            raise MalformedChunkError("schema digest differs from the table's")
        if header.record_size != self.record_size:
            raise MalformedChunkError(f"record size {header.record_size} != {self.record_size}")
        if len(prefix) != HEADER_SIZE + 4 * header.n:
            raise MalformedChunkError("chunk truncated in its priorities")
        return header

    def weights_of(self, priorities: np.ndarray) -> np.ndarray:
        """Sum-tree weights ``(priority + eps)^alpha`` of validated (finite, >= 0)
        priorities; a positive base never rounds to a zero weight."""
        if not self.prioritized:
            return np.ones(priorities.shape[0], dtype=np.float64)
        base = priorities.astype(np.float64) + self.priority_eps
        w = base**self.alpha
        return np.where(base > 0, np.maximum(w, np.finfo(np.float64).tiny), w)

    # ---------------------------------------------------------------- draws
    def ids(self, positions: np.ndarray) -> np.ndarray:
        """Sample ids of ring ``positions``."""
        return (self.pos_seq[positions] << ROW_BITS) | self.pos_row[positions]

    def record_offsets(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(chunk seqs, byte offsets of the records)`` of ring ``positions``."""
        seqs = self.pos_seq[positions]
        offsets = self.c_body[seqs % self.P] + self.pos_row[positions] * self.record_size
        return seqs, offsets

    def gone(self, positions: np.ndarray, drawn_seqs: np.ndarray) -> np.ndarray:
        """Which draws point at a chunk evicted since it was drawn (or at weight 0)."""
        return (self.c_seq[drawn_seqs % self.P] != drawn_seqs) | (self.tree.get(positions) <= 0)

    def set_priorities(self, ids: np.ndarray, prio: np.ndarray) -> np.ndarray:
        """New priorities for sampled ``ids``; returns the mask of ids still live."""
        seqs, rows = ids >> ROW_BITS, ids & ((1 << ROW_BITS) - 1)
        slots = seqs % self.P
        live = (self.c_seq[slots] == seqs) & (rows < self.c_n[slots])
        if live.any():
            pos = (self.c_start[slots[live]] + rows[live]) % self.P
            self.tree.update(pos, self.weights_of(prio[live]))
        return live
