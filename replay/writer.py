"""``ReplayWriter``: how actors put transitions into a table — buffered into chunks,
several chunks per pipelined round trip, each chunk atomic and idempotent."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import redis

from replay import scripts
from replay.codec import MAX_CHUNK_ROWS, encode_chunk_parts
from replay.errors import MalformedChunkError, ReplayError, ReplayTimeoutError
from replay.oom import is_oom, out_of_memory_error
from replay.rawpipe import RawPipe, resp_command

if TYPE_CHECKING:
    from replay.client import ReplayClient, TableKeys

logger = logging.getLogger(__name__)


class ReplayWriter:
    """Buffers transitions with their initial priorities and sends them as chunks.

    Promises: each chunk of ``chunk_size`` transitions becomes visible atomically; a
    chunk re-sent after a dropped connection is stored once (writer id + sequence);
    while the rate limiter holds inserts back, :meth:`append` blocks (up to
    ``timeout_ms``, then :class:`ReplayTimeoutError`) and keeps every unsent chunk;
    :meth:`flush` sends everything buffered. Use as a context manager: leaving the block
    normally flushes. Not thread-safe: one writer per thread.
    """

    def __init__(
        self,
        client: ReplayClient,
        table: str,
        chunk_size: int = 64,
        max_pending_chunks: int = 16,
        timeout_ms: int | None = None,
    ) -> None:
        self.client = client
        self.table = table
        self.config, self.spec = client.table_info(table)
        if not 1 <= int(chunk_size) <= min(MAX_CHUNK_ROWS, self.config.capacity):
            raise ValueError(
                f"chunk_size must be in 1..{min(MAX_CHUNK_ROWS, self.config.capacity)} "
                f"(table {table!r} capacity {self.config.capacity}), got {chunk_size}"
            )
        if int(max_pending_chunks) < 1:
            raise ValueError(f"max_pending_chunks must be >= 1, got {max_pending_chunks}")
        self.chunk_size = int(chunk_size)
        self.max_pending_chunks = int(max_pending_chunks)
        self.timeout_ms = timeout_ms
        self._keys = client.keys(table)
        self._records = np.zeros(self.chunk_size, dtype=self.spec.record_dtype)
        self._priorities = np.zeros(self.chunk_size, dtype=np.float32)
        self._fill = 0
        self._pending: deque[_Chunk] = deque()
        self._inflight = 0  # chunks at the front of _pending sent but not yet answered
        self._malformed: list[str] = []
        self._pipe = RawPipe(client.redis)
        self._writer_id = os.urandom(8)
        self._seq = 0
        self._schema_json = self.spec.to_json().encode()
        self._closed = False
        self.transitions_sent = 0
        self.chunks_sent = 0
        self.blocked_s = 0.0

    # ------------------------------------------------------------------ API
    def append(self, batch: Mapping[str, Any], priorities: Any = None) -> None:
        """Buffer N transitions (``dict`` of arrays with leading dim N) with their initial
        priorities (N floats, finite and >= 0; default 1.0)."""
        if self._closed:
            raise ReplayError(f"writer for table {self.table!r} is closed")
        n = self.spec.check_batch(batch)
        if n == 0:
            return
        if priorities is None:
            prio = np.ones(n, dtype=np.float32)
        else:
            prio = np.asarray(priorities, dtype=np.float32).reshape(-1)
            if prio.shape != (n,):
                raise ValueError(f"priorities must have shape ({n},), got {np.shape(priorities)}")
            if not np.all(np.isfinite(prio)) or np.any(prio < 0):
                raise ValueError(
                    f"priorities must be finite and >= 0, got min {prio.min()} max {prio.max()}"
                )
        arrays = [(name, np.asarray(batch[name])) for name in self.spec.names]
        start = 0
        while start < n:
            take = min(self.chunk_size - self._fill, n - start)
            lo, hi = self._fill, self._fill + take
            for name, arr in arrays:
                self._records[name][lo:hi] = arr[start : start + take]
            self._priorities[lo:hi] = prio[start : start + take]
            self._fill = hi
            start += take
            if self._fill == self.chunk_size:
                self._seal()
        if len(self._pending) - self._inflight >= self.max_pending_chunks:
            self._pump()

    def flush(self, timeout_ms: int | None = None) -> None:
        """Send every buffered transition; blocks while the rate limiter holds inserts
        back, raising :class:`ReplayTimeoutError` after ``timeout_ms`` (unsent chunks kept)."""
        if self._fill:
            self._seal()
        self._send(self._deadline(timeout_ms if timeout_ms is not None else self.timeout_ms))

    @property
    def pending_transitions(self) -> int:
        """Transitions buffered or sent but not yet acknowledged."""
        return self._fill + sum(c[2] for c in self._pending)

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

    def _seal(self) -> None:
        n = self._fill
        self._seq += 1
        head, body = encode_chunk_parts(
            self.spec, self._records[:n], self._priorities[:n], self._writer_id, self._seq,
            schema_json=self._schema_json,
        )  # fmt: skip
        self._pending.append((head, body, n))
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
                self.client._reload_scripts()  # Redis restarted: staged chunks expire
                return "retry"
            if isinstance(reply, Exception) and is_oom(reply):
                raise out_of_memory_error(self.client, self.table, reply)
            if isinstance(reply, Exception):
                raise ReplayError(
                    f"insert into {self.table!r} on {self.client.masked_url} failed: {reply}"
                )
            code = int(reply[0])
            if code in (scripts.OK, scripts.DUP):
                chunk = self._pending.popleft()
                self.transitions_sent += chunk[2]
                self.chunks_sent += 1
            elif code == scripts.MALFORMED:
                self._pending.popleft()
                self._malformed.append(bytes(reply[1]).decode(errors="replace"))
            elif code == scripts.NO_TABLE:
                self.client.ensure_table(self.table)
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
                replies = self.client.call(
                    functools.partial(send_chunks, self._pipe, self._keys, chunks),
                    f"insert into {self.table!r}",
                )
            except (ReplayError, redis.ResponseError) as exc:
                if is_oom(exc):
                    raise out_of_memory_error(self.client, self.table, exc) from exc
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
        self.client.add_blocked_time(self.table, "insert", seconds)


#: Staged chunks that are never committed (a failed transaction) expire after this.
STAGE_TTL_MS = 60_000
_MULTI = resp_command("MULTI")
_EXEC = resp_command("EXEC")
_PX = b"\r\n" + resp_command("PX", STAGE_TTL_MS)[len(b"*2\r\n") :]

#: An encoded chunk: (header .. schema bytes, record bytes, transitions).
_Chunk = tuple[bytes, memoryview | bytes, int]


def _stage_and_commit(
    keys: TableKeys, sha: str, head: bytes, body: memoryview | bytes
) -> list[Any]:
    staged = f"{keys.prefix}stage:{os.urandom(8).hex()}".encode()
    set_head = b"*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (
        len(staged), staged, len(head) + len(body)
    )  # fmt: skip
    commit = resp_command(
        "EVALSHA", sha, 3, keys.meta, keys.state, keys.writers, keys.chunk_prefix, staged
    )
    return [set_head + head, body, _PX + commit]


def chunk_commands(keys: TableKeys, chunks: list[_Chunk]) -> list[Any]:
    """RESP buffers of one MULTI/EXEC staging and committing ``chunks`` (record bytes
    are passed through as they are: never joined or copied)."""
    sha = scripts.SHAS["commit"]
    parts: list[Any] = [_MULTI]
    for head, body, _n in chunks:
        parts += _stage_and_commit(keys, sha, head, body)
    parts.append(_EXEC)
    return parts


def parse_exec(replies: list[Any]) -> list[Any]:
    """The commit replies (one per chunk) out of ``[OK, QUEUED..., EXEC reply]``."""
    exec_reply = replies[-1]
    if isinstance(exec_reply, Exception) or not isinstance(exec_reply, list):
        queued = [r for r in replies[:-1] if isinstance(r, Exception)]
        raise ReplayError(f"chunk transaction failed: {exec_reply} {queued[:1]}")
    return list(exec_reply[1::2])


def send_chunks(pipe: RawPipe, keys: TableKeys, chunks: list[_Chunk]) -> list[Any]:
    """Stage and commit ``chunks`` in one MULTI/EXEC round trip; one commit reply per
    chunk."""
    return parse_exec(pipe.request(chunk_commands(keys, chunks), 2 + 2 * len(chunks)))


def insert_chunks(client: ReplayClient, table: str, chunks: list[bytes]) -> list[Any]:
    """Insert whole encoded chunks (bytes) in one MULTI/EXEC; one commit reply per chunk
    (``[code, ...]``, see :mod:`replay.scripts`, or an exception). Low-level: writers
    use :func:`send_chunks`."""
    pipe = RawPipe(client.redis)
    try:
        return send_chunks(pipe, client.keys(table), [(blob, b"", 0) for blob in chunks])
    finally:
        pipe.close()
