"""``ReplayLink``: one run's connection to its Redis — retries, scripts, tables.

What writers and samplers need from Redis and nothing more: a connection that fails
fast naming the URL and rides out short outages, the server-side scripts (reloaded
after a restart), the run's keys (:class:`~replay.keys.RunKeys`) and the tables' config
and spec (created, read, re-created when Redis lost them).
:class:`~replay.client.ReplayClient` is a link that also opens writers and samplers.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

import redis

from conf.urls import mask_url
from replay import scripts
from replay.connection import connect, with_retry
from replay.errors import ReplayError, SchemaMismatchError
from replay.keys import RunKeys, TableKeys
from replay.schema import TransitionSpec
from replay.table import TableConfig

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


class ReplayLink:
    """A connection to the replay of one run (``namespace``) on the Redis at ``url``.

    Promises: construction fails within ``connect_timeout_s`` with a
    :class:`~replay.errors.ReplayConnectionError` naming the (password-masked) URL if
    Redis is unreachable or refuses the credentials; every key comes from
    :attr:`keys` (``fsrl:{namespace}:``); :meth:`call` retries a dropped connection with
    backoff for up to ``reconnect_timeout_s`` and reloads the scripts; a table Redis
    lost is re-created from the cached config by :meth:`ensure_table`.
    """

    def __init__(
        self,
        url: str,
        namespace: str = "default",
        connect_timeout_s: float = 5.0,
        socket_timeout_s: float = 30.0,
        reconnect_timeout_s: float = 60.0,
    ) -> None:
        self.keys = RunKeys(namespace)  # checks the namespace first: nothing is opened
        self.url = url
        self.namespace = namespace
        self.connect_timeout_s = float(connect_timeout_s)
        self.socket_timeout_s = float(socket_timeout_s)
        self.reconnect_timeout_s = float(reconnect_timeout_s)
        self.redis: redis.Redis = connect(url, self.connect_timeout_s, self.socket_timeout_s)
        self._create_sha = self.redis.script_load(_CREATE)
        scripts.load_all(self.redis)
        self._tables: dict[str, tuple[TableConfig, TransitionSpec]] = {}

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def table_keys(self, table: str) -> TableKeys:
        return self.keys.table(table)

    def close(self) -> None:
        self.redis.close()

    # ------------------------------------------------------------------ calls
    def call(self, fn: Callable[[], T], what: str = "redis call") -> T:
        """Run ``fn`` with reconnect-and-retry; scripts are reloaded after a reconnect."""
        return with_retry(
            fn, self.url, self.reconnect_timeout_s, on_retry=self.reload_scripts, what=what
        )

    def reload_scripts(self) -> None:
        """Load every replay script into the server again (after a Redis restart)."""
        self.redis.script_load(_CREATE)
        scripts.load_all(self.redis)

    def evalsha(
        self, name: str, keys: Sequence[str], args: Sequence[Any], what: str | None = None
    ) -> Any:
        """Run one of :mod:`replay.scripts` (reloading it if the server forgot it)."""
        return self.call(lambda: self._evalsha(scripts.SHAS[name], keys, args), what or name)

    def _evalsha(self, sha: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return self.redis.evalsha(sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            self.reload_scripts()
            return self.redis.evalsha(sha, len(keys), *keys, *args)

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
        keys = self.table_keys(config.name)
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
        reply = self.call(
            lambda: self._evalsha(self._create_sha, [keys.meta, keys.state], fields),
            f"create_table {config.name!r}",
        )
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
        keys = self.table_keys(table)
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
        keys = self.table_keys(table)
        removed = 0
        for batch in _batched(self.redis.scan_iter(match=keys.prefix + "*", count=1000), 500):
            removed += int(self.redis.unlink(*batch))
        self._tables.pop(table, None)
        return removed

    def add_blocked_time(self, table: str, kind: str, seconds: float) -> None:
        """Account ``seconds`` spent blocked by the rate limiter (kind: insert|sample)."""
        key = self.table_keys(table).state
        try:
            self.call(
                lambda: self.redis.hincrbyfloat(key, f"{kind}_blocked_s", seconds), "blocked time"
            )
        except ReplayError:
            logger.debug("could not record blocked time", exc_info=True)


def _batched(it: Iterable[Any], n: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in it:
        batch.append(item)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch
