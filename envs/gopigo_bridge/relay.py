"""Weight relay: new weight versions go to the Pi, the Pi's episode metrics come back.

Started by ``python -m learner.robot_relay`` (which owns the Redis weight store; this
module only needs an object with ``latest_version``, ``champion_version`` and
``fetch_blob``). Each poll: one GET of the tag's ``latest`` (or, with
``follow="champion"``, its ``champion``) pointer; on a new version the exact
safetensors bytes (sha256-verified by the store) are pushed with SET_POLICY, and
the Pi checks the sha256 again before installing them. Episodes the on-board
policy finished are appended to the Redis stream ``fsrl:{namespace}:edge_metrics``
with flat, protocol-versioned fields, one entry per episode, tagged with the
weight version that drove it.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

import numpy as np
import redis

from envs.gopigo_bridge.client import EdgeClient, EdgeReplyError
from robot_edge import protocol as P

logger = logging.getLogger(__name__)

METRICS_FORMAT_VERSION = 1


def metrics_stream(namespace: str) -> str:
    return f"fsrl:{namespace}:edge_metrics"


class WeightRelay:
    """Keeps one robot on the newest (or champion) weights of one tag and moves its metrics
    into Redis.

    Promises: a version is pushed at most once (a refused version is not retried
    until a newer one is published); the robot keeps driving its last good version
    whatever the store holds; every metrics entry carries ``protocol_version``,
    ``format_version``, ``model_tag`` and ``policy_version``.
    """

    def __init__(
        self,
        store: Any,
        tag: str,
        client: EdgeClient,
        redis_url: str,
        namespace: str,
        poll_interval_s: float = 0.5,
        stream_maxlen: int = 100_000,
        follow: str = "latest",
    ) -> None:
        if poll_interval_s <= 0:
            raise ValueError(f"poll_interval_s={poll_interval_s} must be positive")
        if follow not in ("latest", "champion"):
            raise ValueError(f"follow={follow!r} must be 'latest' or 'champion'")
        self.follow = follow
        self.store = store
        self.tag = tag
        self.client = client
        self.namespace = namespace
        self.poll_interval_s = float(poll_interval_s)
        self.stream_maxlen = int(stream_maxlen)
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=5.0)
        self.pushed_version: int | None = None
        self.refused = 0
        self._refused_version: int | None = None
        self.episodes_forwarded = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def push_latest(self) -> bool:
        """Push the followed version (the tag's latest, or its champion: never one that
        failed its gate) if it is new; True when the robot moved to it."""
        if self.follow == "champion":
            latest = self.store.champion_version(self.tag)
        else:
            latest = self.store.latest_version(self.tag)
        if latest is None or latest in (self.pushed_version, self._refused_version):
            return False
        version, blob = self.store.fetch_blob(self.tag, latest)
        try:
            running = self.client.set_policy(version, blob)
        except EdgeReplyError as exc:
            self.refused += 1
            self._refused_version = version
            logger.warning("robot refused %s version %d: %s", self.tag, version, exc)
            return False
        self.pushed_version = running
        logger.info("robot %s now runs %s version %d", self.client.endpoint, self.tag, running)
        return True

    def forward_metrics(self) -> int:
        """Move the robot's finished episodes into the metrics stream; return how many."""
        episodes = self.client.metrics()
        if not len(episodes):
            return 0
        pipe = self._redis.pipeline(transaction=False)
        for ep in episodes:
            pipe.xadd(
                metrics_stream(self.namespace),
                {
                    "protocol_version": P.PROTOCOL_VERSION,
                    "format_version": METRICS_FORMAT_VERSION,
                    "model_tag": self.tag,
                    "robot": self.client.endpoint,
                    "policy_version": int(ep["policy_version"]),
                    "episode_return": float(ep["episode_return"]),
                    "episode_length": int(ep["episode_length"]),
                    "distance_m": float(ep["distance_m"]),
                    "ended_by": P.EpisodeEnd(int(ep["ended_by"])).name.lower(),
                    "robot_time_ns": int(ep["robot_time_ns"]),
                },
                maxlen=self.stream_maxlen,
                approximate=True,
            )
        pipe.execute()
        self.episodes_forwarded += len(episodes)
        return len(episodes)

    def drive(self, steps: int, step_ms: float = 0.0, max_episode_steps: int = 200) -> int:
        """Let the on-board policy drive ``steps`` steps (ACT); return episodes finished."""
        done_count = 0
        for _ in range(steps):
            _r, _a, done, _v, _rew = self.client.act(step_ms, max_episode_steps)
            done_count += int(done)
        return done_count

    def poll_once(self) -> None:
        self.push_latest()
        self.forward_metrics()

    def run(self, drive_steps_per_poll: int = 0) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
                if drive_steps_per_poll and self.pushed_version is not None:
                    self.drive(drive_steps_per_poll)
            except Exception:  # noqa: BLE001 - keep relaying; the robot's watchdog is the guard
                logger.exception("relay poll failed")
            self._stop.wait(self.poll_interval_s)

    def start(self, drive_steps_per_poll: int = 0) -> WeightRelay:
        self._thread = threading.Thread(
            target=self.run, args=(drive_steps_per_poll,), name="weight-relay", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None
        self._redis.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def metrics_by_version(redis_url: str, namespace: str) -> dict[int, dict[str, float]]:
    """Per policy version: episodes, mean return, mean length, mean distance (from the stream)."""
    r = redis.Redis.from_url(redis_url, socket_timeout=5.0)
    try:
        entries = r.xrange(metrics_stream(namespace))
    finally:
        r.close()
    acc: dict[int, list[tuple[float, float, float]]] = defaultdict(list)
    for _id, fields in entries or []:
        f = {_text(k): _text(v) for k, v in (fields or {}).items()}
        acc[int(f["policy_version"])].append(
            (float(f["episode_return"]), float(f["episode_length"]), float(f["distance_m"]))
        )
    out = {}
    for version, rows in sorted(acc.items()):
        arr = np.asarray(rows)
        out[version] = {
            "episodes": float(len(rows)),
            "mean_return": float(arr[:, 0].mean()),
            "mean_length": float(arr[:, 1].mean()),
            "mean_distance_m": float(arr[:, 2].mean()),
        }
    return out
