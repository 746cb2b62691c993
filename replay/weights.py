"""Versioned, immutable model weights in Redis, shared by the learner, actors and the edge.

Layout under ``fsrl:{namespace}:weights:``::

    tags                       SET    every tag with at least one version
    {tag}:next                 STRING INCR counter: the next version to hand out (never reset)
    {tag}:latest               STRING newest complete version
    {tag}:versions             ZSET   stored versions (score = version)
    {tag}:v:{version}          HASH   blob (safetensors bytes), sha256 (hex), created_ms

A version is written by one Lua script: the blob and its sha256 are stored, the
``latest`` pointer moves, and versions beyond ``history`` are dropped — so a reader
never sees ``latest`` point at a missing or partial blob. Versions are monotonic per
tag: they come from an INCR counter that survives learner restarts, never go below
``latest + 1``, and a resuming learner passes ``min_version`` (its checkpoint's
version) so a store that lost its data still never hands out a lower number.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from replay.connection import connect as _connect_once
from replay.connection import mask_url
from replay.errors import ReplayConnectionError, ReplayError

logger = logging.getLogger(__name__)

WEIGHTS_FORMAT_VERSION = 1


class WeightIntegrityError(ReplayError):
    """A stored blob does not match its sha256 (or is not valid safetensors).

    Nothing changes on the reader's side: callers keep the version they had.
    """


class WeightNotFoundError(ReplayError, LookupError):
    """The tag has no stored version, or the asked version was dropped from the history."""


def connect(
    url: str, connect_timeout_s: float = 5.0, socket_timeout_s: float = 10.0
) -> redis.Redis:
    """A Redis client for ``url`` whose calls ride out ~30 s of server downtime.

    The first contact fails within ``connect_timeout_s`` with a ReplayConnectionError
    naming the (password-masked) URL (:func:`replay.connection.connect`); afterwards a
    dropped connection is retried with backoff.
    """
    probe = _connect_once(url, connect_timeout_s, socket_timeout_s)
    probe.close()
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=socket_timeout_s,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 40),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


# KEYS: next, latest, versions, tags, version-hash prefix ("...:v:")
# ARGV: tag, blob, sha256, history, min_version, created_ms
_PUBLISH_LUA = """
local v = redis.call('INCR', KEYS[1]) - 1
local latest = tonumber(redis.call('GET', KEYS[2]) or '-1')
local floor = tonumber(ARGV[5])
if v <= latest then v = latest + 1 end
if v < floor then v = floor end
redis.call('SET', KEYS[1], v + 1)
local key = KEYS[5] .. v
redis.call('HSET', key, 'blob', ARGV[2], 'sha256', ARGV[3], 'created_ms', ARGV[6])
redis.call('ZADD', KEYS[3], v, v)
redis.call('SET', KEYS[2], v)
redis.call('SADD', KEYS[4], ARGV[1])
local history = tonumber(ARGV[4])
local n = redis.call('ZCARD', KEYS[3])
if n > history then
  local old = redis.call('ZRANGE', KEYS[3], 0, n - history - 1)
  for _, o in ipairs(old) do
    redis.call('DEL', KEYS[5] .. o)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, n - history - 1)
end
return v
"""


def _metadata_of(blob: bytes) -> dict[str, str]:
    if len(blob) < 8:
        raise ValueError("blob shorter than a safetensors header")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError("safetensors header length exceeds the blob")
    header = json.loads(blob[8 : 8 + n])
    meta = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}


def encode_weights(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> bytes:
    """Safetensors bytes of ``tensors`` with string ``metadata`` in the header."""
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"weight metadata must be str -> str, got {key!r}: {type(value)}")
    meta = {"fsrl_weights_format": str(WEIGHTS_FORMAT_VERSION), **metadata}
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    return st_save(arrays, metadata=meta)


def decode_weights(blob: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata of safetensors bytes (raises ValueError when malformed)."""
    meta = _metadata_of(blob)
    fmt = meta.pop("fsrl_weights_format", str(WEIGHTS_FORMAT_VERSION))
    if fmt != str(WEIGHTS_FORMAT_VERSION):
        raise ValueError(f"weights format {fmt} is not {WEIGHTS_FORMAT_VERSION}")
    return dict(st_load(blob)), meta


class WeightStore:
    """Immutable weight versions per model tag in Redis.

    Promises: :meth:`publish` returns a version greater than every version of the tag
    published before (also across learner restarts and above ``min_version``);
    :meth:`latest_version` is one GET; :meth:`fetch` returns exactly the published
    tensors or raises :class:`WeightIntegrityError` (hash mismatch) — it never returns
    a partial or corrupt blob. At most ``history`` versions are kept per tag. The
    store pickles by address (URL, namespace), so it crosses into Ray actors.
    """

    def __init__(
        self,
        url: str,
        namespace: str,
        history: int = 8,
        connect_timeout_s: float = 5.0,
        reconnect_timeout_s: float = 60.0,
    ) -> None:
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        if not namespace or not isinstance(namespace, str):
            raise ValueError(f"namespace must be a non-empty string, got {namespace!r}")
        self.url = url
        self.namespace = namespace
        self.history = int(history)
        self.connect_timeout_s = float(connect_timeout_s)
        self.reconnect_timeout_s = float(reconnect_timeout_s)
        self._redis = connect(url, connect_timeout_s)
        self._publish = self._redis.register_script(_PUBLISH_LUA)
        self._prefix = f"fsrl:{namespace}:weights:"

    def __reduce__(self) -> tuple[Any, ...]:
        args = (
            self.url,
            self.namespace,
            self.history,
            self.connect_timeout_s,
            self.reconnect_timeout_s,
        )
        return (type(self), args)

    def __repr__(self) -> str:
        return f"WeightStore({mask_url(self.url)!r}, namespace={self.namespace!r})"

    def _k(self, tag: str, suffix: str) -> str:
        return f"{self._prefix}{tag}:{suffix}"

    @staticmethod
    def _check_tag(tag: str) -> None:
        if not isinstance(tag, str) or not tag or any(c in tag for c in ": \n\t"):
            raise ValueError(f"model tag must be a non-empty string without ':' or spaces: {tag!r}")

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        """Run one Redis call, retrying a dropped connection for ``reconnect_timeout_s``."""
        deadline = time.monotonic() + self.reconnect_timeout_s
        delay_s = 0.05
        while True:
            try:
                return fn(*args)
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
                if time.monotonic() + delay_s > deadline:
                    raise ReplayConnectionError(
                        f"weight store {what} failed at {mask_url(self.url)} for "
                        f"{self.reconnect_timeout_s:g}s: {exc}"
                    ) from exc
                logger.warning("weight store %s: %s; retrying", what, exc)
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, 1.0)

    def publish(
        self,
        tag: str,
        tensors: Mapping[str, np.ndarray],
        metadata: Mapping[str, str],
        min_version: int = 0,
    ) -> int:
        """Store a new immutable version of ``tag`` and make it the latest; returns its number."""
        self._check_tag(tag)
        if "arch" not in metadata:
            raise ValueError("weight metadata must carry 'arch' (the network family)")
        blob = encode_weights(tensors, metadata)
        sha = hashlib.sha256(blob).hexdigest()
        keys = [
            self._k(tag, "next"),
            self._k(tag, "latest"),
            self._k(tag, "versions"),
            f"{self._prefix}tags",
            self._k(tag, "v:"),
        ]
        args = [tag, blob, sha, self.history, int(min_version), int(time.time() * 1000)]
        version = int(self._call("publish", self._publish, keys, args))
        logger.debug("published %s version %d (%d bytes)", tag, version, len(blob))
        return version

    def latest_version(self, tag: str) -> int | None:
        """The newest complete version of ``tag`` (None when it has none); one GET."""
        raw = self._call("latest_version", self._redis.get, self._k(tag, "latest"))
        return None if raw is None else int(raw)

    def versions(self, tag: str) -> list[int]:
        """The stored versions of ``tag``, oldest first."""
        raw = self._call("versions", self._redis.zrange, self._k(tag, "versions"), 0, -1)
        return sorted(int(v) for v in raw)

    def tags(self) -> list[str]:
        """Every tag with at least one published version."""
        raw = self._call("tags", self._redis.smembers, f"{self._prefix}tags")
        return sorted(v.decode() if isinstance(v, bytes) else str(v) for v in raw)

    def fetch_blob(self, tag: str, version: int | None = None) -> tuple[int, bytes]:
        """The raw safetensors bytes of a version (latest when None), hash verified."""
        for _ in range(5):  # latest may be trimmed between the GET and the HMGET: retry
            v = self.latest_version(tag) if version is None else int(version)
            if v is None:
                raise WeightNotFoundError(f"no weights published for tag {tag!r}")
            blob, sha = self._call(
                "fetch", self._redis.hmget, self._k(tag, f"v:{v}"), ["blob", "sha256"]
            )
            if blob is None or sha is None:
                if version is not None:
                    raise WeightNotFoundError(
                        f"version {v} of tag {tag!r} is not stored (kept: {self.versions(tag)})"
                    )
                continue
            actual = hashlib.sha256(blob).hexdigest()
            if actual != sha.decode():
                raise WeightIntegrityError(
                    f"weights {tag!r} version {v}: sha256 {actual[:12]}… does not match the "
                    f"stored {sha.decode()[:12]}…; refusing it"
                )
            return v, bytes(blob)
        raise WeightNotFoundError(f"latest version of tag {tag!r} kept vanishing; try again")

    def fetch(
        self, tag: str, version: int | None = None
    ) -> tuple[int, dict[str, np.ndarray], dict[str, str]]:
        """``(version, tensors, metadata)`` of a version (latest when None).

        Raises :class:`WeightIntegrityError` when the blob fails its sha256 or does not
        decode, :class:`WeightNotFoundError` when there is no such version.
        """
        v, blob = self.fetch_blob(tag, version)
        try:
            tensors, meta = decode_weights(blob)
        except Exception as exc:
            raise WeightIntegrityError(f"weights {tag!r} version {v} do not decode: {exc}") from exc
        return v, tensors, meta

    def sha256(self, tag: str, version: int) -> str | None:
        """The stored sha256 (hex) of a version, or None when it is not stored."""
        raw = self._call("sha256", self._redis.hget, self._k(tag, f"v:{version}"), "sha256")
        return None if raw is None else raw.decode()

    def close(self) -> None:
        """Release the connection pool (idempotent)."""
        self._redis.close()

    def __enter__(self) -> WeightStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WeightFollower:
    """Follows the latest version of one tag, keeping the previous one when a fetch fails.

    ``poll()`` is one cheap GET when nothing changed; on a new version it fetches and
    verifies the blob. A corrupt blob (:class:`WeightIntegrityError`) or a dropped
    version is counted in :attr:`refused` and the follower stays on what it had.
    """

    def __init__(self, store: WeightStore, tag: str) -> None:
        self.store = store
        self.tag = tag
        self.version: int | None = None
        self.tensors: dict[str, np.ndarray] | None = None
        self.metadata: dict[str, str] | None = None
        self.refused = 0
        self._refused_version: int | None = None

    def poll(self) -> bool:
        """Fetch the latest version if it is new; True when the follower moved to it."""
        latest = self.store.latest_version(self.tag)
        if latest is None or latest == self.version or latest == self._refused_version:
            return False
        try:
            version, tensors, meta = self.store.fetch(self.tag, latest)
        except (WeightIntegrityError, WeightNotFoundError) as exc:
            self.refused += 1
            self._refused_version = latest
            logger.warning("keeping version %s of %s: %s", self.version, self.tag, exc)
            return False
        self.version, self.tensors, self.metadata = version, tensors, meta
        return True


__all__ = [
    "WEIGHTS_FORMAT_VERSION",
    "WeightFollower",
    "WeightIntegrityError",
    "WeightNotFoundError",
    "WeightStore",
    "connect",
    "decode_weights",
    "encode_weights",
    "mask_url",
]
