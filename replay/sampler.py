"""``ReplaySampler``: uniform or proportional prioritized sampling for the learner.

The priority index (a numpy sum-tree) lives in this process. It learns about new
chunks incrementally — the table's chunk sequence counter tells what is new, one
script returns the new chunks' headers and priorities — validates each header
(checksum, schema digest, priorities), and is rebuilt from Redis from scratch when
the sampler starts or the table was re-created, so a restarted learner loses no
experience. Sampled transitions are read as single fixed-size records (one pipelined
GETRANGE per draw, one round trip per batch), so the sampler checks each record's
framing (exact length) but not the chunk-wide body checksum — that one is verified by
whole-chunk readers (:func:`replay.codec.decode_chunk`); Redis itself guards the bytes
in between (TCP, no partial commits).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from replay import scripts
from replay.codec import (
    HEADER_SIZE,
    ChunkHeader,
    decode_header,
    decode_priorities,
    records_to_batch,
)
from replay.errors import MalformedChunkError, ReplayError, ReplayTimeoutError
from replay.rawpipe import RawPipe, resp_command
from replay.sumtree import SumTree

if TYPE_CHECKING:
    from replay.client import ReplayClient

logger = logging.getLogger(__name__)

ROW_BITS = 16  # sample id = (chunk seq << 16) | row
_INDEX_BATCH_CHUNKS = 2048


_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)
_F32_TINY = float(np.finfo(np.float32).tiny)
_F32_MAX = float(np.finfo(np.float32).max)


def _digits(x: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative int64s, vectorized."""
    return 1 + (x[:, None] >= _POW10[None, :]).sum(axis=1)


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
        client: ReplayClient,
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
        self.client = client
        self.table = table
        self.config, self.spec = client.table_info(table)
        self.prioritized = bool(prioritized)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.priority_eps = float(priority_eps)
        self.persist_priorities = bool(persist_priorities)
        self._keys = client.keys(table)
        self._rng = np.random.default_rng(seed)
        self._rs = self.spec.record_size
        # Ring of positions: live transitions never exceed capacity and a chunk never
        # exceeds capacity, so 2 x capacity positions never collide.
        self._P = 2 * self.config.capacity
        self._tree = SumTree(self._P)
        self._pos_seq = np.zeros(self._P, dtype=np.int64)
        self._pos_row = np.zeros(self._P, dtype=np.int64)
        self._c_seq = np.full(self._P, -1, dtype=np.int64)  # indexed by seq % P
        self._c_start = np.zeros(self._P, dtype=np.int64)
        self._c_n = np.zeros(self._P, dtype=np.int64)
        self._c_body = np.zeros(self._P, dtype=np.int64)
        self._live: deque[int] = deque()
        self._count = 0  # live indexed transitions
        self._write_pos = 0
        self._next_seq = 0
        self._head = 0
        self._epoch: bytes | None = None
        self._last_index_s = 0.0
        self._pipe = RawPipe(client.redis)
        self._templates: dict[int, bytes] = {}
        self._cp_len = len(self._keys.chunk_prefix.encode())
        self._lock = threading.RLock()  # sample / update_priorities / refresh may race
        self._probe = False
        self.malformed_chunks = 0
        self.blocked_s = 0.0
        self.rebuilds = 0
        self.refresh()

    # ------------------------------------------------------------------ index
    @property
    def indexed_size(self) -> int:
        """Transitions this sampler can currently draw from."""
        return self._count

    def _reset(self) -> None:
        self._tree.clear()
        self._c_seq.fill(-1)
        self._live.clear()
        self._count = 0
        self._write_pos = 0
        self._next_seq = 0
        self._head = 0
        self._epoch = None

    def refresh(self) -> None:
        """Index every chunk inserted since the last look and drop evicted ones."""
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        while True:
            keys = self._keys
            reply = self.client.evalsha(
                "index", [keys.meta, keys.state], [keys.chunk_prefix, self._next_seq, _INDEX_BATCH_CHUNKS],
                what=f"index {self.table!r}",
            )  # fmt: skip
            if int(reply[0]) == scripts.NO_TABLE:
                self.client.ensure_table(self.table)
                self._reset()
                continue
            if not self._apply_index(int(reply[1]), int(reply[2]), bytes(reply[3]), reply[4:]):
                continue  # the table was re-created: start over from its first chunk
            if self._head < self._next_seq:
                return

    def _apply_index(self, head: int, tail: int, epoch: bytes, flat: list[Any]) -> bool:
        """Apply one index answer; False if the table changed epoch (index was reset)."""
        if epoch != self._epoch:
            if self._epoch is not None:
                logger.warning("replay table %s was re-created; rebuilding the index", self.table)
                self._reset()
                self._epoch = epoch
                self.rebuilds += 1
                return False
            self._epoch = epoch
            self.rebuilds += 1
        self._evict_before(tail)
        self._add_chunks(flat)
        self._next_seq = max(self._next_seq, tail)
        self._head = head
        self._last_index_s = time.monotonic()
        return True

    def _evict_before(self, tail: int) -> None:
        dropped: list[np.ndarray] = []
        while self._live and self._live[0] < tail:
            seq = self._live.popleft()
            slot = seq % self._P
            n, start = int(self._c_n[slot]), int(self._c_start[slot])
            dropped.append((start + np.arange(n)) % self._P)
            self._c_seq[slot] = -1
            self._count -= n
        if dropped:
            pos = np.concatenate(dropped)
            self._tree.update(pos, np.zeros(pos.shape[0]))

    def _add_chunks(self, flat: list[Any]) -> None:
        positions: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        bad_seqs: list[int] = []
        for i in range(0, len(flat), 2):
            seq, prefix = int(flat[i]), flat[i + 1]
            self._next_seq = max(self._next_seq, seq + 1)
            try:
                header = self._check_header(prefix)
                prio = decode_priorities(prefix, header)
            except MalformedChunkError as exc:
                bad_seqs.append(seq)
                logger.warning("table %s chunk %d rejected: %s", self.table, seq, exc)
                continue
            n = header.n
            pos = (self._write_pos + np.arange(n)) % self._P
            self._write_pos = (self._write_pos + n) % self._P
            slot = seq % self._P
            self._c_seq[slot], self._c_start[slot], self._c_n[slot] = seq, pos[0], n
            self._c_body[slot] = header.body_offset
            self._pos_seq[pos] = seq
            self._pos_row[pos] = np.arange(n)
            self._live.append(seq)
            self._count += n
            positions.append(pos)
            weights.append(self._weights_of(prio))
        if positions:
            self._tree.update(np.concatenate(positions), np.concatenate(weights))
        if bad_seqs:
            self.malformed_chunks += len(bad_seqs)
            self.client.call(lambda: self._count_malformed(bad_seqs), "count malformed chunks")

    def _count_malformed(self, seqs: list[int]) -> None:
        """Count each bad chunk once, however many samplers or rebuilds meet it."""
        key = self._keys.prefix + "bad"
        new = sum(int(self.client.redis.sadd(key, seq)) for seq in seqs)
        if new:
            self.client.redis.hincrby(self._keys.state, "malformed", new)

    def _check_header(self, prefix: bytes) -> ChunkHeader:
        header = decode_header(prefix)
        if header.spec_digest != self.spec.digest:
            raise MalformedChunkError("schema digest differs from the table's")
        if header.record_size != self._rs:
            raise MalformedChunkError(f"record size {header.record_size} != {self._rs}")
        if len(prefix) != HEADER_SIZE + 4 * header.n:
            raise MalformedChunkError("chunk truncated in its priorities")
        return header

    def _weights_of(self, priorities: np.ndarray) -> np.ndarray:
        """Sum-tree weights ``(priority + eps)^alpha`` of validated (finite, >= 0)
        priorities; a positive base never rounds to a zero weight."""
        if not self.prioritized:
            return np.ones(priorities.shape[0], dtype=np.float64)
        base = priorities.astype(np.float64) + self.priority_eps
        w = base**self.alpha
        return np.where(base > 0, np.maximum(w, np.finfo(np.float64).tiny), w)

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
            if self._count == 0:
                self._refresh()
            result = self._try_sample(batch_size, decode) if self._count > 0 else None
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
                    f"(indexed {self._count} transitions) past the {timeout_ms} ms timeout"
                )
            time.sleep(delay_s if deadline is None else max(0.0, min(delay_s, deadline - now)))
            delay_s = min(delay_s * 2, 0.02)

    def _try_sample(self, batch_size: int, decode: bool = True) -> SampleBatch | None:
        """One sampling attempt; None if the rate limiter (or a table reset) said no."""
        if self._probe and not self._gate_open(batch_size):
            return None
        positions = self._tree.sample(batch_size, self._rng)
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
                drawn_seqs = self._pos_seq[positions]
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
            if not self._apply_index(*index_part) or self._count == 0:
                return None
            gone = (self._c_seq[drawn_seqs % self._P] != drawn_seqs) | (
                self._tree.get(positions) <= 0
            )
            gone[todo] = True
            todo = np.flatnonzero(gone)
            positions[todo] = self._tree.sample(todo.size, self._rng)
            drawn_seqs[todo] = self._pos_seq[positions[todo]]
        total = self._tree.total
        leaves = self._tree.get(positions)
        probs = leaves / total
        if self.prioritized:
            # (N P_i)^-b / max_j (N P_j)^-b = (w_min / w_i)^b with w_min the smallest
            # positive live leaf: N and the total cancel, and every drawn leaf is >= w_min
            # > 0, so the ratio lies in (0, 1]; the clip keeps float32 from rounding it
            # to 0 (or past 1).
            ratio = self._tree.min() / leaves
            weights = np.clip(ratio**self.beta, _F32_TINY, 1.0).astype(np.float32)
        else:
            weights = np.ones(batch_size, dtype=np.float32)
        ids = (self._pos_seq[positions] << ROW_BITS) | self._pos_row[positions]
        batch = SampleBatch(
            ids=ids,
            data=records_to_batch(records) if decode else {},
            weights=weights,
            probabilities=probs,
            records=None if decode else records,
        )
        self._apply_index(*index_part)  # chunks inserted meanwhile join for the next draw
        return batch

    def _gate_command(self, batch_size: int, count: bool) -> bytes:
        keys = self._keys
        return resp_command(
            "EVALSHA", scripts.SHAS["gate"], 2, keys.meta, keys.state, keys.chunk_prefix,
            batch_size, self._next_seq, _INDEX_BATCH_CHUNKS, 1 if count else 0,
        )  # fmt: skip

    def _gate_reply(self, reply: Any) -> tuple[int, tuple[Any, ...]] | None:
        """Handle the gate's answer; None if the table is gone or was re-created."""
        if isinstance(reply, Exception):
            if "NOSCRIPT" in str(reply):
                self.client._reload_scripts()
                return None
            raise ReplayError(
                f"sampling {self.table!r} on {self.client.masked_url} failed: {reply}"
            )
        code = int(reply[0])
        if code == scripts.NO_TABLE:
            self.client.ensure_table(self.table)
            self._reset()
            return None
        index_part = (int(reply[1]), int(reply[2]), bytes(reply[3]), reply[4:])
        if index_part[2] != self._epoch:  # re-created table: our positions mean nothing
            self._apply_index(*index_part)
            return None
        return code, index_part

    def _gate_open(self, batch_size: int) -> bool:
        """Ask the rate limiter (without counting) whether a batch may be drawn now."""
        payload = self._gate_command(batch_size, count=False)
        reply = self.client.call(
            lambda: self._pipe.request(payload, 1)[0], f"sample {self.table!r}"
        )
        handled = self._gate_reply(reply)
        if handled is None:
            return False
        self._apply_index(*handled[1])
        if handled[0] == scripts.OK:
            self._probe = False
            return True
        return False

    def _getrange_commands(self, seqs: np.ndarray, offsets: np.ndarray) -> bytes:
        """``GETRANGE c:<seq> <off> <off + record_size - 1>`` per draw, in RESP, built
        with one ``%`` formatting call (no per-draw Python string work)."""
        b = seqs.shape[0]
        template = self._templates.get(b)
        if template is None:
            cp = self._keys.chunk_prefix.encode().replace(b"%", b"%%")
            one = b"*4\r\n$8\r\nGETRANGE\r\n$%d\r\n" + cp + b"%d\r\n$%d\r\n%d\r\n$%d\r\n%d\r\n"
            template = self._templates[b] = one * b
        ends = offsets + (self._rs - 1)
        args = np.empty((b, 6), dtype=np.int64)
        args[:, 0] = self._cp_len + _digits(seqs)
        args[:, 1] = seqs
        args[:, 2] = _digits(offsets)
        args[:, 3] = offsets
        args[:, 4] = _digits(ends)
        args[:, 5] = ends
        return template % tuple(args.ravel().tolist())

    def _fetch(self, positions: np.ndarray) -> tuple[np.ndarray, list[int], tuple[Any, ...]] | None:
        """One GETRANGE per draw, then the gate, pipelined in one round trip.

        Returns ``(records, missing draw indices, index news)``; records of draws whose
        chunk was evicted meanwhile are zeros. The gate runs after the reads, so a
        refused batch is simply dropped (and not counted)."""
        b = positions.shape[0]
        seqs = self._pos_seq[positions]
        offsets = self._c_body[seqs % self._P] + self._pos_row[positions] * self._rs
        payload = self._getrange_commands(seqs, offsets) + self._gate_command(b, count=True)

        def roundtrip() -> tuple[bytearray | None, list[Any]]:
            self._pipe.send(payload)
            return self._pipe.recv_bulk_run(b, self._rs, 1)

        buf, replies = self.client.call(roundtrip, f"sample {self.table!r}")
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
        self.client.add_blocked_time(self.table, "sample", seconds)

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
        seqs, rows = ids >> ROW_BITS, ids & ((1 << ROW_BITS) - 1)
        slots = seqs % self._P
        live = (self._c_seq[slots] == seqs) & (rows < self._c_n[slots])
        if not live.any():
            return 0
        seqs, rows, prio = seqs[live], rows[live], prio[live]
        pos = (self._c_start[slots[live]] + rows) % self._P
        self._tree.update(pos, self._weights_of(prio))
        if self.persist_priorities:
            packed = np.empty(seqs.shape[0], dtype=[("s", "<u4"), ("o", "<u4")])
            packed["s"], packed["o"] = seqs, HEADER_SIZE + 4 * rows
            self.client.evalsha(
                "update_priorities", [],
                [self._keys.chunk_prefix, packed.tobytes(), prio.astype("<f4").tobytes()],
                what=f"update priorities in {self.table!r}",
            )  # fmt: skip
        return int(live.sum())

    def close(self) -> None:
        """Close the sampler's dedicated connection; idempotent."""
        self._pipe.close()
