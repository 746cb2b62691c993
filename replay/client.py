"""``ReplayClient``: the one entry point to a Redis-backed replay — tables, writers,
samplers, size and metrics — for one run namespace on one Redis."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import redis

from replay import scripts
from replay.connection import connect, mask_url, with_retry
from replay.errors import ReplayError, SchemaMismatchError
from replay.schema import TransitionSpec
from replay.table import TableConfig

if TYPE_CHECKING:
    from replay.sampler import ReplaySampler
    from replay.writer import ReplayWriter

logger = logging.getLogger(__name__)
T = TypeVar("T")

_INF = 1e300  # Lua numbers: stands in for +-inf in the meta hash

# KEYS: meta, state. ARGV: field/value pairs for meta. Creates the table if absent and
# returns {1}; otherwise returns {0, digest, config json}.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  local m = redis.call('HMGET', KEYS[1], 'digest', 'config')
  return {0, m[1], m[2]}
end
redis.call('HSET', KEYS[1], unpack(ARGV))
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'head', 0, 'tail', 1, 'size', 0, 'inserts', 0, 'deletes', 0,
  'samples', 0, 'malformed', 0, 'insert_blocked_s', 0, 'sample_blocked_s', 0)
return {1}
"""


@dataclass(frozen=True)
class TableKeys:
    """Redis keys of one table, all under ``fsrl:{namespace}:t:{table}:``."""

    prefix: str

    @property
    def meta(self) -> str:
        return self.prefix + "meta"

    @property
    def state(self) -> str:
        return self.prefix + "state"

    @property
    def writers(self) -> str:
        return self.prefix + "writers"

    @property
    def chunk_prefix(self) -> str:
        return self.prefix + "c:"

    def chunk(self, seq: int) -> str:
        return f"{self.prefix}c:{seq}"


class ReplayClient:
    """A connection to the replay of one run (``namespace``) on the Redis at ``url``.

    Promises: construction fails within ``connect_timeout_s`` with a
    :class:`~replay.errors.ReplayConnectionError` naming the (password-masked) URL if
    Redis is unreachable or refuses the credentials; every key lives under
    ``fsrl:{namespace}:``; a dropped connection is retried with backoff for up to
    ``reconnect_timeout_s`` and, if Redis came back empty, the tables this client knows
    are re-created. Picklable by address: it crosses into Ray actors and reconnects there.
    """

    def __init__(
        self,
        url: str,
        namespace: str = "default",
        connect_timeout_s: float = 5.0,
        socket_timeout_s: float = 30.0,
        reconnect_timeout_s: float = 60.0,
    ) -> None:
        if (
            not isinstance(namespace, str)
            or not namespace
            or not namespace.isascii()
            or any(c in namespace for c in " \t\n{}")
        ):
            raise ValueError(
                f"namespace must be a non-empty ASCII string without spaces or braces, got {namespace!r}"
            )
        self.url = url
        self.namespace = namespace
        self.connect_timeout_s = float(connect_timeout_s)
        self.socket_timeout_s = float(socket_timeout_s)
        self.reconnect_timeout_s = float(reconnect_timeout_s)
        self.redis: redis.Redis = connect(url, self.connect_timeout_s, self.socket_timeout_s)
        self._create_sha = self.redis.script_load(_CREATE)
        scripts.load_all(self.redis)
        self._tables: dict[str, tuple[TableConfig, TransitionSpec]] = {}
        self._last_metrics: dict[str, tuple[float, int, int]] = {}

    # ------------------------------------------------------------------ plumbing
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
        return f"ReplayClient({mask_url(self.url)!r}, namespace={self.namespace!r})"

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def keys(self, table: str) -> TableKeys:
        return TableKeys(f"fsrl:{self.namespace}:t:{table}:")

    def close(self) -> None:
        self.redis.close()

    def __enter__(self) -> ReplayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, fn: Callable[[], T], what: str = "redis call") -> T:
        """Run ``fn`` with reconnect-and-retry; scripts are reloaded after a reconnect."""
        return with_retry(
            fn, self.url, self.reconnect_timeout_s, on_retry=self._reload_scripts, what=what
        )

    def _reload_scripts(self) -> None:
        self.redis.script_load(_CREATE)
        scripts.load_all(self.redis)

    def evalsha(
        self, name: str, keys: Sequence[str], args: Sequence[Any], what: str | None = None
    ) -> Any:
        """Run one of :mod:`replay.scripts` (reloading it if the server forgot it)."""
        sha = scripts.SHAS[name]

        def run() -> Any:
            try:
                return self.redis.evalsha(sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                self._reload_scripts()
                return self.redis.evalsha(sha, len(keys), *keys, *args)

        return self.call(run, what or name)

    # ------------------------------------------------------------------ tables
    def create_table(self, config: TableConfig, spec: TransitionSpec) -> TableConfig:
        """Create ``config.name`` for transitions of ``spec``; idempotent.

        Raises :class:`SchemaMismatchError` if the table exists with another spec or
        config (naming both), so two runs cannot silently mix data.
        """
        if not isinstance(config, TableConfig):
            raise TypeError(f"create_table expects a TableConfig, got {type(config).__name__}")
        self._create(config, spec)
        self._tables[config.name] = (config, spec)
        return config

    def _create(self, config: TableConfig, spec: TransitionSpec) -> None:
        keys = self.keys(config.name)
        min_diff, max_diff = config.diff_bounds()
        cfg_json = json.dumps(asdict(config), sort_keys=True)
        fields: list[Any] = [
            "name", config.name,
            "spec", spec.to_json(),
            "digest", spec.digest,
            "record_size", spec.record_size,
            "capacity", config.capacity,
            "min_size", config.min_size_to_sample,
            "spi", config.samples_per_insert if config.rate_limited else 1.0,
            "min_diff", repr(max(min_diff, -_INF)),
            "max_diff", repr(min(max_diff, _INF)),
            "epoch", os.urandom(8).hex(),
            "created_s", repr(time.time()),
            "config", cfg_json,
        ]  # fmt: skip

        def run() -> Any:
            try:
                return self.redis.evalsha(self._create_sha, 2, keys.meta, keys.state, *fields)
            except redis.exceptions.NoScriptError:
                self._reload_scripts()
                return self.redis.evalsha(self._create_sha, 2, keys.meta, keys.state, *fields)

        reply = self.call(run, f"create_table {config.name!r}")
        if int(reply[0]) == 1:
            logger.info("created replay table %s (capacity %d)", keys.prefix, config.capacity)
            return
        digest, existing_cfg = reply[1], (reply[2] or b"").decode()
        if digest != spec.digest:
            raise SchemaMismatchError(
                f"table {keys.prefix} on {self.masked_url} exists with a different transition spec "
                f"(digest {bytes(digest).hex()} != {spec.digest.hex()}); use another namespace or table name"
            )
        if existing_cfg and json.loads(existing_cfg) != json.loads(cfg_json):
            raise SchemaMismatchError(
                f"table {keys.prefix} on {self.masked_url} exists with config {existing_cfg}, "
                f"not {cfg_json}"
            )

    def table_info(self, table: str) -> tuple[TableConfig, TransitionSpec]:
        """The table's config and spec (read from Redis once, then cached)."""
        if table in self._tables:
            return self._tables[table]
        keys = self.keys(table)
        raw = self.call(
            lambda: self.redis.hmget(keys.meta, "config", "spec"), f"read table {table!r}"
        )
        if raw[0] is None:
            raise ReplayError(
                f"no replay table {keys.prefix} on {self.masked_url}; call create_table first"
            )
        doc = json.loads(raw[0])
        if isinstance(doc.get("error_buffer"), list):
            doc["error_buffer"] = tuple(doc["error_buffer"])
        info = (TableConfig(**doc), TransitionSpec.from_json(raw[1]))
        self._tables[table] = info
        return info

    def ensure_table(self, table: str) -> None:
        """Re-create ``table`` from the cached config if Redis lost it (e.g. a restart
        without persistence), so the run goes on."""
        config, spec = self.table_info(table)
        logger.warning("replay table %s missing on %s; re-creating it", table, self.masked_url)
        self._create(config, spec)

    def delete_table(self, table: str) -> int:
        """Delete every key of ``table``; returns how many keys were removed."""
        keys = self.keys(table)
        removed = 0
        for batch in _batched(self.redis.scan_iter(match=keys.prefix + "*", count=1000), 500):
            removed += int(self.redis.unlink(*batch))
        self._tables.pop(table, None)
        return removed

    # ------------------------------------------------------------------ parts
    def writer(self, table: str, chunk_size: int = 64, **kwargs: Any) -> ReplayWriter:
        """A :class:`~replay.writer.ReplayWriter` for ``table`` (used by actors)."""
        from replay.writer import ReplayWriter

        return ReplayWriter(self, table, chunk_size=chunk_size, **kwargs)

    def sampler(self, table: str, prioritized: bool = True, **kwargs: Any) -> ReplaySampler:
        """A :class:`~replay.sampler.ReplaySampler` for ``table`` (used by the learner)."""
        from replay.sampler import ReplaySampler

        return ReplaySampler(self, table, prioritized=prioritized, **kwargs)

    # ------------------------------------------------------------------ observing
    def state(self, table: str) -> dict[str, float]:
        """The table's raw counters (size, inserts, deletes, samples, malformed, ...)."""
        raw = self.call(lambda: self.redis.hgetall(self.keys(table).state), f"state of {table!r}")
        return {k.decode(): float(v) for k, v in raw.items()}

    def size(self, table: str) -> int:
        """Transitions currently stored in ``table``."""
        raw = self.call(
            lambda: self.redis.hget(self.keys(table).state, "size"), f"size of {table!r}"
        )
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

    def add_blocked_time(self, table: str, kind: str, seconds: float) -> None:
        """Account ``seconds`` spent blocked by the rate limiter (kind: insert|sample)."""
        key = self.keys(table).state
        try:
            self.call(
                lambda: self.redis.hincrbyfloat(key, f"{kind}_blocked_s", seconds), "blocked time"
            )
        except ReplayError:
            logger.debug("could not record blocked time", exc_info=True)


def _batched(it: Any, n: int) -> Any:
    batch: list[Any] = []
    for item in it:
        batch.append(item)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch
