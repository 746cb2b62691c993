"""The env presets compose, build through the actors' env factory, and resolve to the
intended Q-network family."""

from __future__ import annotations

import numpy as np
import pytest

import conf

PRESETS = [
    ("tetris", "candidate_scorer"),
    ("tetris_moves", "mlp_dueling"),
    ("snake", "cnn_dueling"),
]


@pytest.mark.parametrize(("preset", "arch"), PRESETS)
def test_env_preset_builds_and_picks_its_arch(preset: str, arch: str) -> None:
    from actors.envs import VectorStepper, make_single_env, make_vector_env
    from agents.dqn.networks import resolve_arch

    cfg = conf.load_config([f"env={preset}"])
    env_cfg = conf.to_container(cfg)["env"]
    single = make_single_env(env_cfg)
    assert resolve_arch(cfg.model.arch, single.observation_space) == arch
    vec = make_vector_env(env_cfg, num_envs=3, seed=5)
    assert type(vec).__module__.startswith("envs.")  # our batched core, not SyncVectorEnv
    stepper = VectorStepper(vec, seed=5)
    obs = stepper.reset()
    rng = np.random.default_rng(0)
    for _ in range(30):
        if isinstance(obs, dict) and "action_mask" in obs:
            actions = np.argmax(rng.random(obs["action_mask"].shape) * obs["action_mask"], axis=1)
        else:
            actions = rng.integers(0, vec.single_action_space.n, 3)
        step = stepper.step(actions)
        assert step.valid.all()
        obs = step.obs
    vec.close()
    single.close()
