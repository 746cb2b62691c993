"""The on-board policy: installed weight versions, ACT steps and the episodes they make."""

from __future__ import annotations

import collections
import hashlib
import logging
import time
from dataclasses import dataclass

import numpy as np

from robot_edge import protocol as P
from robot_edge.motors import MotorGuard
from robot_edge.policy import GaussianPolicy, NumpyPolicy, PolicyError, load_policy
from robot_edge.task import ForwardTask
from robot_edge.weights import WeightFormatError, decode_weights

logger = logging.getLogger(__name__)


@dataclass
class _Episode:
    version: int
    ret: float = 0.0
    length: int = 0
    distance_m: float = 0.0


class OnBoardPolicy:
    """The policy the robot runs by itself on ACT, and the episodes it finished.

    Promises: :meth:`install` replaces the running network only with a blob whose
    sha256 matches, whose version is not older and which decodes into a network that
    fits the task; otherwise it raises REFUSED naming why and keeps the running one.
    Each finished episode is kept (at most 4096) until :meth:`drain_episodes`.
    """

    def __init__(self, motors: MotorGuard, task: ForwardTask) -> None:
        self.motors = motors
        self.task = task
        self.policy: NumpyPolicy | GaussianPolicy | None = None
        self.version = 0
        self._episodes: collections.deque = collections.deque(maxlen=4096)
        self._episode: _Episode | None = None
        self._prev: P.SensorReading | None = None
        self._obs: np.ndarray | None = None

    def install(self, version: int, digest: bytes, blob: bytes) -> int:
        """Check and run ``blob`` as ``version``; the version now running."""
        keep = f"(keeping version {self.version})"
        if hashlib.sha256(blob).digest() != digest:
            raise P.ProtocolError(P.Status.REFUSED, f"version {version}: sha256 mismatch {keep}")
        if version < self.version:
            raise P.ProtocolError(
                P.Status.REFUSED, f"version {version} is older than {self.version} {keep}"
            )
        try:
            tensors, metadata = decode_weights(blob)
            policy = load_policy(tensors, metadata, self.task.obs_dim, self.task.n_actions)
        except (WeightFormatError, PolicyError) as exc:
            raise P.ProtocolError(P.Status.REFUSED, f"version {version}: {exc} {keep}") from None
        if version != self.version:
            self.end_episode(P.EpisodeEnd.POLICY_CHANGE)
            self._prev = None
        self.policy, self.version = policy, int(version)
        logger.info("policy version %d installed (%s)", version, metadata.get("arch"))
        return self.version

    def host_reset(self) -> None:
        """The host reset the robot: the running episode ends."""
        self.end_episode(P.EpisodeEnd.HOST_RESET)
        self._prev = None

    def end_episode(self, how: int) -> None:
        ep = self._episode
        if ep is not None and ep.length > 0:
            self._episodes.append(
                {
                    "policy_version": ep.version,
                    "episode_return": ep.ret,
                    "episode_length": ep.length,
                    "distance_m": ep.distance_m,
                    "ended_by": int(how),
                    "robot_time_ns": time.time_ns(),
                }
            )
        self._episode = None

    def act(self, duration_ms: float, max_steps: int, new_episode: bool) -> bytes:
        """One step of the on-board policy; the ACT reply body."""
        if self.policy is None or not isinstance(self.policy, NumpyPolicy):
            raise P.ProtocolError(P.Status.REFUSED, "no policy installed: push one with SET_POLICY")
        backend = self.motors.backend
        if new_episode or self._prev is None or self._episode is None:
            self.end_episode(P.EpisodeEnd.HOST_RESET)
            backend.reset(None)
            self._prev = backend.read()
            self._obs = self.task.observe(self._prev, None)
            self._episode = _Episode(self.version)
        assert self._obs is not None  # set with _prev
        q = self.policy.q_values(self._obs)
        action = int(np.argmax(q)) if np.all(np.isfinite(q)) else 3
        left, right = self.task.wheels(action)
        reading = self.motors.drive(left, right, duration_ms)
        reward, terminated, progress_m = self.task.reward(self._prev, reading)
        ep = self._episode
        ep.ret += reward
        ep.length += 1
        ep.distance_m += progress_m
        truncated = bool(max_steps) and ep.length >= max_steps
        done = terminated or truncated
        version = ep.version
        if done:
            self.motors.stop(P.StopReason.COMMAND)
            self.end_episode(P.EpisodeEnd.BUMP if terminated else P.EpisodeEnd.TIME_LIMIT)
            self._prev = None
        else:
            self._prev = reading
            self._obs = self.task.observe(reading, self._obs)
        return reading.pack() + P.ACT_REPLY_TAIL.pack(action, int(done), version, reward)

    def drain_episodes(self) -> list[dict[str, float]]:
        records = list(self._episodes)
        self._episodes.clear()
        return records
