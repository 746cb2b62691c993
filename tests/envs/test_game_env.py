"""The game envs: Gymnasium's checker, same-seed determinism, rewards from the agent's
side, the opponent moving inside step, forfeits and errors."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs.games
from envs.games import IllegalMoveError
from envs.games.env import ConnectFourEnv

VARIANTS = [
    ("fsrl/ConnectFour-v0", {}),
    ("fsrl/ConnectFour-v0", {"opponent": "alphabeta", "opponent_kwargs": {"depth": 2}}),
    ("fsrl/TicTacToe-v0", {"agent_first": False}),
    ("fsrl/TwoPlayerGame-v0", {"game": "tictactoe", "opponent": "first_legal"}),
]


@pytest.mark.parametrize(("env_id", "kwargs"), VARIANTS)
def test_check_env(env_id: str, kwargs: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id, **kwargs)
        check_env(env.unwrapped)
    env.close()


def _trace(env_id: str, seed: int, episodes: int) -> list:
    env = gym.make(env_id)
    rng = np.random.default_rng(123)
    out = []
    obs, info = env.reset(seed=seed)
    for _ in range(episodes):
        done = False
        while not done:
            out.append((obs["board"].tobytes(), obs["action_mask"].tobytes(), info["agent_first"]))
            action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
            obs, reward, terminated, truncated, info = env.step(action)
            out.append(reward)
            done = terminated or truncated
        obs, info = env.reset()
    return out


@pytest.mark.parametrize("env_id", envs.games.ENV_IDS[:2])
def test_same_seed_same_games(env_id: str) -> None:
    a, b = _trace(env_id, 7, 6), _trace(env_id, 7, 6)
    assert a == b
    assert a != _trace(env_id, 8, 6)  # the seed reaches the opponent and the first player


def test_agent_wins_and_loses_from_its_own_side() -> None:
    # The opponent always plays the lowest legal column: the agent stacks column 3 and wins.
    env = ConnectFourEnv(opponent="first_legal", agent_first=True)
    obs, info = env.reset(seed=0)
    assert obs["board"].sum() == 0 and info["agent_first"]
    rewards = []
    for _ in range(4):
        obs, r, terminated, truncated, info = env.step(3)
        rewards.append(r)
    assert rewards == [0.0, 0.0, 0.0, 1.0] and terminated and not truncated
    assert info["outcome"] == 1.0 and info["plies"] == 7
    assert obs["board"][0, :, 3].sum() == 4 and obs["board"][1, :, 0].sum() == 3

    # Playing second, the opponent moved in reset; stacking column 6 loses to its column 0.
    env = ConnectFourEnv(opponent="first_legal", agent_first=False)
    obs, info = env.reset(seed=0)
    assert obs["board"][1].sum() == 1 and obs["board"][0].sum() == 0
    for _ in range(3):
        obs, r, terminated, _, info = env.step(6)
    assert (r, terminated, info["outcome"]) == (-1.0, True, -1.0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)

    # Tic-tac-toe: the opponent takes cells 0 and 1; the agent's 4-2-6 diagonal wins.
    env = envs.games.TicTacToeEnv(opponent="first_legal", agent_first=True)
    env.reset(seed=0)
    for a in (4, 2, 6):
        obs, r, terminated, _, info = env.step(a)
        if terminated:
            break
    assert terminated and r == 1.0  # 2-4-6 diagonal; the opponent took 0 and 1


def test_illegal_move_forfeits_or_raises() -> None:
    env = ConnectFourEnv(opponent="first_legal", agent_first=True)
    env.reset(seed=0)
    for _ in range(3):
        obs, *_ = env.step(0)  # agent and opponent fill column 0
    assert obs["action_mask"].tolist() == [0, 1, 1, 1, 1, 1, 1]
    obs, r, terminated, _, info = env.step(0)
    assert (r, terminated, info["illegal"]) == (-1.0, True, True)

    env = ConnectFourEnv(opponent="first_legal", agent_first=True, invalid_action="raise")
    env.reset(seed=0)
    with pytest.raises(IllegalMoveError, match="move 7 is illegal"):
        env.step(7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"opponent": "grandmaster"}, "opponent='grandmaster'"),
        ({"opponent": "no_such_mod:P"}, "cannot import module 'no_such_mod'"),
        ({"agent_first": "yes"}, "agent_first"),
        ({"invalid_action": "ignore"}, "invalid_action"),
        ({"game": "tictactoe"}, "plays connect_four"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConnectFourEnv(**kwargs)


def test_module_prefixed_id_builds_through_the_actor_path() -> None:
    env = gym.make("envs.games:fsrl/ConnectFour-v0", opponent="random")
    assert isinstance(env.observation_space, gym.spaces.Dict)
    assert env.observation_space["board"].shape == (2, 6, 7)
    env.close()


def test_connect_four_preset_builds_for_the_actors_and_masks_q_values() -> None:
    import torch

    import conf
    from actors.envs import VectorStepper, make_single_env, make_vector_env
    from agents.dqn.networks import build_q_network, resolve_arch

    cfg = conf.load_config(["env=connect_four"])
    env_cfg = conf.to_container(cfg)["env"]
    single = make_single_env(env_cfg)
    assert resolve_arch(cfg.model.arch, single.observation_space) == "mlp_dueling"
    vec = make_vector_env(env_cfg, num_envs=3, seed=5)
    stepper = VectorStepper(vec, seed=5)
    obs = stepper.reset()
    net = build_q_network(cfg.model, single.observation_space, 7)
    rng = np.random.default_rng(0)
    episodes_done = 0
    for _ in range(40):
        q = net({k: torch.as_tensor(v) for k, v in obs.items()})
        assert torch.isinf(q[obs["action_mask"] == 0]).all()  # illegal columns never chosen
        actions = np.argmax(rng.random(obs["action_mask"].shape) * obs["action_mask"], axis=1)
        step = stepper.step(actions)
        assert step.valid.all()
        episodes_done += int(step.terminated.sum())
        obs = step.obs
    assert episodes_done > 0
    vec.close()


def test_an_opponent_that_plays_an_illegal_move_is_named() -> None:
    def stubborn(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.zeros(len(obs), dtype=np.int64)  # column 0, full or not

    env = ConnectFourEnv(opponent=stubborn, agent_first=True)
    env.reset(seed=0)
    for _ in range(3):
        env.step(0)  # column 0 is full after the opponent's third reply
    with pytest.raises(IllegalMoveError, match="opponent .*stubborn.* played illegal move 0"):
        env.step(1)
