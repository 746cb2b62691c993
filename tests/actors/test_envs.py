from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from actors.envs import VectorStepper, make_vector_env
from actors.nstep import NStepFolder


def test_cartpole_same_step_final_obs_and_truncation() -> None:
    env = make_vector_env({"id": "CartPole-v1", "max_episode_steps": 5}, num_envs=2, seed=3)
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    stepper = VectorStepper(env, seed=3)
    obs = stepper.reset()
    for t in range(5):
        prev = obs
        step = stepper.step(np.array([0, 1]))
        obs = step.obs
        assert step.valid.all()
        if t < 4:
            assert not step.truncated.any()
            np.testing.assert_array_equal(step.next_obs, step.obs)
        else:  # time limit hit on both envs: next_obs is the final state, obs the reset state
            assert step.truncated.all() and not step.terminated.any()
            assert not np.allclose(step.next_obs, step.obs)
            # CartPole moves little per step: the final state is near the previous one,
            # the reset state is near zero.
            assert np.abs(step.next_obs - prev).max() < 0.5
            assert np.abs(step.obs).max() <= 0.05
    env.close()


def test_same_seed_same_trajectory() -> None:
    def rollout() -> np.ndarray:
        env = make_vector_env({"id": "CartPole-v1"}, num_envs=3, seed=11)
        stepper = VectorStepper(env, seed=11)
        seen = [stepper.reset()]
        for _ in range(30):
            seen.append(stepper.step(env.action_space.sample()).next_obs)
        env.close()
        return np.stack(seen)

    np.testing.assert_array_equal(rollout(), rollout())


def test_module_colon_id_and_kwargs() -> None:
    env = make_vector_env(
        {
            "id": "gymnasium.envs.classic_control.cartpole:CartPole-v1",
            "kwargs": {"sutton_barto_reward": True},
        },
        num_envs=1,
        seed=0,
    )
    env.reset(seed=0)
    _, reward, *_ = env.step(np.array([0]))
    assert reward[0] == 0.0  # Sutton-Barto reward: 0 while alive
    env.close()


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"id": "NoSuchEnv-v9"}, "NoSuchEnv-v9"),
        ({"id": "no_such_module:Foo-v0"}, "no_such_module"),
        ({"id": "CartPole-v1", "kwargs": {"bogus": 1}}, "bogus"),
    ],
)
def test_bad_env_config_names_the_field(cfg: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_vector_env(cfg, num_envs=1, seed=0)


def test_next_step_vector_env_folds_like_same_step() -> None:
    """Gymnasium's own batched CartPole uses NEXT_STEP; the stepper + folder skip its reset steps."""
    env = gym.make_vec(
        "CartPole-v1", num_envs=2, vectorization_mode="vector_entry_point", max_episode_steps=4
    )
    stepper = VectorStepper(env, seed=0)
    assert stepper.mode == AutoresetMode.NEXT_STEP
    folder = NStepFolder(2, n=1, gamma=1.0)
    obs = stepper.reset()
    emitted = 0
    for _ in range(10):
        step = stepper.step(np.zeros(2, np.int64))
        out = folder.step(
            obs,
            np.zeros(2),
            step.reward,
            step.terminated,
            step.truncated,
            step.next_obs,
            valid=step.valid,
        )
        emitted += len(out["reward"])
        obs = step.obs
    # episodes of 4 steps then one reset step each: 10 calls = 4 + 1 + 4 + 1 -> 8 real steps per env
    assert emitted == 16
    env.close()


def test_own_batched_tetris_env_is_used_in_same_step_mode() -> None:
    env = make_vector_env(
        {"id": "envs.tetris:fsrl/TetrisPlacement-v0", "kwargs": {"candidate_features": True}},
        num_envs=3,
        seed=0,
    )
    assert type(env).__name__ == "TetrisVectorEnv"  # the batched core, not SyncVectorEnv
    stepper = VectorStepper(env, seed=0)
    assert stepper.mode == AutoresetMode.SAME_STEP
    obs = stepper.reset()
    rng = np.random.default_rng(0)
    for _ in range(5):
        mask = obs["action_mask"].astype(bool)
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in mask])
        step = stepper.step(actions)
        assert step.valid.all() and set(step.next_obs) == set(obs)
        obs = step.obs
    env.close()
