"""``ReplaySampler``: uniform or proportional prioritized sampling for the learner.

The priority index (:class:`~replay.sampler_index.ChunkIndex`, a numpy sum-tree) lives
in this process. It learns about new chunks incrementally — the table's chunk sequence
counter tells what is new, one script returns the new chunks' headers and priorities —
and is rebuilt from Redis from scratch when the sampler starts or the table was
re-created, so a restarted learner loses no experience. Sampled transitions are read
as single fixed-size records (one pipelined GETRANGE per draw, one round trip per
batch, :mod:`replay.sampler_requests`), so the sampler checks each record's framing
(exact length) but not the chunk-wide body checksum — that one is verified by
whole-chunk readers (:func:`replay.codec.decode_chunk`); Redis itself guards the bytes
in between (TCP, no partial commits).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from replay import scripts
from replay.codec import HEADER_SIZE, records_to_batch
from replay.errors import ReplayError, ReplayTimeoutError
from replay.link import ReplayLink
from replay.rawpipe import RawPipe
from replay.sampler_index import ROW_BITS, ChunkIndex
from replay.sampler_requests import INDEX_BATCH_CHUNKS, RecordReads, gate_command

logger = logging.getLogger(__name__)

_F32_TINY = float(np.finfo(np.float32).tiny)
_F32_MAX = float(np.finfo(np.float32).max)


@dataclass
class SampleBatch:
    """A sampled batch: ``ids`` (for :meth:`ReplaySampler.update_priorities`), ``data``
    (field -> array with leading dim B), importance ``weights`` (float32, max 1) and the
    sampling ``probabilities`` (float64). Sampled with ``decode=False``, ``data`` is
    empty and ``records`` holds the raw structured records instead."""

    ids: np.ndarray
    data: dict[str, np.ndarray]
    weights: np.ndarray
    probabilities: np.ndarray
    records: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ids.shape[0])


class ReplaySampler:
    """Samples transitions from one table.

    Promises: with ``prioritized=True`` transition i is drawn with probability
    ``p_i^alpha / sum_j p_j^alpha`` where ``p_i = priority_i + priority_eps`` (so a
    priority of 0 still leaves ``priority_eps``; with ``priority_eps=0`` it makes the
    transition undrawable), and its importance weight is
    ``(N * P(i))^-beta / max_j (N * P(j))^-beta`` over the live j with ``P(j) > 0``:
    always finite and in (0, 1]; no draw ever has probability 0. Otherwise draws are
    uniform with weight 1. Priorities that are NaN, infinite, negative or beyond float32
    are refused with a ValueError naming the first offender. :meth:`sample` blocks while
    the rate limiter says so (up to ``timeout_ms``, then :class:`ReplayTimeoutError`);
    malformed chunks are counted (``replay/malformed_chunks``) and never served; evicted
    transitions are never served.
    Thread-safe (one lock), though one thread per sampler is the intended use.
    """

    def __init__(
        self,
        link: ReplayLink,
        table: str,
        prioritized: bool = True,
        alpha: float = 0.6,
        beta: float = 0.4,
        priority_eps: float = 1e-6,
        seed: int | None = None,
        persist_priorities: bool = True,
    ) -> None:
        if alpha < 0 or beta < 0 or priority_eps < 0:
            raise ValueError(
                f"alpha, beta and priority_eps must be >= 0, got {alpha}, {beta}, {priority_eps}"
            )
        self.link = link
        self.table = table
        self.config, self.spec = link.table_info(table)
        self.prioritized = bool(prioritized)
        self.beta = float(beta)
        self.persist_priorities = bool(persist_priorities)
        self._keys = link.table_keys(table)
        self._rng = np.random.default_rng(seed)
        self._rs = self.spec.record_size
        self._index = ChunkIndex(
            table, self.spec, self.config.capacity, self.prioritized, alpha, priority_eps
        )
        self._reads = RecordReads(self._keys, self._rs)
        self._pipe = RawPipe(link.redis)
        self._lock = threading.RLock()  # sample / update_priorities / refresh may race
        self._probe = False
        self._last_index_s = 0.0
        self.malformed_chunks = 0
        self.blocked_s = 0.0
        self.refresh()

    @property
    def alpha(self) -> float:
        return self._index.alpha

    @property
    def priority_eps(self) -> float:
        return self._index.priority_eps

    @property
    def rebuilds(self) -> int:
        """How often the index was built from scratch (1 after the first look)."""
        return self._index.rebuilds

    # ------------------------------------------------------------------ index
    @property
    def indexed_size(self) -> int:
        """Transitions this sampler can currently draw from."""
        return self._index.count

    def refresh(self) -> None:
        """Index every chunk inserted since the last look and drop evicted ones."""
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        idx = self._index
        while True:
            keys = self._keys
            reply = self.link.evalsha(
                "index", [keys.meta, keys.state], [keys.chunk_prefix, idx.next_seq, INDEX_BATCH_CHUNKS],
                what=f"index {self.table!r}",
            )  # fmt: skip
            if int(reply[0]) == scripts.NO_TABLE:
                self.link.ensure_table(self.table)
                idx.reset()
                continue
            if not self._apply_index(int(reply[1]), int(reply[2]), bytes(reply[3]), reply[4:]):
                continue  # the table was re-created: start over from its first chunk
            if idx.head < idx.next_seq:
                return

    def _apply_index(self, head: int, tail: int, epoch: bytes, flat: list[Any]) -> bool:
        """Apply one index answer; False if the table changed epoch (index was reset)."""
        ok, bad_seqs = self._index.apply(head, tail, epoch, flat)
        if ok:
            self._last_index_s = time.monotonic()
        if bad_seqs:
            self.malformed_chunks += len(bad_seqs)
            self.link.call(lambda: self._count_malformed(bad_seqs), "count malformed chunks")
        return ok

    def _count_malformed(self, seqs: list[int]) -> None:
        """Count each bad chunk once, however many samplers or rebuilds meet it."""
        new = sum(int(self.link.redis.sadd(self._keys.bad, seq)) for seq in seqs)
        if new:
            self.link.redis.hincrby(self._keys.state, "malformed", new)

    # ------------------------------------------------------------------ sampling
    def sample(
        self, batch_size: int, timeout_ms: int | None = None, decode: bool = True
    ) -> SampleBatch:
        """Draw ``batch_size`` transitions (with replacement), decoded to numpy columns
        (``decode=False``: left as the table's structured records, for shipping on)."""
        with self._lock:
            return self._sample(batch_size, timeout_ms, decode)

    def _sample(self, batch_size: int, timeout_ms: int | None, decode: bool = True) -> SampleBatch:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000.0
        blocked_since: float | None = None
        delay_s = 0.0005
        while True:
            if self._index.count == 0:
                self._refresh()
            result = self._try_sample(batch_size, decode) if self._index.count > 0 else None
            if result is not None:
                if blocked_since is not None:
                    self._account_blocked(time.monotonic() - blocked_since)
                return result
            now = time.monotonic()
            if blocked_since is None:
                blocked_since = now
            if deadline is not None and now >= deadline:
                self._account_blocked(now - blocked_since)
                raise ReplayTimeoutError(
                    f"sample of {batch_size} from table {self.table!r} blocked by the rate limiter "
                    f"(indexed {self._index.count} transitions) past the {timeout_ms} ms timeout"
                )
            time.sleep(delay_s if deadline is None else max(0.0, min(delay_s, deadline - now)))
            delay_s = min(delay_s * 2, 0.02)

    def _try_sample(self, batch_size: int, decode: bool = True) -> SampleBatch | None:
        """One sampling attempt; None if the rate limiter (or a table reset) said no."""
        if self._probe and not self._gate_open(batch_size):
            return None
        idx = self._index
        positions = idx.tree.sample(batch_size, self._rng)
        records: np.ndarray | None = None
        todo = np.arange(batch_size)
        drawn_seqs: np.ndarray | None = None  # chunk of each draw, once a redraw may be due
        while True:
            reply = self._fetch(positions[todo])
            if reply is None:
                self._probe = True  # until the gate opens, ask without fetching records
                return None
            got, missing, index_part = reply
            if records is None and not missing:
                records = got  # the common case: one fetch, nothing evicted meanwhile
                break
            if records is None:
                records = np.empty(batch_size, dtype=self.spec.record_dtype)
                drawn_seqs = idx.pos_seq[positions]
            assert drawn_seqs is not None
            ok = np.ones(todo.size, dtype=bool)
            ok[np.asarray(missing, dtype=np.int64)] = False
            records[todo[ok]] = got[ok]
            todo = todo[~ok]
            if not todo.size:
                break
            # Evicted since our last look: apply the news, then redraw those. The news
            # may also evict chunks whose records this batch already read (a writer ran
            # between our reads and the gate): their leaves are now 0, so they are
            # redrawn as well — serving them would hand out probability-0 draws (and
            # infinite importance weights) of transitions already gone.
            if not self._apply_index(*index_part) or self._index.count == 0:
                return None
            gone = idx.gone(positions, drawn_seqs)
            gone[todo] = True
            todo = np.flatnonzero(gone)
            positions[todo] = idx.tree.sample(todo.size, self._rng)
            drawn_seqs[todo] = idx.pos_seq[positions[todo]]
        total = idx.tree.total
        leaves = idx.tree.get(positions)
        probs = leaves / total
        if self.prioritized:
            # (N P_i)^-b / max_j (N P_j)^-b = (w_min / w_i)^b with w_min the smallest
            # positive live leaf: N and the total cancel, and every drawn leaf is >= w_min
            # > 0, so the ratio lies in (0, 1]; the clip keeps float32 from rounding it
            # to 0 (or past 1).
            ratio = idx.tree.min() / leaves
            weights = np.clip(ratio**self.beta, _F32_TINY, 1.0).astype(np.float32)
        else:
            weights = np.ones(batch_size, dtype=np.float32)
        ids = idx.ids(positions)
        batch = SampleBatch(
            ids=ids,
            data=records_to_batch(records) if decode else {},
            weights=weights,
            probabilities=probs,
            records=None if decode else records,
        )
        self._apply_index(*index_part)  # chunks inserted meanwhile join for the next draw
        return batch

    def _gate_reply(self, reply: Any) -> tuple[int, tuple[Any, ...]] | None:
        """Handle the gate's answer; None if the table is gone or was re-created."""
        if isinstance(reply, Exception):
            if "NOSCRIPT" in str(reply):
                self.link.reload_scripts()
                return None
            raise ReplayError(f"sampling {self.table!r} on {self.link.masked_url} failed: {reply}")
        code = int(reply[0])
        if code == scripts.NO_TABLE:
            self.link.ensure_table(self.table)
            self._index.reset()
            return None
        index_part = (int(reply[1]), int(reply[2]), bytes(reply[3]), reply[4:])
        if index_part[2] != self._index.epoch:  # re-created table: our positions mean nothing
            self._apply_index(*index_part)
            return None
        return code, index_part

    def _gate_open(self, batch_size: int) -> bool:
        """Ask the rate limiter (without counting) whether a batch may be drawn now."""
        payload = gate_command(self._keys, batch_size, self._index.next_seq, count=False)
        reply = self.link.call(lambda: self._pipe.request(payload, 1)[0], f"sample {self.table!r}")
        handled = self._gate_reply(reply)
        if handled is None:
            return False
        self._apply_index(*handled[1])
        if handled[0] == scripts.OK:
            self._probe = False
            return True
        return False

    def _fetch(self, positions: np.ndarray) -> tuple[np.ndarray, list[int], tuple[Any, ...]] | None:
        """One GETRANGE per draw, then the gate, pipelined in one round trip.

        Returns ``(records, missing draw indices, index news)``; records of draws whose
        chunk was evicted meanwhile are zeros. The gate runs after the reads, so a
        refused batch is simply dropped (and not counted)."""
        b = positions.shape[0]
        seqs, offsets = self._index.record_offsets(positions)
        payload = self._reads.command(seqs, offsets) + gate_command(
            self._keys, b, self._index.next_seq, count=True
        )

        def roundtrip() -> tuple[bytearray | None, list[Any]]:
            self._pipe.send(payload)
            return self._pipe.recv_bulk_run(b, self._rs, 1)

        buf, replies = self.link.call(roundtrip, f"sample {self.table!r}")
        handled = self._gate_reply(replies[-1])
        if handled is None:
            return None
        code, index_part = handled
        if code != scripts.OK:
            self._apply_index(*index_part)
            return None
        dtype = self.spec.record_dtype
        if buf is not None:  # every record arrived whole: a strided view, no copy yet
            h = len(b"$%d\r\n" % self._rs)
            view = np.ndarray((b,), dtype=dtype, buffer=buf, offset=h, strides=(h + self._rs + 2,))
            return view, [], index_part
        records = replies[:-1]
        missing = [
            i for i, r in enumerate(records) if not isinstance(r, bytes) or len(r) != self._rs
        ]
        zero = bytes(self._rs)
        for i in missing:
            records[i] = zero
        return np.frombuffer(b"".join(records), dtype=dtype, count=b), missing, index_part

    def _account_blocked(self, seconds: float) -> None:
        self.blocked_s += seconds
        self.link.add_blocked_time(self.table, "sample", seconds)

    # ------------------------------------------------------------------ priorities
    def update_priorities(self, ids: Any, priorities: Any) -> int:
        """Set new priorities (e.g. |TD error|) for sampled ``ids``; ids evicted since
        they were sampled are ignored. Returns how many were applied. Priorities are
        also written into their chunks, so a rebuilt index starts from them."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        prio = np.asarray(priorities, dtype=np.float64).reshape(-1)
        if ids.shape != prio.shape:
            raise ValueError(f"ids {ids.shape} and priorities {prio.shape} differ in shape")
        bad = ~(np.isfinite(prio) & (prio >= 0) & (prio <= _F32_MAX))
        if bad.any():  # beyond float32 would be stored as inf and poison the chunk
            i = int(np.argmax(bad))
            raise ValueError(
                f"priorities must be finite, >= 0 and <= {_F32_MAX:.4g} (float32): "
                f"index {i} (id {int(ids[i])}) is {float(prio[i])!r} ({int(bad.sum())} bad of "
                f"{prio.size}); nothing was updated"
            )
        if not self.prioritized or ids.size == 0:
            return 0
        with self._lock:
            return self._update_priorities(ids, prio)

    def _update_priorities(self, ids: np.ndarray, prio: np.ndarray) -> int:
        live = self._index.set_priorities(ids, prio)
        if not live.any():
            return 0
        if self.persist_priorities:
            ids, prio = ids[live], prio[live]
            packed = np.empty(ids.shape[0], dtype=[("s", "<u4"), ("o", "<u4")])
            packed["s"] = ids >> ROW_BITS
            packed["o"] = HEADER_SIZE + 4 * (ids & ((1 << ROW_BITS) - 1))
            self.link.evalsha(
                "update_priorities", [],
                [self._keys.chunk_prefix, packed.tobytes(), prio.astype("<f4").tobytes()],
                what=f"update priorities in {self.table!r}",
            )  # fmt: skip
        return int(live.sum())

    def close(self) -> None:
        """Close the sampler's dedicated connection; idempotent."""
        self._pipe.close()
