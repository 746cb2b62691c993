"""What an actor tells the run through Redis: episodes, weight switches, heartbeats.

Every entry is a flat string field map with ``proto`` = :data:`ACTOR_PROTOCOL_VERSION`
(no pickle). Keys (all under ``fsrl:{namespace}:``, named by :class:`replay.keys.RunKeys`):

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
import warnings
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import redis

from replay.keys import RunKeys

logger = logging.getLogger(__name__)

#: Version of the flat field maps this module writes to Redis (episodes, switches, status).
ACTOR_PROTOCOL_VERSION = 1
#: Transitions written before any weights were fetched carry this policy version.
NO_VERSION = -1


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

    def flush(self, r: redis.Redis, keys: RunKeys) -> bool:
        """Send the finished episodes; on a connection error keep them for the next try."""
        if not self.pending:
            return True
        pipe = r.pipeline(transaction=False)
        key = keys.episodes
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


def reconstructed_by_ray() -> bool:
    """True inside a Ray actor that Ray restarted after a crash."""
    try:
        import ray

        if not ray.is_initialized():
            return False
        ctx = ray.get_runtime_context()
        with warnings.catch_warnings():  # Ray's own property uses a deprecated accessor
            warnings.simplefilter("ignore", DeprecationWarning)
            return bool(ctx.get_actor_id()) and bool(ctx.was_current_actor_reconstructed)
    except Exception:  # not inside a Ray actor
        return False


def count_restart(r: redis.Redis, keys: RunKeys, actor_id: int) -> tuple[int, int]:
    """``(restarts, env steps before)`` of this incarnation: (0, 0) for a fresh actor; in an
    actor Ray restarted after a crash, the restart is counted in the life hash and the env
    steps continue from what the crashed incarnation last reported."""
    if not reconstructed_by_ray():
        return 0, 0
    life = keys.actor_life(actor_id)
    restarts = int(r.hincrby(life, "restarts", 1))
    logger.warning("actor %d restarted by Ray (restart %d)", actor_id, restarts)
    return restarts, int(r.hget(life, "env_steps") or 0)


def announce_switch(r: redis.Redis, keys: RunKeys, actor_id: int, version: int) -> None:
    """Record that ``actor_id`` acts with ``version`` from now on."""
    r.xadd(
        keys.switches,
        {
            "proto": str(ACTOR_PROTOCOL_VERSION),
            "actor_id": str(actor_id),
            "policy_version": str(version),
            "time_s": f"{time.time():.6f}",
        },
        maxlen=100_000,
        approximate=True,
    )


#: A heartbeat also goes out after this many env steps of the actor: a fast env (CartPole
#: with 16 envs steps ~10,000 a second) would otherwise leave the run's env-step count
#: (read from the heartbeats) a whole heartbeat interval of steps behind the replay.
HEARTBEAT_EVERY_STEPS = 2048


@dataclass
class HeartbeatClock:
    """When an actor's next heartbeat is due: ``interval_s`` after the last one, or
    :data:`HEARTBEAT_EVERY_STEPS` env steps after it, whichever comes first."""

    interval_s: float
    last_s: float = 0.0
    last_steps: int = 0

    def due(self, now: float, steps: int) -> bool:
        return (
            now - self.last_s >= self.interval_s or steps - self.last_steps >= HEARTBEAT_EVERY_STEPS
        )

    def mark(self, now: float, steps: int) -> None:
        """A heartbeat went out (or was given up on: retry at the next one)."""
        self.last_s, self.last_steps = now, steps


def write_heartbeat(
    r: redis.Redis, keys: RunKeys, actor_id: int, interval_s: float, counters: dict[str, Any]
) -> dict[str, str]:
    """Refresh the status hash (expires after 3 intervals) and the life hash's env steps."""
    fields = {
        "proto": str(ACTOR_PROTOCOL_VERSION),
        "actor_id": str(actor_id),
        "pid": str(os.getpid()),
        "heartbeat_s": f"{time.time():.6f}",
        **{k: str(v) for k, v in counters.items()},
    }
    key = keys.actor_status(actor_id)
    pipe = r.pipeline(transaction=False)
    pipe.hset(key, mapping=cast(dict[Any, Any], fields))
    pipe.pexpire(key, max(1, int(3_000 * interval_s)))
    pipe.hset(keys.actor_life(actor_id), "env_steps", fields["env_steps"])
    pipe.execute()
    return fields


__all__ = [
    "ACTOR_PROTOCOL_VERSION",
    "HEARTBEAT_EVERY_STEPS",
    "HeartbeatClock",
    "NO_VERSION",
    "EpisodeBook",
    "announce_switch",
    "count_restart",
    "reconstructed_by_ray",
    "write_heartbeat",
]
