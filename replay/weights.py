"""Versioned, immutable model weights in Redis, shared by the learner, actors and the edge.

Keys (:class:`~replay.keys.RunKeys`): ``fsrl:{namespace}:weights:tags`` and, per tag,
``...:weights:{tag}:`` ``next`` (INCR counter, never reset), ``latest``, ``versions``
(ZSET) and ``v:{version}`` (HASH: blob, sha256, created_ms); the tag's ``champion``
pointer lives with the registry (``...:registry:{tag}:champion``, :mod:`replay.registry`).

A version is written by one Lua script: the blob and its sha256 are stored, the
``latest`` pointer moves, and versions beyond ``history`` are dropped — never the
champion — so a reader never sees ``latest`` (or ``champion``) point at a missing or
partial blob. Versions are monotonic per tag: they come from an INCR counter that
survives learner restarts, never go below ``latest + 1``, and a resuming learner passes
``min_version`` (its checkpoint's version) so a store that lost its data still never
hands out a lower number. Blobs are safetensors written and read by the numpy codec
of :mod:`robot_edge.weights` (the one the Pi runs).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal

import numpy as np

from conf.urls import mask_url
from replay.connection import connect_resilient, with_retry
from replay.errors import ReplayError, WeightIntegrityError, WeightNotFoundError
from replay.keys import RunKeys, check_tag
from robot_edge.weights import WeightFormatError, decode_safetensors, encode_safetensors, sha256_hex

logger = logging.getLogger(__name__)

WEIGHTS_FORMAT_VERSION = 1
#: Metadata key of the format version in every blob.
FORMAT_KEY = "fsrl_weights_format"
#: Version of the champion pointer's fields (a HASH: proto, version, set_ms, previous).
CHAMPION_PROTOCOL_VERSION = 1
#: What a follower follows: the newest version, or the gated champion.
Follow = Literal["latest", "champion"]
#: ``accept(version, tensors, metadata)``: return False or raise ValueError to refuse.
Accept = Callable[[int, dict[str, np.ndarray], dict[str, str]], object]


# KEYS: next, latest, versions, tags, version-hash prefix ("...:v:"), champion
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
local champion = redis.call('HGET', KEYS[6], 'version')
local n = redis.call('ZCARD', KEYS[3])
if n > history then
  local old = redis.call('ZRANGE', KEYS[3], 0, n - history - 1)
  for _, o in ipairs(old) do
    if o ~= champion then
      redis.call('DEL', KEYS[5] .. o)
      redis.call('ZREM', KEYS[3], o)
    end
  end
end
return v
"""


def encode_weights(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> bytes:
    """Safetensors bytes of ``tensors`` with string ``metadata`` (plus the format version)."""
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"weight metadata must be str -> str, got {key!r}: {type(value)}")
    return encode_safetensors(tensors, {FORMAT_KEY: str(WEIGHTS_FORMAT_VERSION), **metadata})


def decode_weights(blob: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata of a published blob; WeightFormatError (a ValueError) naming
    what is wrong when it is not safetensors of this format version."""
    tensors, meta = decode_safetensors(blob)
    fmt = meta.pop(FORMAT_KEY, str(WEIGHTS_FORMAT_VERSION))
    if fmt != str(WEIGHTS_FORMAT_VERSION):
        raise WeightFormatError(f"weights format {fmt} is not {WEIGHTS_FORMAT_VERSION}")
    return tensors, meta


class WeightStore:
    """Immutable weight versions per model tag in Redis.

    Promises: :meth:`publish` returns a version greater than every version of the tag
    published before (also across learner restarts and above ``min_version``);
    :meth:`latest_version` and :meth:`champion_version` are one call each; :meth:`fetch`
    returns exactly the published tensors or raises :class:`WeightIntegrityError` — never
    a partial or corrupt blob; :meth:`fetch_newest_sound` is the one loop that skips
    (logs and counts in :attr:`refused`) corrupt or unfit versions. At most ``history``
    versions are kept per tag, plus the champion. The store pickles by address (URL,
    namespace), so it crosses into Ray actors.
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
        self.keys = RunKeys(namespace)
        self.url = url
        self.namespace = namespace
        self.history = int(history)
        self.connect_timeout_s = float(connect_timeout_s)
        self.reconnect_timeout_s = float(reconnect_timeout_s)
        self.redis = connect_resilient(url, connect_timeout_s)
        self._publish = self.redis.register_script(_PUBLISH_LUA)
        #: Versions refused by :meth:`fetch_newest_sound` (corrupt, missing or unfit).
        self.refused = 0

    def __reduce__(self) -> tuple[Any, ...]:
        args = (self.url, self.namespace, self.history)
        return (type(self), (*args, self.connect_timeout_s, self.reconnect_timeout_s))

    def __repr__(self) -> str:
        return f"WeightStore({mask_url(self.url)!r}, namespace={self.namespace!r})"

    def call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run one Redis call, retrying a dropped connection for ``reconnect_timeout_s``."""
        return with_retry(
            lambda: fn(*args), self.url, self.reconnect_timeout_s, what=f"weight store {what}"
        )

    # ------------------------------------------------------------------ writing
    def publish(
        self,
        tag: str,
        tensors: Mapping[str, np.ndarray],
        metadata: Mapping[str, str],
        min_version: int = 0,
    ) -> int:
        """Store a new immutable version of ``tag`` and make it the latest; returns its number."""
        wk = self.keys.weights(tag)
        if "arch" not in metadata:
            raise ValueError("weight metadata must carry 'arch' (the network family)")
        blob = encode_weights(tensors, metadata)
        keys = [
            wk.next,
            wk.latest,
            wk.versions,
            self.keys.weight_tags,
            wk.version_prefix,
            self.keys.registry(tag).champion,
        ]
        args = [
            tag,
            blob,
            sha256_hex(blob),
            self.history,
            int(min_version),
            int(time.time() * 1000),
        ]
        version = int(self.call("publish", self._publish, keys, args))
        logger.debug("published %s version %d (%d bytes)", tag, version, len(blob))
        return version

    def set_champion(self, tag: str, version: int) -> None:
        """Point ``tag``'s champion at ``version``: only a stored version whose blob passes
        its sha256 and decodes (else :class:`WeightNotFoundError` /
        :class:`WeightIntegrityError`, and the champion stays). Gated promotion goes
        through :meth:`replay.registry.ModelRegistry.set_champion`."""
        v, _, _ = self.fetch(tag, int(version))
        key = self.keys.registry(tag).champion
        previous = self.champion_version(tag)
        fields = {
            "proto": str(CHAMPION_PROTOCOL_VERSION),
            "version": str(v),
            "set_ms": str(int(time.time() * 1000)),
            "previous": "" if previous is None else str(previous),
        }
        self.call("set_champion", lambda: self.redis.hset(key, mapping=fields))
        logger.info("champion of %s: version %d (was %s)", tag, v, previous)

    # ------------------------------------------------------------------ reading
    def latest_version(self, tag: str) -> int | None:
        """The newest complete version of ``tag`` (None when it has none); one GET."""
        raw = self.call("latest_version", self.redis.get, self.keys.weights(tag).latest)
        return None if raw is None else int(raw)

    def champion_version(self, tag: str) -> int | None:
        """The version ``tag``'s champion pointer names (None when there is none); one HMGET."""
        key = self.keys.registry(tag).champion
        proto, version = self.call("champion", self.redis.hmget, key, ["proto", "version"])
        if version is None:
            return None
        if proto is None or int(proto) != CHAMPION_PROTOCOL_VERSION:
            raise ReplayError(
                f"champion pointer {key} speaks protocol {proto!r}, not {CHAMPION_PROTOCOL_VERSION}"
            )
        return int(version)

    def versions(self, tag: str) -> list[int]:
        """The stored versions of ``tag``, oldest first."""
        raw = self.call("versions", self.redis.zrange, self.keys.weights(tag).versions, 0, -1)
        return sorted(int(v) for v in raw)

    def tags(self) -> list[str]:
        """Every tag with at least one published version."""
        raw = self.call("tags", self.redis.smembers, self.keys.weight_tags)
        return sorted(v.decode() if isinstance(v, bytes) else str(v) for v in raw)

    def fetch_blob(self, tag: str, version: int | None = None) -> tuple[int, bytes]:
        """The raw safetensors bytes of a version (latest when None), hash verified."""
        wk = self.keys.weights(tag)
        for _ in range(5):  # latest may be trimmed between the GET and the HMGET: retry
            v = self.latest_version(tag) if version is None else int(version)
            if v is None:
                raise WeightNotFoundError(f"no weights published for tag {tag!r}")
            blob, sha = self.call("fetch", self.redis.hmget, wk.version(v), ["blob", "sha256"])
            if blob is None or sha is None:
                if version is not None:
                    raise WeightNotFoundError(
                        f"version {v} of tag {tag!r} is not stored (kept: {self.versions(tag)})"
                    )
                continue
            actual = sha256_hex(blob)
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
        except WeightFormatError as exc:
            raise WeightIntegrityError(f"weights {tag!r} version {v} do not decode: {exc}") from exc
        return v, tensors, meta

    def fetch_newest_sound(
        self,
        tag: str,
        below: int | None = None,
        above: int | None = None,
        accept: Accept | None = None,
        skip: Collection[int] = (),
        on_refused: Callable[[int, str], None] | None = None,
    ) -> tuple[int, dict[str, np.ndarray], dict[str, str]] | None:
        """The newest stored version ``v`` of ``tag`` with ``above < v < below`` (either
        bound optional), not in ``skip``, whose blob passes its sha256, decodes and is
        accepted by ``accept(v, tensors, metadata)`` (which refuses by returning False or
        raising ValueError); None when there is none.

        Each refused version is logged, counted in :attr:`refused` and passed to
        ``on_refused(version, reason)``; the loop goes on to the next older one. Uses:
        a follower (newest sound version above its own), evaluation (every sound
        version), resume (the newest good version below a broken one).
        """
        candidates = [
            v
            for v in reversed(self.versions(tag))
            if (below is None or v < below) and (above is None or v > above) and v not in skip
        ]
        for v in candidates:
            try:
                _, tensors, meta = self.fetch(tag, v)
                ok = True if accept is None else accept(v, tensors, meta)
                if ok is False:
                    raise ValueError("refused by its consumer")
            except WeightNotFoundError as exc:  # trimmed meanwhile: not a fault of the blob
                logger.info("weights %s version %d gone: %s", tag, v, exc)
                continue
            except (WeightIntegrityError, ValueError) as exc:
                self.refused += 1
                reason = str(exc)
                logger.warning("skipping weights %s version %d: %s", tag, v, reason)
                if on_refused is not None:
                    on_refused(v, reason)
                continue
            return v, tensors, meta
        return None

    def sha256(self, tag: str, version: int) -> str | None:
        """The stored sha256 (hex) of a version, or None when it is not stored."""
        key = self.keys.weights(tag).version(version)
        raw = self.call("sha256", self.redis.hget, key, "sha256")
        return None if raw is None else raw.decode()

    def close(self) -> None:
        """Release the connection pool (idempotent)."""
        self.redis.close()

    def __enter__(self) -> WeightStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WeightFollower:
    """Follows one tag's ``latest`` version or its ``champion``, never going to a version
    that is corrupt, unfit (``accept`` refused it) or — following the champion — not the
    champion.

    ``poll()`` is one cheap call (GET / HMGET) when nothing changed. Following ``latest``
    it moves to the newest sound version above its own (skipping a corrupt newest one
    for an older sound one, never going back). Following ``champion`` it moves only to
    the version the champion pointer names (also back, when the champion is rolled
    back); while a tag has no champion it follows nothing (``version`` stays None: the
    caller acts with its initial weights until a version is crowned). A refused version
    is counted in :attr:`refused`, never tried again, and the follower stays on what it had.
    """

    def __init__(
        self,
        store: WeightStore,
        tag: str,
        follow: Follow = "latest",
        accept: Accept | None = None,
    ) -> None:
        if follow not in ("latest", "champion"):
            raise ValueError(f"follow must be 'latest' or 'champion', got {follow!r}")
        self.store = store
        self.tag = check_tag(tag)
        self.follow = follow
        self.accept = accept
        self.version: int | None = None
        self.tensors: dict[str, np.ndarray] | None = None
        self.metadata: dict[str, str] | None = None
        self.refused = 0
        self._refused: set[int] = set()

    def target(self) -> int | None:
        """The version the followed pointer names now (None: nothing to follow)."""
        if self.follow == "champion":
            return self.store.champion_version(self.tag)
        return self.store.latest_version(self.tag)

    def poll(self) -> bool:
        """Move to the followed version if it is new and sound; True when the follower moved."""
        target = self.target()
        if target is None or target == self.version or target in self._refused:
            return False
        if self.follow == "latest" and self.version is not None and target < self.version:
            return False  # versions never go back; a store that lost data catches up
        # following the champion: that version and no other; else never go back
        above = target - 1 if self.follow == "champion" else self.version
        found = self.store.fetch_newest_sound(
            self.tag, below=target + 1, above=above, accept=self.accept,
            skip=self._refused, on_refused=self._note_refused,
        )  # fmt: skip
        if found is None:
            logger.warning("keeping version %s of %s (%s)", self.version, self.tag, self.follow)
            return False
        self.version, self.tensors, self.metadata = found
        if self.follow == "latest":  # older versions are never candidates again
            self._refused = {v for v in self._refused if v > self.version}
        return True

    def _note_refused(self, version: int, reason: str) -> None:
        self.refused += 1
        self._refused.add(version)


#: ``connect`` stays importable from here: compat: remove when actors/learner switched.
connect = connect_resilient

__all__ = [
    "CHAMPION_PROTOCOL_VERSION",
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
