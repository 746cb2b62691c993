"""What an actor tells the run through Redis: episodes, weight switches, heartbeats.

Every entry is a flat string field map with ``proto`` = :data:`ACTOR_PROTOCOL_VERSION`
(no pickle). Keys (all under ``fsrl:{namespace}:``, see :func:`episodes_key` & co.):

* ``episodes`` (XADD, approximate MAXLEN): ``proto, actor_id, env, policy_version`` (at
  the episode's end), ``policy_version_first``, ``return``, ``length``, ``time_s``;
* ``actors:switches`` (XADD): ``proto, actor_id, policy_version, time_s`` each time an
  actor starts acting with a new version;
* ``actors:{id}`` (HSET, expires after 3 heartbeat intervals): heartbeat and counters;
  ``actors:{id}:life`` (no expiry): restarts and env steps across incarnations.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, cast

import numpy as np
import redis

logger = logging.getLogger(__name__)

#: Version of the flat field maps this module writes to Redis (episodes, switches, status).
ACTOR_PROTOCOL_VERSION = 1
#: Transitions written before any weights were fetched carry this policy version.
NO_VERSION = -1


def episodes_key(namespace: str) -> str:
    """Stream of finished episodes (one entry each, flat string fields)."""
    return f"fsrl:{namespace}:episodes"


def switches_key(namespace: str) -> str:
    """Stream of weight switches: one entry each time an actor starts acting with a new version."""
    return f"fsrl:{namespace}:actors:switches"


def status_key(namespace: str, actor_id: int) -> str:
    """Hash with an actor's heartbeat and counters; expires after 3 heartbeat intervals."""
    return f"fsrl:{namespace}:actors:{actor_id}"


def life_key(namespace: str, actor_id: int) -> str:
    """Hash that outlives crashes (no expiry): restarts and env steps across incarnations."""
    return f"fsrl:{namespace}:actors:{actor_id}:life"


def stop_key(namespace: str) -> str:
    """When this key exists, every actor of the namespace leaves ``run()``."""
    return f"fsrl:{namespace}:actors:stop"


class EpisodeBook:
    """Per-env running returns and lengths; finished episodes as stream entries.

    Promises: an episode is recorded once, with the version that acted at its end and
    the one that acted at its start; per-version aggregates keep the 64 newest versions.
    """

    def __init__(self, actor_id: int, num_envs: int) -> None:
        self.actor_id = actor_id
        self.ret = np.zeros(num_envs, dtype=np.float64)
        self.length = np.zeros(num_envs, dtype=np.int64)
        self.first_version = np.full(num_envs, NO_VERSION, dtype=np.int64)
        self.pending: list[dict[str, str]] = []
        self.episodes = 0
        # version -> [episodes, return sum, length sum] for the 64 newest versions
        self.per_version: dict[int, list[float]] = {}

    def step(self, reward: np.ndarray, done: np.ndarray, valid: np.ndarray, version: int) -> None:
        """Account one vector step (``done`` = terminated | truncated)."""
        first = valid & (self.length == 0)
        self.first_version[first] = version
        self.ret += np.where(valid, reward, 0.0)
        self.length += valid
        for e in np.flatnonzero(valid & done):  # O(episodes ended), not O(steps)
            self._finish(int(e), version)

    def _finish(self, env: int, version: int) -> None:
        ret, length = float(self.ret[env]), int(self.length[env])
        self.pending.append(
            {
                "proto": str(ACTOR_PROTOCOL_VERSION),
                "actor_id": str(self.actor_id),
                "env": str(env),
                "policy_version": str(version),
                "policy_version_first": str(int(self.first_version[env])),
                "return": repr(ret),
                "length": str(length),
                "time_s": f"{time.time():.6f}",
            }
        )
        if version not in self.per_version and len(self.per_version) >= 64:
            del self.per_version[min(self.per_version)]
        agg = self.per_version.setdefault(version, [0.0, 0.0, 0.0])
        agg[0] += 1
        agg[1] += ret
        agg[2] += length
        self.episodes += 1
        self.ret[env] = 0.0
        self.length[env] = 0

    def flush(self, r: redis.Redis, namespace: str) -> bool:
        """Send the finished episodes; on a connection error keep them for the next try."""
        if not self.pending:
            return True
        pipe = r.pipeline(transaction=False)
        key = episodes_key(namespace)
        for fields in self.pending:
            pipe.xadd(key, cast(dict[Any, Any], fields), maxlen=100_000, approximate=True)
        try:
            pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self.pending = self.pending[-10_000:]
            logger.warning("actor %d: episode stats not sent yet: %s", self.actor_id, exc)
            return False
        self.pending = []
        return True

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            str(v): {
                "episodes": int(a[0]),
                "mean_return": a[1] / a[0] if a[0] else 0.0,
                "mean_length": a[2] / a[0] if a[0] else 0.0,
            }
            for v, a in sorted(self.per_version.items())
        }


def announce_switch(r: redis.Redis, namespace: str, actor_id: int, version: int) -> None:
    """Record that ``actor_id`` acts with ``version`` from now on."""
    r.xadd(
        switches_key(namespace),
        {
            "proto": str(ACTOR_PROTOCOL_VERSION),
            "actor_id": str(actor_id),
            "policy_version": str(version),
            "time_s": f"{time.time():.6f}",
        },
        maxlen=100_000,
        approximate=True,
    )


def write_heartbeat(
    r: redis.Redis, namespace: str, actor_id: int, interval_s: float, counters: dict[str, Any]
) -> dict[str, str]:
    """Refresh the status hash (expires after 3 intervals) and the life hash's env steps."""
    fields = {
        "proto": str(ACTOR_PROTOCOL_VERSION),
        "actor_id": str(actor_id),
        "pid": str(os.getpid()),
        "heartbeat_s": f"{time.time():.6f}",
        **{k: str(v) for k, v in counters.items()},
    }
    key = status_key(namespace, actor_id)
    pipe = r.pipeline(transaction=False)
    pipe.hset(key, mapping=cast(dict[Any, Any], fields))
    pipe.pexpire(key, max(1, int(3_000 * interval_s)))
    pipe.hset(life_key(namespace, actor_id), "env_steps", fields["env_steps"])
    pipe.execute()
    return fields


__all__ = [
    "ACTOR_PROTOCOL_VERSION",
    "NO_VERSION",
    "EpisodeBook",
    "announce_switch",
    "episodes_key",
    "life_key",
    "status_key",
    "stop_key",
    "switches_key",
    "write_heartbeat",
]
