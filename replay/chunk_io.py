"""The Redis commands that insert chunks: each chunk staged under a random key and
committed by the ``commit`` script inside one MULTI/EXEC (so it is visible whole or
not at all), several chunks per round trip, record bytes never joined or copied."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from replay import scripts
from replay.errors import ReplayError
from replay.keys import TableKeys
from replay.link import ReplayLink
from replay.rawpipe import RawPipe, resp_command


class Chunk(NamedTuple):
    """An encoded chunk: header .. schema bytes, record bytes, transitions, and when its
    first transition was appended (monotonic seconds)."""

    head: bytes
    body: memoryview | bytes
    n: int
    since: float


#: Staged chunks that are never committed (a failed transaction) expire after this.
STAGE_TTL_MS = 60_000
_MULTI = resp_command("MULTI")
_EXEC = resp_command("EXEC")
_PX = b"\r\n" + resp_command("PX", STAGE_TTL_MS)[len(b"*2\r\n") :]


def _stage_and_commit(
    keys: TableKeys, sha: str, head: bytes, body: memoryview | bytes
) -> list[Any]:
    staged = f"{keys.stage_prefix}{os.urandom(8).hex()}".encode()
    set_head = b"*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" % (
        len(staged), staged, len(head) + len(body)
    )  # fmt: skip
    commit = resp_command(
        "EVALSHA", sha, 3, keys.meta, keys.state, keys.writers, keys.chunk_prefix, staged
    )
    return [set_head + head, body, _PX + commit]


def chunk_commands(keys: TableKeys, chunks: list[Chunk]) -> list[Any]:
    """RESP buffers of one MULTI/EXEC staging and committing ``chunks`` (record bytes
    are passed through as they are: never joined or copied)."""
    sha = scripts.SHAS["commit"]
    parts: list[Any] = [_MULTI]
    for head, body, _n, _since in chunks:
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


def send_chunks(pipe: RawPipe, keys: TableKeys, chunks: list[Chunk]) -> list[Any]:
    """Stage and commit ``chunks`` in one MULTI/EXEC round trip; one commit reply per
    chunk."""
    return parse_exec(pipe.request(chunk_commands(keys, chunks), 2 + 2 * len(chunks)))


def insert_chunks(link: ReplayLink, table: str, chunks: list[bytes]) -> list[Any]:
    """Insert whole encoded chunks (bytes) in one MULTI/EXEC; one commit reply per chunk
    (``[code, ...]``, see :mod:`replay.scripts`, or an exception). Low-level: writers
    use :func:`send_chunks`."""
    pipe = RawPipe(link.redis)
    try:
        whole = [Chunk(blob, b"", 0, 0.0) for blob in chunks]
        return send_chunks(pipe, link.table_keys(table), whole)
    finally:
        pipe.close()
