"""Turning Redis's ``OOM command not allowed ...`` into an error a user can act on."""

from __future__ import annotations

import contextlib
from typing import Any

import redis

from replay.errors import ReplayOutOfMemoryError

MIB = 1 << 20


def is_oom(error: Any) -> bool:
    """True when ``error`` (an exception or its text) is Redis's out-of-memory refusal."""
    return isinstance(error, redis.exceptions.OutOfMemoryError) or "OOM command not allowed" in str(
        error
    )


def _mib(n: int | None) -> str:
    return "unknown" if n is None else f"{n / MIB:,.1f} MiB"


def memory_limits(r: redis.Redis) -> tuple[int | None, int | None]:
    """(maxmemory, used_memory) in bytes; None where the server does not say (managed Redis
    may refuse CONFIG GET). Reads only, which Redis still serves when full."""
    maxmemory = used = None
    with contextlib.suppress(redis.RedisError):
        reply = {
            str(k, "ascii") if isinstance(k, bytes) else k: v
            for k, v in r.config_get("maxmemory").items()
        }
        maxmemory = int(reply.get("maxmemory") or 0)
    with contextlib.suppress(redis.RedisError):
        used = int(r.info("memory")["used_memory"])
    return maxmemory, used


def out_of_memory_error(client: Any, table: str, cause: Any) -> ReplayOutOfMemoryError:
    """The :class:`ReplayOutOfMemoryError` for a refused write into ``table`` (``client``: the
    writer's :class:`~replay.client.ReplayClient`)."""
    config, spec = client.table_info(table)
    per = int(spec.record_dtype.itemsize)
    need = per * int(config.capacity)
    maxmemory, used = memory_limits(client.redis)
    limit = "0 (no limit: the machine ran out)" if maxmemory == 0 else _mib(maxmemory)
    return ReplayOutOfMemoryError(
        f"Redis at {client.masked_url} is out of memory while writing replay table {table!r}: "
        f"capacity {config.capacity:,} transitions x ~{per:,} B = ~{_mib(need)} of records "
        f"(plus chunk headers and indexes); Redis maxmemory {limit}, used {_mib(used)}. "
        f"Lower replay.capacity, or raise Redis's maxmemory (replay.maxmemory_mb for the "
        f"embedded server). Redis said: {str(cause).strip()[:200]}"
    )
