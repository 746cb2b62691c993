"""``ReplayClient``: the one entry point to a Redis-backed replay — tables, writers,
samplers, size and metrics — for one run namespace on one Redis."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from replay.link import ReplayLink
from replay.sampler import ReplaySampler
from replay.writer import ReplayWriter


class ReplayClient(ReplayLink):
    """A connection to the replay of one run (``namespace``) on the Redis at ``url``.

    Promises: everything :class:`~replay.link.ReplayLink` promises (fails fast naming
    the masked URL, keys under ``fsrl:{namespace}:``, reconnects, re-creates lost
    tables); picklable by address, so it crosses into Ray actors and reconnects there;
    :meth:`writer` and :meth:`sampler` open the table's writers and samplers on this
    connection.
    """

    def __init__(
        self,
        url: str,
        namespace: str = "default",
        connect_timeout_s: float = 5.0,
        socket_timeout_s: float = 30.0,
        reconnect_timeout_s: float = 60.0,
    ) -> None:
        super().__init__(url, namespace, connect_timeout_s, socket_timeout_s, reconnect_timeout_s)
        self._last_metrics: dict[str, tuple[float, int, int]] = {}

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (
            ReplayClient,
            (
                self.url,
                self.namespace,
                self.connect_timeout_s,
                self.socket_timeout_s,
                self.reconnect_timeout_s,
            ),
        )

    def __repr__(self) -> str:
        return f"ReplayClient({self.masked_url!r}, namespace={self.namespace!r})"

    def __enter__(self) -> ReplayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ parts
    def writer(
        self,
        table: str,
        chunk_size: int = 64,
        max_pending_chunks: int = 16,
        timeout_ms: int | None = None,
        priority_fn: Callable[[dict[str, np.ndarray]], np.ndarray | None] | None = None,
        max_age_ms: int | None = None,
    ) -> ReplayWriter:
        """A :class:`~replay.writer.ReplayWriter` for ``table`` (used by actors)."""
        return ReplayWriter(
            self,
            table,
            chunk_size=chunk_size,
            max_pending_chunks=max_pending_chunks,
            timeout_ms=timeout_ms,
            priority_fn=priority_fn,
            max_age_ms=max_age_ms,
        )

    def sampler(self, table: str, prioritized: bool = True, **kwargs: Any) -> ReplaySampler:
        """A :class:`~replay.sampler.ReplaySampler` for ``table`` (used by the learner);
        keyword arguments as :class:`~replay.sampler.ReplaySampler` takes them."""
        return ReplaySampler(self, table, prioritized=prioritized, **kwargs)

    # ------------------------------------------------------------------ observing
    def state(self, table: str) -> dict[str, float]:
        """The table's raw counters (size, inserts, deletes, samples, malformed, ...)."""
        key = self.table_keys(table).state
        raw = self.call(lambda: self.redis.hgetall(key), f"state of {table!r}")
        return {k.decode(): float(v) for k, v in raw.items()}

    def size(self, table: str) -> int:
        """Transitions currently stored in ``table``."""
        key = self.table_keys(table).state
        raw = self.call(lambda: self.redis.hget(key, "size"), f"size of {table!r}")
        return int(raw or 0)

    def metrics(self, table: str) -> dict[str, float]:
        """``replay/*`` metrics; rates are over the time since this client's previous call."""
        st = self.state(table)
        config, _ = self.table_info(table)
        now = time.monotonic()
        inserts, samples = int(st.get("inserts", 0)), int(st.get("samples", 0))
        prev = self._last_metrics.get(table)
        self._last_metrics[table] = (now, inserts, samples)
        if prev is not None and now > prev[0]:
            dt = now - prev[0]
            ins_rate = max(0, inserts - prev[1]) / dt
            smp_rate = max(0, samples - prev[2]) / dt
        else:
            ins_rate = smp_rate = 0.0
        return {
            "replay/size": st.get("size", 0.0),
            "replay/capacity": float(config.capacity),
            "replay/inserts_total": float(inserts),
            "replay/samples_total": float(samples),
            "replay/evicted_total": st.get("deletes", 0.0),
            "replay/inserts_per_s": ins_rate,
            "replay/samples_per_s": smp_rate,
            "replay/sample_to_insert_ratio": samples / inserts if inserts else math.nan,
            "replay/insert_blocked_s": st.get("insert_blocked_s", 0.0),
            "replay/sample_blocked_s": st.get("sample_blocked_s", 0.0),
            "replay/malformed_chunks": st.get("malformed", 0.0),
        }
