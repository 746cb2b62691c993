"""``ReplayWriter``: how actors put transitions into a table — the one place that cuts
them into chunks, several chunks per pipelined round trip, each chunk atomic and
idempotent."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import redis

from replay import scripts
from replay.chunk_io import Chunk, chunk_commands, parse_exec, send_chunks
from replay.codec import MAX_CHUNK_ROWS, encode_chunk_parts, records_to_batch
from replay.errors import MalformedChunkError, ReplayError, ReplayTimeoutError
from replay.link import ReplayLink
from replay.oom import is_oom, out_of_memory_error
from replay.rawpipe import RawPipe

logger = logging.getLogger(__name__)

#: Computes the initial priorities of one chunk from its columns (flat names, as the
#: spec); None keeps the default 1.0 (``ActorPolicy.priorities`` fits as it is).
PriorityFn = Callable[[dict[str, np.ndarray]], "np.ndarray | None"]


class ReplayWriter:
    """Buffers transitions and sends them as chunks of exactly ``chunk_size``.

    Promises: each chunk becomes visible atomically; a chunk re-sent after a dropped
    connection is stored once (writer id + sequence); rows appended without priorities
    get them from ``priority_fn`` — called once per sealed chunk with that chunk's
    columns — or 1.0 when there is none; while the rate limiter holds inserts back,
    :meth:`append` blocks (up to ``timeout_ms``, then :class:`ReplayTimeoutError`) and
    keeps every unsent chunk; :meth:`flush` sends everything buffered (a partial chunk
    too); :meth:`flush_due` does that only once the oldest unsent transition is
    ``max_age_ms`` old (cheap to call every env step). A ``priority_fn`` that raises or
    returns bad values loses nothing: the chunk is stored with priority 1.0 for those
    rows and the call that sealed it raises ValueError naming the problem. Use as a
    context manager: leaving the block normally flushes. Not thread-safe: one writer
    per thread.
    """

    def __init__(
        self,
        link: ReplayLink,
        table: str,
        chunk_size: int = 64,
        max_pending_chunks: int = 16,
        timeout_ms: int | None = None,
        priority_fn: PriorityFn | None = None,
        max_age_ms: int | None = None,
    ) -> None:
        self.link = link
        self.table = table
        self.config, self.spec = link.table_info(table)
        if not 1 <= int(chunk_size) <= min(MAX_CHUNK_ROWS, self.config.capacity):
            raise ValueError(
                f"chunk_size must be in 1..{min(MAX_CHUNK_ROWS, self.config.capacity)} "
                f"(table {table!r} capacity {self.config.capacity}), got {chunk_size}"
            )
        if int(max_pending_chunks) < 1:
            raise ValueError(f"max_pending_chunks must be >= 1, got {max_pending_chunks}")
        if max_age_ms is not None and max_age_ms < 0:
            raise ValueError(f"max_age_ms must be >= 0 or None, got {max_age_ms}")
        if priority_fn is not None and not callable(priority_fn):
            raise TypeError(f"priority_fn must be callable, got {type(priority_fn).__name__}")
        self.chunk_size = int(chunk_size)
        self.max_pending_chunks = int(max_pending_chunks)
        self.timeout_ms = timeout_ms
        self.priority_fn = priority_fn
        self.max_age_ms = None if max_age_ms is None else int(max_age_ms)
        self._keys = link.table_keys(table)
        self._records = np.zeros(self.chunk_size, dtype=self.spec.record_dtype)
        self._priorities = np.ones(self.chunk_size, dtype=np.float32)
        self._missing = np.zeros(self.chunk_size, dtype=bool)  # rows awaiting priority_fn
        self._fill = 0
        self._fill_since = 0.0
        self._pending: deque[Chunk] = deque()
        self._inflight = 0  # chunks at the front of _pending sent but not yet answered
        self._malformed: list[str] = []
        self._priority_error: str | None = None
        self._pipe = RawPipe(link.redis)
        self._writer_id = os.urandom(8)
        self._seq = 0
        self._schema_json = self.spec.to_json().encode()
        self._closed = False
        self.transitions_sent = 0
        self.chunks_sent = 0
        self.priority_errors = 0
        self.blocked_s = 0.0

    # ------------------------------------------------------------------ API
    def append(self, batch: Mapping[str, Any], priorities: Any = None) -> None:
        """Buffer N transitions (``dict`` of arrays with leading dim N) with their initial
        priorities (N floats, finite and >= 0), or None: ``priority_fn`` computes them
        when the chunk is sealed (1.0 without one)."""
        if self._closed:
            raise ReplayError(f"writer for table {self.table!r} is closed")
        n = self.spec.check_batch(batch)
        if n == 0:
            return
        missing = priorities is None and self.priority_fn is not None
        if priorities is None:
            prio = np.ones(n, dtype=np.float32)
        else:
            prio = np.asarray(priorities, dtype=np.float32).reshape(-1)
            if prio.shape != (n,):
                raise ValueError(f"priorities must have shape ({n},), got {np.shape(priorities)}")
            _check_priorities(prio, "priorities")
        arrays = [(name, np.asarray(batch[name])) for name in self.spec.names]
        start = 0
        while start < n:
            if self._fill == 0:
                self._fill_since = time.monotonic()
            take = min(self.chunk_size - self._fill, n - start)
            lo, hi = self._fill, self._fill + take
            for name, arr in arrays:
                self._records[name][lo:hi] = arr[start : start + take]
            self._priorities[lo:hi] = prio[start : start + take]
            self._missing[lo:hi] = missing
            self._fill = hi
            start += take
            if self._fill == self.chunk_size:
                self._seal()
        if len(self._pending) - self._inflight >= self.max_pending_chunks:
            self._pump()
        self._raise_priority_error()

    def flush(self, timeout_ms: int | None = None) -> None:
        """Send every buffered transition; blocks while the rate limiter holds inserts
        back, raising :class:`ReplayTimeoutError` after ``timeout_ms`` (unsent chunks kept)."""
        if self._fill:
            self._seal()
        self._send(self._deadline(timeout_ms if timeout_ms is not None else self.timeout_ms))
        self._raise_priority_error()

    @property
    def sealed_chunks(self) -> int:
        """Whole chunks sealed but not yet sent (the partial chunk being filled excluded)."""
        return len(self._pending) - self._inflight

    def send_sealed(self, timeout_ms: int | None = None) -> None:
        """Send the sealed chunks, not the partial one; blocks like :meth:`flush` while the
        rate limiter holds inserts back (:class:`ReplayTimeoutError` after ``timeout_ms``)."""
        if self._pending:
            self._send(self._deadline(timeout_ms if timeout_ms is not None else self.timeout_ms))
        self._raise_priority_error()

    def flush_due(self, timeout_ms: int | None = None) -> bool:
        """:meth:`flush` if the oldest unsent transition was appended ``max_age_ms`` ago or
        more (a partial chunk is sealed and sent); True when it flushed. Without
        ``max_age_ms``, or with nothing buffered, it does nothing (one comparison)."""
        if self.max_age_ms is None:
            return False
        if self._pending:
            since = self._pending[0].since
        elif self._fill:
            since = self._fill_since
        else:
            return False
        if (time.monotonic() - since) * 1000.0 < self.max_age_ms:
            return False
        self.flush(timeout_ms)
        return True

    @property
    def pending_transitions(self) -> int:
        """Transitions buffered or sent but not yet acknowledged."""
        return self._fill + sum(c.n for c in self._pending)

    def close(self, timeout_ms: int | None = None) -> None:
        """Flush and close; idempotent."""
        if self._closed:
            return
        try:
            self.flush(timeout_ms)
        finally:
            self._closed = True
            self._pipe.close()

    def __enter__(self) -> ReplayWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            if self.pending_transitions:
                logger.warning(
                    "writer for %s closed by an exception with %d transitions unsent",
                    self.table, self.pending_transitions,
                )  # fmt: skip
            self._closed = True
            self._pipe.close()

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _deadline(timeout_ms: int | None) -> float | None:
        return None if timeout_ms is None else time.monotonic() + timeout_ms / 1000.0

    def _raise_priority_error(self) -> None:
        if self._priority_error is not None:
            msg, self._priority_error = self._priority_error, None
            raise ValueError(msg)

    def _fill_priorities(self, n: int) -> None:
        """Run ``priority_fn`` over the chunk's columns for the rows appended without
        priorities; on failure they keep 1.0 and the error is raised after the append."""
        missing = self._missing[:n]
        if self.priority_fn is None or not missing.any():
            return
        try:
            out = self.priority_fn(records_to_batch(self._records[:n]))
            if out is None:  # the agent has no opinion: the default
                return
            computed = np.asarray(out, dtype=np.float32).reshape(-1)
            if computed.shape != (n,):
                raise ValueError(f"returned shape {computed.shape} for a chunk of {n} rows")
            _check_priorities(computed[missing], "returned priorities")
        except Exception as exc:  # an agent's bug must not lose the chunk
            self.priority_errors += 1
            if self._priority_error is None:
                self._priority_error = (
                    f"priority_fn of the writer for table {self.table!r} failed: {exc}; "
                    f"the chunk was stored with priority 1.0 for those rows"
                )
            return
        self._priorities[:n][missing] = computed[missing]

    def _seal(self) -> None:
        n = self._fill
        self._fill_priorities(n)
        self._seq += 1
        head, body = encode_chunk_parts(
            self.spec, self._records[:n], self._priorities[:n], self._writer_id, self._seq,
            schema_json=self._schema_json,
        )  # fmt: skip
        self._pending.append(Chunk(head, body, n, self._fill_since))
        # The sealed chunk keeps a zero-copy view of the records: start a fresh buffer.
        self._records = np.zeros(self.chunk_size, dtype=self.spec.record_dtype)
        self._fill = 0

    def _pump(self) -> None:
        """Send the unsent chunks without waiting for their answers, after collecting the
        previous request's — so encoding the next chunks overlaps Redis committing these.
        Anything but a clean run of acknowledgements falls back to :meth:`_send`."""
        if self._inflight and not self._collect():
            self._send(self._deadline(self.timeout_ms))
            return
        chunks = list(self._pending)
        try:
            self._pipe.send(chunk_commands(self._keys, chunks))
        except redis.ConnectionError:
            self._send(self._deadline(self.timeout_ms))  # reconnects with backoff
            return
        self._inflight = len(chunks)

    def _collect(self) -> bool:
        """Read the answers of the request in flight; True if every chunk was stored."""
        n, self._inflight = self._inflight, 0
        try:
            replies = parse_exec(self._pipe.recv(2 + 2 * n))
        except (redis.ConnectionError, ReplayError):
            return False
        return self._apply(replies) == "ok"

    def _apply(self, replies: list[Any]) -> str:
        """Acknowledge stored chunks from the front of the queue; 'ok' if all were,
        else 'blocked' (rate limiter) or 'retry' (table re-created, scripts reloaded)."""
        for reply in replies:
            if isinstance(reply, Exception) and "NOSCRIPT" in str(reply):
                self.link.reload_scripts()  # Redis restarted: staged chunks expire
                return "retry"
            if isinstance(reply, Exception) and is_oom(reply):
                raise out_of_memory_error(self.link, self.table, reply)
            if isinstance(reply, Exception):
                raise ReplayError(
                    f"insert into {self.table!r} on {self.link.masked_url} failed: {reply}"
                )
            code = int(reply[0])
            if code in (scripts.OK, scripts.DUP):
                chunk = self._pending.popleft()
                self.transitions_sent += chunk.n
                self.chunks_sent += 1
            elif code == scripts.MALFORMED:
                self._pending.popleft()
                self._malformed.append(bytes(reply[1]).decode(errors="replace"))
            elif code == scripts.NO_TABLE:
                self.link.ensure_table(self.table)
                return "retry"
            else:
                return "blocked"  # the rate limiter (or an earlier chunk was held back)
        return "ok"

    def _send(self, deadline: float | None) -> None:
        """Send every pending chunk and wait until all are stored (or the deadline)."""
        if self._inflight:
            self._collect()
        blocked_since: float | None = None
        delay_s = 0.0005
        probe = False  # after a block, probe with one chunk instead of re-sending all
        while self._pending:
            chunks = [self._pending[0]] if probe else list(self._pending)
            try:
                replies = self.link.call(
                    functools.partial(send_chunks, self._pipe, self._keys, chunks),
                    f"insert into {self.table!r}",
                )
            except (ReplayError, redis.ResponseError) as exc:
                if is_oom(exc):
                    raise out_of_memory_error(self.link, self.table, exc) from exc
                raise
            if self._apply(replies) != "blocked" or not self._pending:
                probe = False
                continue
            now = time.monotonic()
            if blocked_since is None:
                blocked_since = now
            if deadline is not None and now >= deadline:
                self._account_blocked(now - blocked_since)
                raise ReplayTimeoutError(
                    f"insert into table {self.table!r} held back by the rate limiter; "
                    f"{len(self._pending)} chunks still pending after the timeout"
                )
            probe = True
            time.sleep(delay_s if deadline is None else max(0.0, min(delay_s, deadline - now)))
            delay_s = min(delay_s * 2, 0.02)
        if blocked_since is not None:
            self._account_blocked(time.monotonic() - blocked_since)
        if self._malformed:
            bad, self._malformed = self._malformed, []
            raise MalformedChunkError(
                f"table {self.table!r} rejected {len(bad)} chunk(s) as malformed: {bad[0]}"
            )

    def _account_blocked(self, seconds: float) -> None:
        self.blocked_s += seconds
        self.link.add_blocked_time(self.table, "insert", seconds)


def _check_priorities(prio: np.ndarray, what: str) -> None:
    """ValueError naming the bad values unless every priority is finite and >= 0."""
    if prio.size and (not np.all(np.isfinite(prio)) or np.any(prio < 0)):
        raise ValueError(f"{what} must be finite and >= 0, got min {prio.min()} max {prio.max()}")
