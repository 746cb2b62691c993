"""The agent contract: registry look-ups, space checks, and DQN through it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from actors.spec import build_agent
from agents import ActorSlot, AgentError, AgentLearner, resolve_agent
from agents.dqn.agent import DQNAgent
from conf import load_config


def test_builtin_and_user_names_resolve() -> None:
    assert resolve_agent("dqn") is DQNAgent
    assert resolve_agent("agents.dqn.agent:DQNAgent") is DQNAgent


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("nope", "built-ins are"),
        ("no_such_pkg.mod:Agent", "cannot import 'no_such_pkg.mod'"),
        ("agents.dqn.agent:Missing", "has no 'Missing'"),
        ("agents.dqn.agent:unflatten", "not a subclass"),
    ],
)
def test_bad_agent_names_are_refused_by_name(name: str, match: str) -> None:
    with pytest.raises(AgentError, match=match):
        resolve_agent(name)


def test_dqn_refuses_continuous_actions_naming_the_space() -> None:
    cfg = load_config(["env.id=Pendulum-v1"])
    with pytest.raises(AgentError, match="Discrete"):
        build_agent(cfg)


def test_dqn_through_the_contract_acts_learns_and_exports() -> None:
    cfg = load_config(["seed=3", "algo.batch_size=32"])
    agent = build_agent(cfg)
    assert agent.transition_spec().names[:2] == ("obs", "action")
    policy = agent.actor_policy(ActorSlot(actor_id=0, num_actors=1, envs_per_actor=4, seed=3))
    policy.ensure_weights()
    obs = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    actions = policy.act(obs)
    assert actions.shape == (4,) and set(actions.tolist()) <= {0, 1}
    learner = agent.learner("cpu", seed=3)
    assert isinstance(learner, AgentLearner)
    batch = {
        "obs": obs[:2].repeat(16, axis=0),
        "action": np.zeros(32, dtype=np.int64),
        "reward": np.ones(32, dtype=np.float32),
        "discount": np.full(32, 0.99, dtype=np.float32),
        "next_obs": obs[2:].repeat(16, axis=0),
    }
    prios = policy.priorities(batch)
    assert prios.shape == (32,) and np.all(prios >= 0) and np.all(np.isfinite(prios))
    before = learner.export()[0]
    new_prios, stats = learner.update(learner.prepare(batch, np.ones(32, dtype=np.float32)))
    assert new_prios.shape == (32,) and "losses/td_loss" in stats
    tensors, meta = learner.export()
    assert any(not np.array_equal(before[k], tensors[k]) for k in tensors)
    policy.load(tensors, meta)  # the actor acts with the learner's new version
    greedy = learner.greedy()(obs)
    q = policy.q.q_values(obs)
    np.testing.assert_array_equal(greedy, q.argmax(axis=1))
    state, extras = learner.state()
    fresh = agent.learner("cpu", seed=99)
    fresh.load_state(state, extras)
    np.testing.assert_array_equal(fresh.greedy()(obs), greedy)


def test_agent_spaces_come_from_gymnasium() -> None:
    cfg = load_config([])
    space = gym.spaces.Box(-1, 1, (3,), np.float32)
    with pytest.raises(AgentError, match="Discrete"):
        DQNAgent(cfg.algo, cfg.model, space, space)
