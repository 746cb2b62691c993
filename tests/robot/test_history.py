"""Observation history in the task: the host env and the robot's on-board loop compute the
same stacked observation, and an edge refuses a network trained on another history."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.wrappers import FrameStackObservation

import envs.gopigo_bridge  # noqa: F401 - registers fsrl/GoPiGo-v0
from agents.dqn.networks import build_q_network, export_for_edge
from envs.gopigo_bridge.client import EdgeClient, EdgeReplyError
from robot_edge.config import EdgeConfig, EdgeConfigError
from robot_edge.policy import NumpyPolicy
from robot_edge.protocol import SensorReading
from robot_edge.server import EdgeServer
from robot_edge.task import make_task
from robot_edge.weights import decode_safetensors, encode_safetensors

ACTIONS = [0, 0, 1, 0, 2, 2, 0, 0, 3, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0]


def _blob(obs_dim: int, seed: int, window_rule: bool = False) -> bytes:
    """A dueling Q-network for ``obs_dim`` inputs; with ``window_rule`` its weights say
    "forward while the wall is far, unless it comes closer fast, else turn left": the
    newest distance reading (input 6) against the oldest (input 0) of a 3-reading window."""
    torch.manual_seed(seed)
    model = build_q_network(
        {"arch": "mlp_dueling", "hidden_sizes": [2], "head_hidden_size": 0, "input_scale": 1.0},
        gym.spaces.Box(-1.0, 1.0, (obs_dim,), np.float32),
        4,
    )
    tensors, meta = export_for_edge(model)
    if window_rule:
        torso = np.zeros((2, obs_dim), np.float32)
        torso[0, 6] = 10.0  # h0 = 10 x distance now
        torso[1, 0], torso[1, 6] = 50.0, -50.0  # h1 = 50 x how much closer than 2 steps ago
        tensors["torso.0.weight"], tensors["torso.0.bias"] = torso, np.zeros(2, np.float32)
        adv = np.zeros((4, 2), np.float32)
        adv[0] = [1.0, -1.0]
        tensors["advantage.0.weight"] = adv
        tensors["advantage.0.bias"] = np.array([0.0, 2.0, 0.0, -5.0], np.float32)
    return encode_safetensors(tensors, meta)


def test_task_history_is_the_frame_stack_of_single_readings() -> None:
    """history=3 in the task gives, step for step, what Gymnasium's FrameStackObservation
    makes of the one-reading env (flattened, oldest first, the first reading repeated)."""
    stacked = gym.make("fsrl/GoPiGo-v0", task_params={"history": 3})
    single = FrameStackObservation(gym.make("fsrl/GoPiGo-v0"), 3)
    try:
        assert stacked.observation_space.shape == (9,)
        a, _ = stacked.reset(seed=5)
        b, _ = single.reset(seed=5)
        np.testing.assert_array_equal(a, np.asarray(b).reshape(-1))
        assert stacked.observation_space.contains(a)
        for action in ACTIONS:
            a, ra, ta, _, _ = stacked.step(action)
            b, rb, tb, _, _ = single.step(action)
            np.testing.assert_array_equal(a, np.asarray(b).reshape(-1))
            assert (ra, ta) == (rb, tb)
            if ta:
                break
        assert not np.array_equal(a[:3], a[6:])  # the window moved: readings differ
    finally:
        stacked.close()
        single.close()


@pytest.mark.parametrize("history", [0, 65, 2.5])
def test_a_history_that_cannot_work_is_named(history: float) -> None:
    with pytest.raises(ValueError, match="history="):
        make_task("forward", history=history)
    if isinstance(history, int):
        with pytest.raises(EdgeConfigError, match=f"history={history}"):
            EdgeConfig(history=history).check()


def test_a_wrong_previous_observation_is_named() -> None:
    task = make_task("forward", history=3)
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(9,\)"):
        task.observe(_reading(), np.zeros(3, np.float32))


def _reading() -> SensorReading:
    return SensorReading(
        robot_time_ns=0,
        left_encoder_deg=0,
        right_encoder_deg=0,
        left_dps=360.0,
        right_dps=360.0,
        distance_mm=500.0,
        servo_deg=0.0,
        battery_v=9.0,
        elapsed_ms=100.0,
        bumped=False,
        motors_running=True,
    )


def test_the_on_board_loop_acts_on_the_hosts_stacked_observation(
    make_server: Callable[..., EdgeServer],
) -> None:
    """An edge run with history=3 refuses a 3-input network (keeping what runs) and drives a
    9-input one choosing, at each step, the action the network gives for the window the
    host's task computes from the readings the edge reports."""
    server = make_server(history=3)
    with EdgeClient(server.endpoint, timeout_ms=2000, retries=1) as client:
        with pytest.raises(EdgeReplyError, match="takes 3 observation values, the task gives 9"):
            client.set_policy(1, _blob(3, 0))
        blob = _blob(9, 1, window_rule=True)
        assert client.set_policy(2, blob) == 2
        policy = NumpyPolicy(*decode_safetensors(blob))
        host = make_task(
            "forward",
            max_dps=server.max_dps,
            distance_max_mm=server.geometry.distance_max_mm,
            wheel_diameter_mm=server.geometry.wheel_diameter_mm,
            history=3,
        )
        checked, actions = 0, set()
        window: list[SensorReading] = []  # readings since the episode's first reported one
        obs: np.ndarray | None = None
        for step in range(120):
            reading, action, done, version, _ = client.act(
                100.0, max_episode_steps=40, new_episode=step == 0
            )
            assert version == 2
            actions.add(action)
            if obs is not None and len(window) >= 3:
                # the window's oldest reading is no longer the episode's unseen first one
                assert action == policy.act(obs), f"step {step}: on-board {action}"
                checked += 1
            if done:
                window, obs = [], None
                continue
            window.append(reading)
            obs = host.observe(reading, obs)
        assert checked >= 60
        assert actions == {0, 1}  # it drives, and turns at walls
