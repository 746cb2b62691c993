"""The bridge env's continuous wheel-speed actions over real ZeroMQ to a sim edge."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs.gopigo_bridge  # noqa: F401 - registers fsrl/GoPiGo-v0
from agents.core import ActorSlot
from agents.sac import SACAgent, SACConfig
from envs.gopigo_bridge.env import GoPiGoEnv
from robot_edge.server import EdgeServer


@pytest.fixture()
def env(server: EdgeServer):
    env = GoPiGoEnv(endpoint=server.endpoint, action_mode="continuous")
    yield env
    env.close()


def test_check_env_passes_with_continuous_actions(env: GoPiGoEnv) -> None:
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    check_env(env, skip_render_check=True)


def test_wheel_speeds_reach_the_robot(env: GoPiGoEnv) -> None:
    env.reset(seed=3)
    max_dps, forward_dps = env.robot_info.max_dps, env.task.forward_dps
    obs, reward, *_ = env.step(np.array([1.0, 1.0], np.float32))
    np.testing.assert_allclose(obs[1:], [forward_dps / max_dps] * 2, rtol=1e-6)
    assert reward > 0  # both wheels forward: the robot made progress
    obs, reward, terminated, _, info = env.step(np.array([-0.5, 0.25], np.float32))
    np.testing.assert_allclose(
        obs[1:], [-0.5 * forward_dps / max_dps, 0.25 * forward_dps / max_dps], rtol=1e-6
    )
    obs, *_ = env.step(np.array([3.0, -7.0]))  # clipped to the wheel limits
    np.testing.assert_allclose(obs[1:], [forward_dps / max_dps, -forward_dps / max_dps], rtol=1e-6)


def test_same_seed_same_continuous_episode(env: GoPiGoEnv) -> None:
    actions = np.random.default_rng(0).uniform(-1, 1, (12, 2)).astype(np.float32)
    runs = []
    for _ in range(2):
        obs, _ = env.reset(seed=21)
        trace = [obs]
        for a in actions:
            obs, r, term, _, _ = env.step(a)
            trace.append(np.append(obs, r))
            if term:
                break
        runs.append(np.concatenate(trace))
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("bad", [np.array([0.1]), np.array([np.nan, 0.0]), 2])
def test_bad_continuous_action_is_named(env: GoPiGoEnv, bad: object) -> None:
    env.reset(seed=0)
    with pytest.raises(ValueError, match="two finite wheel speeds"):
        env.step(bad)


def test_unknown_action_mode_is_named(server: EdgeServer) -> None:
    with pytest.raises(ValueError, match="action_mode='wheels'"):
        GoPiGoEnv(endpoint=server.endpoint, action_mode="wheels")


def test_sac_actor_policy_drives_the_registered_env() -> None:
    """SAC's numpy actor (the Pi's forward) drives a whole episode on its own sim edge."""
    env = gym.make("fsrl/GoPiGo-v0", action_mode="continuous", max_episode_steps=40)
    try:
        agent = SACAgent(SACConfig(), None, env.observation_space, env.action_space)
        policy = agent.actor_policy(ActorSlot(actor_id=0, num_actors=1, envs_per_actor=1, seed=4))
        policy.ensure_weights()
        obs, _ = env.reset(seed=4)
        steps, done, wheels = 0, False, []
        while not done:
            action = policy.act(obs[None])[0]
            assert env.action_space.contains(action)
            obs, _, terminated, truncated, _ = env.step(action)
            wheels.append(obs[1:])
            steps += 1
            done = terminated or truncated
        assert steps == 40 or terminated
        assert np.ptp(np.asarray(wheels), axis=0).min() > 0  # the commanded speeds varied
    finally:
        env.close()
