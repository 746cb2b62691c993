"""The GoPiGo3 as a Gymnasium environment; every ``step`` is a round trip to robot_edge."""

from __future__ import annotations

import logging
import os
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.gopigo_bridge.client import EdgeClient
from envs.gopigo_bridge.local_edge import LocalEdge
from robot_edge.protocol import SensorReading
from robot_edge.task import ACTIONS, make_task

logger = logging.getLogger(__name__)

#: ``action_mode`` values: the task's discrete moves, or two wheel speeds in [-1, 1].
ACTION_MODES = ("discrete", "continuous")


class GoPiGoEnv(gym.Env):
    """A GoPiGo3 robot (simulated or real) reached over ZeroMQ.

    ## Action space
    ``action_mode="discrete"`` (default): ``Discrete(4)``: 0 forward, 1 turn left in
    place, 2 turn right in place, 3 stop (wheel speeds set by the task:
    ``forward_dps``, ``turn_dps``).

    ``action_mode="continuous"``: ``Box(-1, 1, (2,))`` float32, the left and right
    wheel speeds as fractions of the task's ``forward_dps`` (so ``[1, 1]`` is the
    discrete "forward" and, at the default speeds, ``[-0.5, 0.5]`` its "turn left").
    Values outside [-1, 1] are clipped; a wrong shape or a non-finite value raises.

    ## Observation space
    ``Box(3 * history,)`` float32 (task ``forward``): distance sensor / its range in
    [0, 1]; left and right wheel speed / ``max_dps`` in [-1, 1]; for the last
    ``task_params["history"]`` readings (default 1), oldest first. A remote edge must
    run with the same ``history=`` setting: its on-board loop computes the observation
    itself and refuses a network that takes another number of inputs.

    ## Rewards
    ``progress_reward_per_m`` (10) per metre driven forward (from the encoders),
    ``- bump_penalty`` (5) on a bump, ``- step_penalty`` (0) per step, and, with
    ``task_params`` ``near_threshold`` / ``near_penalty`` (default 0: off), up to
    ``near_penalty`` per step while the distance reading is below ``near_threshold``
    of its range (growing linearly as it falls; ``robot_edge.task.ForwardTask``).

    ## Episode end
    Terminated on a bump; truncated by the time limit (``max_episode_steps`` = 200
    at registration, 20 s of robot time at the default ``step_ms`` = 100).

    ## Robot
    ``endpoint`` names a running edge (``tcp://pi:5555``); with no endpoint and
    ``backend="sim"`` the env starts its own sim edge process on a free loopback
    port and stops it on :meth:`close`. With ``keys_dir`` the link uses CURVE.

    ## Version history
    v0: first version; ``action_mode="continuous"`` added (wheel speeds for SAC).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        endpoint: str | None = None,
        backend: str = "sim",
        task: str = "forward",
        task_params: dict[str, float] | None = None,
        step_ms: float = 100.0,
        step_timeout_ms: int = 1000,
        retries: int = 3,
        watchdog_ms: int = 300,
        keys_dir: str | None = None,
        server_key_file: str | None = None,
        arena_seed: int = 0,
        n_obstacles: int = 4,
        action_mode: str = "discrete",
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode={action_mode!r}: choose one of {ACTION_MODES}")
        self.action_mode = action_mode
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}: GoPiGo-v0 does not render")
        self.step_ms = float(step_ms)
        if not 0 < self.step_ms < step_timeout_ms:
            raise ValueError(
                f"step_ms={step_ms} must be positive and below step_timeout_ms={step_timeout_ms} "
                "(the edge answers a step only after driving it)"
            )
        self._local: LocalEdge | None = None
        if endpoint is None:
            if backend != "sim":
                raise ValueError(
                    f"backend={backend!r} needs robot.endpoint=tcp://<pi>:<port>; only the sim "
                    "backend is started locally"
                )
            self._local = LocalEdge(
                watchdog_ms=watchdog_ms,
                arena_seed=arena_seed,
                n_obstacles=n_obstacles,
                task=task,
                history=int((task_params or {}).get("history", 1)),
            ).start()
            endpoint = self._local.endpoint
        assert endpoint is not None  # for the type checker; set just above
        self.endpoint = endpoint
        try:
            self.client = EdgeClient(
                endpoint,
                timeout_ms=step_timeout_ms,
                retries=retries,
                keys_dir=os.path.expanduser(keys_dir) if keys_dir else None,
                server_key_file=os.path.expanduser(server_key_file) if server_key_file else None,
            )
        except BaseException:
            if self._local is not None:
                self._local.stop()
            raise
        info = self.client.info
        assert info is not None
        self.robot_info = info
        try:
            self.task = make_task(
                task,
                **{
                    "max_dps": info.max_dps,
                    "distance_max_mm": info.distance_max_mm,
                    "wheel_diameter_mm": info.wheel_diameter_mm,
                    **(task_params or {}),
                },
            )
        except BaseException:  # a bad task parameter: leave no link or edge process behind
            self.client.close()
            if self._local is not None:
                self._local.stop()
            raise
        self.action_space: spaces.Space = (
            spaces.Discrete(self.task.n_actions)
            if action_mode == "discrete"
            else spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        )
        low, high = self.task.observation_bounds()
        self.observation_space = spaces.Box(low=low, high=high, dtype=np.float32)
        self._last: SensorReading | None = None
        self._obs: np.ndarray | None = None

    def _info(self, reading: SensorReading, progress_m: float = 0.0) -> dict[str, Any]:
        return {
            "distance_mm": reading.distance_mm,
            "bumped": reading.bumped,
            "forward_m": progress_m,
            "robot_time_ns": reading.robot_time_ns,
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        robot_seed = int(self.np_random.integers(0, 2**31 - 1))
        reading = self.client.reset(robot_seed)
        self._last = reading
        self._obs = self.task.observe(reading, None)
        return self._obs, self._info(reading)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._last is None:
            raise RuntimeError("step() before reset()")
        left, right = self._wheels(action)
        reading = self.client.step(left, right, self.step_ms)
        reward, terminated, progress_m = self.task.reward(self._last, reading)
        self._last = reading
        self._obs = self.task.observe(reading, self._obs)
        return (
            self._obs,
            reward,
            terminated,
            False,
            self._info(reading, progress_m),
        )

    def _wheels(self, action: Any) -> tuple[float, float]:
        """Left and right wheel DPS for an action of this env's ``action_mode``."""
        if self.action_mode == "discrete":
            if not self.action_space.contains(action):
                raise ValueError(f"action {action!r} is not in {self.action_space} {ACTIONS}")
            return self.task.wheels(int(action))
        speeds = np.asarray(action, dtype=np.float64)
        if speeds.shape != (2,) or not np.all(np.isfinite(speeds)):
            raise ValueError(
                f"action {action!r} is not two finite wheel speeds in [-1, 1] (left, right)"
            )
        left, right = np.clip(speeds, -1.0, 1.0) * self.task.forward_dps
        return float(left), float(right)

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None and client.socket is not None:
            try:
                client.retries = 0
                client.stop()
            except Exception:  # noqa: BLE001 - closing must not fail on a dead link
                logger.debug("stop on close failed", exc_info=True)
            client.close()
        if self._local is not None:
            self._local.stop()
            self._local = None
        super().close()
