"""The model registry of a run: champions, gate results, online performance, tag leases.

Used by the learner (lease, gates, promotion), actors (online returns per version) and
the robot relay. Everything lives under ``fsrl:{namespace}:registry:{tag}:``
(:class:`~replay.keys.RunKeys`), as plain strings and JSON carrying ``proto`` =
:data:`REGISTRY_PROTOCOL_VERSION` — never pickle:

* ``champion`` (HASH ``proto, version, set_ms, previous``): the version followers set to
  ``champion`` use (:class:`~replay.weights.WeightFollower`); only a stored, sound
  version whose gate did not fail can become it, and weight-history trimming never
  drops it.
* ``gates`` (HASH ``version -> {"proto", "passed", "detail", "time_ms"}``): the latest
  gate result of each version; the gate's decision logic lives with its caller, which
  calls :meth:`ModelRegistry.set_champion` when a gate passes.
* ``online`` (HASH ``proto``, ``{version}:n``, ``{version}:mean``, ``{version}:m2``): the
  returns of episodes played by each version, merged per call with Chan/Welford's
  update inside one script (atomic, one round trip per call).
* ``lease`` (STRING JSON ``{"proto", "owner", "token", "acquired_ms"}``, PX ttl): which
  learner publishes to the tag (:class:`TagLease`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import redis

from replay.errors import ReplayError
from replay.keys import RunKeys
from replay.weights import WeightStore

logger = logging.getLogger(__name__)

REGISTRY_PROTOCOL_VERSION = 1


class RegistryError(ReplayError):
    """A registry entry refused or unreadable (the message names the tag, version or key)."""


class TagLeaseError(RegistryError):
    """The tag is held by another owner (or our lease on it was lost); the message names
    the tag, the namespace and the holder."""


# KEYS: online hash. ARGV: proto, then (version, n, mean, m2) per group. Merges each
# group into the stored (n, mean, m2) of its version (Chan et al.'s parallel update).
_MERGE_LUA = """
redis.call('HSET', KEYS[1], 'proto', ARGV[1])
local out = {}
for i = 2, #ARGV, 4 do
  local v = ARGV[i]
  local nb, mb, m2b = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local s = redis.call('HMGET', KEYS[1], v .. ':n', v .. ':mean', v .. ':m2')
  local na, ma, m2a = tonumber(s[1] or '0'), tonumber(s[2] or '0'), tonumber(s[3] or '0')
  local n = na + nb
  local delta = mb - ma
  local mean = ma + delta * nb / n
  local m2 = m2a + m2b + delta * delta * na * nb / n
  redis.call('HSET', KEYS[1], v .. ':n', string.format('%d', n),
    v .. ':mean', string.format('%.17g', mean), v .. ':m2', string.format('%.17g', m2))
  out[#out + 1] = n
end
return out
"""

# KEYS: lease. ARGV: our value, ttl ms. Extends the lease only while it is still ours.
_RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS: lease. ARGV: our value. Deletes the lease only while it is still ours.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class ModelRegistry:
    """Champion pointers, gate results and per-version online returns of one run's tags.

    Promises: :meth:`set_champion` moves the pointer only to a stored version whose blob
    passes its sha256 and decodes, and never to one whose recorded gate failed (raising
    otherwise, the champion unchanged); :meth:`record_episodes` is atomic per call and
    exact up to float rounding (count, mean, sample std of every return recorded);
    :meth:`gates` and :meth:`online_stats` refuse entries of another protocol version,
    naming the key. Picklable by its store's address.
    """

    def __init__(self, store: WeightStore) -> None:
        self.store = store
        self.keys: RunKeys = store.keys
        self.redis: redis.Redis = store.redis
        self._merge = self.redis.register_script(_MERGE_LUA)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.store,))

    def __repr__(self) -> str:
        return f"ModelRegistry({self.store!r})"

    # ------------------------------------------------------------------ champion
    def champion(self, tag: str) -> int | None:
        """The tag's champion version, or None before the first promotion."""
        return self.store.champion_version(tag)

    def set_champion(self, tag: str, version: int) -> None:
        """Crown ``version`` (what a passed gate calls, or the launcher for version 0).

        Raises :class:`RegistryError` when its gate failed, and the store's
        ``WeightNotFoundError`` / ``WeightIntegrityError`` when it is not stored or not
        sound; the champion stays as it was.
        """
        gate = self.gates(tag).get(int(version))
        if gate is not None and not gate["passed"]:
            raise RegistryError(
                f"version {version} of tag {tag!r} (namespace {self.keys.namespace!r}) failed "
                f"its gate ({gate['detail']}); it cannot become champion"
            )
        self.store.set_champion(tag, int(version))

    # ------------------------------------------------------------------ gates
    def record_gate(
        self, tag: str, version: int, passed: bool, detail: Mapping[str, Any] | None = None
    ) -> None:
        """Keep the gate result of ``version`` (the latest one per version wins);
        ``detail`` must be JSON-able (e.g. games, wins, threshold, opponent)."""
        doc = {
            "proto": REGISTRY_PROTOCOL_VERSION,
            "passed": bool(passed),
            "detail": dict(detail or {}),
            "time_ms": int(time.time() * 1000),
        }
        try:
            text = json.dumps(doc, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"gate detail of {tag!r} v{version} is not plain JSON: {exc}") from exc
        key = self.keys.registry(tag).gates
        self.store.call("record_gate", self.redis.hset, key, str(int(version)), text)

    def gates(self, tag: str) -> dict[int, dict[str, Any]]:
        """``version -> {"passed", "detail", "time_ms"}`` of every gate recorded for ``tag``."""
        key = self.keys.registry(tag).gates
        raw = self.store.call("gates", self.redis.hgetall, key)
        out: dict[int, dict[str, Any]] = {}
        for field, value in raw.items():
            where = f"{key} field {field!r}"
            try:
                doc = json.loads(value)
            except ValueError as exc:
                raise RegistryError(f"{where} is not JSON: {exc}") from exc
            _check_proto(doc.get("proto"), where)
            out[int(field)] = {k: doc[k] for k in ("passed", "detail", "time_ms")}
        return dict(sorted(out.items()))

    # ------------------------------------------------------------------ online returns
    def record_episodes(self, tag: str, version: int | Any, returns: Any) -> dict[int, int]:
        """Add finished episodes' ``returns`` to the online record of the version(s) that
        played them: ``version`` is one int, or one per return. Returns each touched
        version's new episode count. One round trip; non-finite returns are refused."""
        ret = np.asarray(returns, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(ret)):
            raise ValueError(
                f"episode returns of {tag!r} must be finite, got {ret[~np.isfinite(ret)][:3]}"
            )
        vers = np.asarray(version, dtype=np.int64).reshape(-1)
        if vers.size != 1 and vers.shape != ret.shape:
            raise ValueError(f"{vers.size} versions for {ret.size} episode returns of {tag!r}")
        vers = np.broadcast_to(vers, ret.shape)
        if ret.size == 0:
            return {}
        args: list[Any] = [REGISTRY_PROTOCOL_VERSION]
        groups = np.unique(vers)
        for v in groups:
            x = ret[vers == v]
            mean = float(x.mean())
            args += [str(int(v)), x.size, repr(mean), repr(float(((x - mean) ** 2).sum()))]
        key = self.keys.registry(tag).online
        counts = self.store.call("record_episodes", self._merge, [key], args)
        return {int(v): int(n) for v, n in zip(groups, counts, strict=True)}

    def online_stats(self, tag: str) -> dict[int, dict[str, float]]:
        """``version -> {"count", "mean", "std"}`` of the recorded episode returns
        (``std``: the sample standard deviation, 0 for a single episode)."""
        key = self.keys.registry(tag).online
        raw = {
            k.decode(): v.decode()
            for k, v in self.store.call("online", self.redis.hgetall, key).items()
        }
        if not raw:
            return {}
        _check_proto(raw.pop("proto", None), key)
        acc: dict[int, dict[str, float]] = {}
        for field, value in raw.items():
            v, _, name = field.partition(":")
            acc.setdefault(int(v), {})[name] = float(value)
        out = {}
        for v, st in sorted(acc.items()):
            n = st.get("n", 0.0)
            std = math.sqrt(st.get("m2", 0.0) / (n - 1)) if n > 1 else 0.0
            out[v] = {"count": n, "mean": st.get("mean", math.nan), "std": std}
        return out


class TagLease:
    """Guards a model tag: at most one owner (a learner) publishes to it at a time.

    Promises: :meth:`acquire` succeeds only when nobody else holds the tag (SET NX PX),
    else raises :class:`TagLeaseError` naming the tag, namespace, holder and its age;
    :meth:`renew` extends only our own lease (compare-and-pexpire) and raises
    :class:`TagLeaseError` when it was lost (expired, taken over); :meth:`release`
    deletes only our own lease. A lease not renewed within ``ttl_s`` expires, freeing the
    tag for the next learner. Use as a context manager.
    """

    def __init__(
        self, redis_client: redis.Redis, keys: RunKeys, tag: str, owner: str, ttl_s: float
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        self.redis = redis_client
        self.keys = keys
        self.tag = tag
        self.owner = str(owner)
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.key = keys.registry(tag).lease
        self._value = json.dumps(
            {
                "proto": REGISTRY_PROTOCOL_VERSION,
                "owner": self.owner,
                "token": os.urandom(8).hex(),
                "acquired_ms": 0,
            },
            sort_keys=True,
        )
        self.held = False
        self._renew = self.redis.register_script(_RENEW_LUA)
        self._release = self.redis.register_script(_RELEASE_LUA)

    def _where(self) -> str:
        return f"model tag {self.tag!r} in namespace {self.keys.namespace!r}"

    def holder(self) -> tuple[str, float, float] | None:
        """``(owner, held for s, expires in s)`` of whoever holds the tag now, or None."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.key)
        pipe.pttl(self.key)
        raw, pttl = pipe.execute()
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
            owner, acquired_ms = str(doc["owner"]), int(doc["acquired_ms"])
        except (ValueError, KeyError, TypeError):
            return (f"<unreadable lease {bytes(raw)[:60]!r}>", math.nan, pttl / 1000.0)
        return owner, time.time() - acquired_ms / 1000.0, max(0, pttl) / 1000.0

    def acquire(self) -> TagLease:
        """Take the tag; :class:`TagLeaseError` naming the holder when someone else has it."""
        doc = json.loads(self._value)
        doc["acquired_ms"] = int(time.time() * 1000)
        value = json.dumps(doc, sort_keys=True)
        for _ in range(3):  # the holder's lease may expire between SET NX and the look
            # (a SET retried after a lost reply finds its own value: that is ours too)
            if self.redis.set(self.key, value, nx=True, px=self.ttl_ms) or (
                self.redis.get(self.key) == value.encode()
            ):
                self._value, self.held = value, True
                logger.info("%s leased to %s for %d ms", self._where(), self.owner, self.ttl_ms)
                return self
            found = self.holder()
            if found is not None:
                owner, age_s, left_s = found
                raise TagLeaseError(
                    f"{self._where()} is held by {owner!r} (for {age_s:.1f} s, expires in "
                    f"{left_s:.1f} s unless renewed): another learner publishes to it; stop "
                    f"it, or use another model.tag or namespace (we are {self.owner!r})"
                )
        raise TagLeaseError(f"{self._where()}: could not take the lease (it keeps changing hands)")

    def renew(self) -> None:
        """Extend our lease by ``ttl_s``; :class:`TagLeaseError` if it is no longer ours."""
        if int(self._renew([self.key], [self._value, self.ttl_ms])) == 1:
            return
        self.held = False
        found = self.holder()
        who = f"now held by {found[0]!r}" if found is not None else "expired"
        raise TagLeaseError(f"{self._where()}: the lease of {self.owner!r} was lost ({who})")

    def release(self) -> bool:
        """Give the tag up; True if the lease was still ours (idempotent)."""
        self.held = False
        return int(self._release([self.key], [self._value])) == 1

    def __enter__(self) -> TagLease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _check_proto(proto: Any, where: str) -> None:
    try:
        ok = int(proto) == REGISTRY_PROTOCOL_VERSION
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise RegistryError(f"{where} speaks protocol {proto!r}, not {REGISTRY_PROTOCOL_VERSION}")


__all__ = [
    "REGISTRY_PROTOCOL_VERSION",
    "ModelRegistry",
    "RegistryError",
    "TagLease",
    "TagLeaseError",
]
