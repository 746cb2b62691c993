"""Gymnasium contracts for every registered id: env checker, determinism, batched rows
equal single envs, autoreset modes, masked-action policy, bad input."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import envs.snake
import envs.tetris
from envs.tetris import InvalidPlacementError

ALL_IDS = [*envs.tetris.ENV_IDS, *envs.snake.ENV_IDS]
VARIANTS = [
    ("fsrl/Tetris-v0", {}),
    ("fsrl/Tetris-v0", {"obs_type": "flat", "preview": 0}),
    ("fsrl/TetrisPlacement-v0", {}),
    ("fsrl/TetrisPlacement-v0", {"candidate_features": True}),
    ("fsrl/TetrisPlacement-v0", {"obs_type": "flat", "reward_scheme": "score"}),
    ("fsrl/Snake-v0", {}),
    ("fsrl/Snake-v0", {"features": True, "actions": "relative", "height": 6, "width": 8}),
]


@pytest.mark.parametrize(("env_id", "kwargs"), VARIANTS)
def test_check_env(env_id: str, kwargs: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker has nothing to warn about either
        env = gym.make(env_id, **kwargs)
        check_env(env.unwrapped)
    env.close()


def _policy(env_id: str, obs_or_info, rng: np.random.Generator, n: int | None) -> np.ndarray:
    """Seeded random actions; placement actions drawn among the legal ones."""
    if "Placement" in env_id:
        masks = np.atleast_2d(obs_or_info["action_mask"])
        acts = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
    else:
        k = 7 if "Tetris" in env_id else 4
        acts = rng.integers(0, k, size=1 if n is None else n)
    return acts if n is not None else acts[0]


def _flat(obs) -> np.ndarray:
    if isinstance(obs, dict):
        return np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in obs.values()])
    return np.asarray(obs, dtype=np.float64).ravel()


def _single_trace(env_id: str, seed: int, steps: int, action_seed: int) -> list:
    env = gym.make(env_id)
    rng = np.random.default_rng(action_seed)
    obs, info = env.reset(seed=seed)
    trace = [_flat(obs)]
    for _ in range(steps):
        obs, reward, term, trunc, info = env.step(_policy(env_id, info, rng, None))
        trace.append((_flat(obs), reward, term, trunc))
        if term or trunc:
            obs, info = env.reset()
            trace.append(_flat(obs))
    return trace


def _eq(a, b) -> bool:
    if isinstance(a, tuple):
        return all(_eq(x, y) for x, y in zip(a, b, strict=True))
    return bool(np.array_equal(a, b))


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_same_seed_same_episodes(env_id: str) -> None:
    a = _single_trace(env_id, seed=7, steps=300, action_seed=1)
    b = _single_trace(env_id, seed=7, steps=300, action_seed=1)
    c = _single_trace(env_id, seed=8, steps=300, action_seed=1)
    assert len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b, strict=True))
    assert not (len(a) == len(c) and all(_eq(x, y) for x, y in zip(a, c, strict=True)))


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_batched_row_equals_single_env_seeded_alike(env_id: str) -> None:
    num, seed, steps = 3, 11, 250
    vec = envs.tetris.make_vector(env_id, num_envs=num, seed=seed)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    singles = [gym.make(env_id) for _ in range(num)]
    rngs = [np.random.default_rng(100 + i) for i in range(num)]
    obs, info = vec.reset()
    s_obs = []
    s_info = []
    for i, env in enumerate(singles):
        o, inf = env.reset(seed=seed + i)
        s_obs.append(o)
        s_info.append(inf)
        assert _eq(
            _flat(o), _flat({k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i])
        )
    episodes_ended = 0
    for _ in range(steps):
        acts = np.array([_policy(env_id, s_info[i], rngs[i], None) for i in range(num)])
        obs, reward, term, trunc, info = vec.step(acts)
        for i, env in enumerate(singles):
            o, r, te, tr, inf = env.step(acts[i])
            assert r == reward[i] and te == term[i] and tr == trunc[i]
            if te or tr:
                episodes_ended += 1
                final = info["final_obs"][i]
                assert info["_final_obs"][i] and _eq(_flat(o), _flat(final))
                o, inf = env.reset()
            row = {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]
            assert _eq(_flat(o), _flat(row))
            s_info[i] = inf
    assert episodes_ended > 0  # autoresets were exercised
    vec.close()


def test_batched_same_seed_is_reproducible_and_rows_differ() -> None:
    def run() -> np.ndarray:
        vec = envs.tetris.make_vector("fsrl/TetrisPlacement-v0", num_envs=4, seed=3)
        obs, info = vec.reset()
        rng = np.random.default_rng(0)
        out = []
        for _ in range(60):
            acts = _policy("fsrl/TetrisPlacement-v0", info, rng, 4)
            obs, r, te, tr, info = vec.step(acts)
            out.append(obs["board"].copy())
        return np.stack(out)

    a, b = run(), run()
    assert np.array_equal(a, b)
    assert not np.array_equal(a[:, 0], a[:, 1])


def test_next_step_autoreset_mode() -> None:
    vec = envs.snake.make_vector(num_envs=2, seed=0, autoreset_mode=AutoresetMode.NEXT_STEP)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    vec.reset()
    # Row 0 runs into the right wall (head starts mid-board heading right).
    for _ in range(10):
        obs, reward, term, trunc, info = vec.step(np.array([1, 1]))
        if term[0]:
            break
    assert term[0] and reward[0] == -1.0
    obs, reward, term, trunc, info = vec.step(np.array([1, 1]))
    assert reward[0] == 0.0 and not term[0] and info["length"][0] == 3  # the reset step
    assert obs[0, 0].sum() == 1


def test_vector_time_limit_truncates() -> None:
    vec = envs.tetris.make_vector("fsrl/Tetris-v0", num_envs=2, seed=0, max_episode_steps=5)
    vec.reset()
    for _ in range(5):
        _, _, term, trunc, info = vec.step(np.zeros(2, dtype=np.int64))
    assert trunc.all() and not term.any() and info["_final_obs"].all()


def test_masked_placement_policies() -> None:
    env = gym.make("fsrl/TetrisPlacement-v0", invalid_action_penalty=-5.0)
    obs, info = env.reset(seed=0)
    illegal = int(np.flatnonzero(info["action_mask"] == 0)[0])
    board = obs["board"].copy()
    obs, reward, term, trunc, info = env.step(illegal)
    assert reward == -5.0 and info["invalid_action"] and not term
    assert np.array_equal(obs["board"], board) and info["pieces"] == 0

    strict = gym.make("fsrl/TetrisPlacement-v0", invalid_action="raise")
    obs, info = strict.reset(seed=0)
    with pytest.raises(InvalidPlacementError, match=f"placement {illegal} is masked"):
        strict.step(illegal)
    legal = int(np.flatnonzero(info["action_mask"])[0])
    _, _, _, _, info = strict.step(legal)  # nothing was lost by the refused action
    assert info["pieces"] == 1


@pytest.mark.parametrize(
    ("env_id", "kwargs", "match"),
    [
        ("fsrl/TetrisPlacement-v0", {"mode": "sideways"}, "mode"),
        ("fsrl/TetrisPlacement-v0", {"width": 2}, "width"),
        ("fsrl/TetrisPlacement-v0", {"reward_scheme": "points"}, "reward scheme"),
        ("fsrl/Tetris-v0", {"candidate_features": True}, "candidate_features"),
        ("fsrl/TetrisPlacement-v0", {"line_rewards": (1, 2)}, "line_rewards"),
        ("fsrl/Snake-v0", {"actions": "diagonal"}, "actions"),
        ("fsrl/Snake-v0", {"initial_length": 9}, "initial_length"),
    ],
)
def test_bad_configuration_is_named(env_id: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gym.make(env_id, **kwargs)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_bad_actions_are_named(env_id: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside"):
        env.step(99)
    vec = envs.tetris.make_vector(env_id, num_envs=2, seed=0)
    vec.reset()
    with pytest.raises(ValueError, match="2 integer"):
        vec.step(np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_render_modes(env_id: str) -> None:
    env = gym.make(env_id, render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert isinstance(text, str) and len(text.splitlines()) >= 10
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    vec = envs.tetris.make_vector(env_id, num_envs=2, seed=0, render_mode="rgb_array")
    vec.reset()
    frames = vec.render()
    assert len(frames) == 2 and frames[0].shape == frame.shape


def test_module_prefixed_ids_and_candidate_features() -> None:
    env = gym.make("envs.tetris:fsrl/TetrisPlacement-v0", candidate_features=True)
    obs, info = env.reset(seed=0)
    feats, mask = obs["candidate_features"], obs["action_mask"]
    assert feats.dtype == np.float32 and feats.shape == (40, 18) and mask.shape == (40,)
    assert np.all(feats[mask == 0] == 0) and np.any(feats[mask == 1] != 0)
    # On an empty board nothing is cleared, and the spawn orientation dropped at
    # column 0 leaves as many holes as its shape has overhanging cells.
    holes_flat = {"I": 0, "O": 0, "T": 0, "S": 1, "Z": 1, "J": 0, "L": 0}
    name = "IOTSZJL"[int(np.argmax(obs["piece"]))]
    assert np.all(feats[:, 0] == 0)
    assert feats[0, 1] * 10 == holes_flat[name]
    assert np.isclose(feats[0, 8:].sum() * 22, {"S": 5, "Z": 5}.get(name, 4))  # heights
    vec = envs.tetris.make_vector(
        "envs.tetris:fsrl/TetrisPlacement-v0", num_envs=3, seed=0, candidate_features=True
    )
    obs, _ = vec.reset()
    assert obs["candidate_features"].shape == (3, 40, 18)
    assert gym.spec("fsrl/Snake-v0").vector_entry_point is not None
