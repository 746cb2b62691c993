"""Atari with real ale-py: ids resolve without a prefix, the preset's wrappers are
Gymnasium's (training-only ones stay out of evaluation), episodic life carries the game
on after a lost life, and a missing ale-py is one line naming the id and the extra."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import conf
from actors.envs import VectorStepper, make_single_env, make_vector_env
from envs.atari import EpisodicLife
from learner.preflight import check_env_id

pytest.importorskip("ale_py")

ROOT = Path(__file__).resolve().parents[2]


def chain(env: gym.Env) -> list[str]:
    names = []
    while isinstance(env, gym.Wrapper):
        names.append(type(env).__name__)
        env = env.env
    return names


def test_ale_ids_resolve_without_a_prefix() -> None:
    check_env_id("ALE/Pong-v5")  # the cheap check before anything starts
    env = make_single_env({"id": "ALE/Pong-v5"})
    obs, _ = env.reset(seed=0)
    assert obs.shape == (210, 160, 3) and obs.dtype == np.uint8
    env.close()


def test_preset_wraps_with_gymnasiums_wrappers_training_only_extras() -> None:
    cfg = conf.load_config(["experiment=atari", "env.id=ALE/Pong-v5"])
    evaluation = make_single_env(cfg.env)
    training = make_single_env(cfg.env, training=True)
    assert chain(evaluation)[:2] == ["FrameStackObservation", "AtariPreprocessing"]
    assert chain(training)[:4] == [
        "FrameStackObservation",
        "ClipReward",
        "EpisodicLife",
        "AtariPreprocessing",
    ]
    assert evaluation.unwrapped.spec.kwargs["frameskip"] == 1  # skipping is the wrapper's
    for env in (evaluation, training):
        assert env.observation_space.shape == (4, 84, 84)
        assert env.observation_space.dtype == np.uint8
        obs, _ = env.reset(seed=3)
        assert all(np.array_equal(obs[0], obs[i]) for i in range(4))  # padded with the reset
        for _ in range(20):
            nxt, reward, *_ = env.step(env.action_space.sample())
            np.testing.assert_array_equal(nxt[:3], obs[1:])  # one new frame per agent step
            assert -1.0 <= float(reward) <= 1.0
            obs = nxt
        env.close()


def test_vector_env_of_the_preset_steps_with_stacks() -> None:
    cfg = conf.load_config(["experiment=atari", "env.max_episode_steps=30"])
    vec = make_vector_env(cfg.env, num_envs=2, seed=1)
    stepper = VectorStepper(vec, seed=1)
    obs = stepper.reset()
    assert obs.shape == (2, 4, 84, 84)
    ended = 0
    for _ in range(40):
        step = stepper.step(np.array([0, 1]))
        assert step.valid.all()
        ended += int(step.truncated.sum())
        obs = step.obs
    assert ended == 2  # max_episode_steps counts agent steps, not emulator frames
    vec.close()


def test_episodic_life_ends_the_learners_episode_and_the_game_goes_on() -> None:
    env = EpisodicLife(gym.make("ALE/Breakout-v5"))
    env.reset(seed=0)
    ale = env.unwrapped.ale
    assert ale.lives() == 5
    rng = np.random.default_rng(0)
    for _ in range(5_000):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(0, 4)))
        if terminated or truncated:
            break
    assert terminated and ale.lives() == 4  # one life lost: an end for the learner only
    env.reset()
    assert ale.lives() == 4  # the same game, not a new one
    lives = [ale.lives()]
    for _ in range(20_000):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(0, 4)))
        if terminated or truncated:
            lives.append(ale.lives())
            if ale.lives() == 0 or truncated:
                break
            env.reset()
    assert lives == [4, 3, 2, 1, 0]
    env.reset()
    assert ale.lives() == 5  # a real game over resets the emulator
    env.close()


def test_missing_ale_py_is_one_line_naming_the_id_and_the_extra() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["ale_py"] = None  # as if ale-py were not installed
        from learner.preflight import PreflightError, check_env_id
        from actors.envs import make_single_env
        for check in (lambda: check_env_id("ALE/Pong-v5"),
                      lambda: make_single_env({"id": "ALE/Pong-v5"})):
            try:
                check()
            except ValueError as exc:
                print(exc)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2, out
    for line in lines:
        assert "'ALE/Pong-v5'" in line and "pip install 'fsrl[atari]'" in line
