"""SAC on the agent contract, in one process: it learns Pendulum, acts without torch,
exports what the edge's numpy forward runs, checkpoints exactly, and refuses bad spaces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from sac_loop import evaluate, run_loop
from safetensors.torch import load_file, save_file

import conf
from agents.core import ActorSlot, AgentError
from agents.registry import resolve_agent
from agents.sac import SACAgent, SACConfig
from agents.sac.spec import initial_actor
from robot_edge.policy import GaussianPolicy, PolicyError

ROOT = Path(__file__).resolve().parents[2]
PENDULUM = gym.make("Pendulum-v1")
OBS_SPACE, ACT_SPACE = PENDULUM.observation_space, PENDULUM.action_space
SLOT = ActorSlot(actor_id=0, num_actors=1, envs_per_actor=2, seed=7)


def small_agent(**overrides: object) -> SACAgent:
    cfg = {"hidden_sizes": [64, 64], "batch_size": 128, **overrides}
    return SACAgent(SACConfig(**cfg), None, OBS_SPACE, ACT_SPACE)  # type: ignore[arg-type]


def random_batch(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "obs": rng.normal(size=(n, 3)).astype(np.float32),
        "action": rng.uniform(-2, 2, (n, 1)).astype(np.float32),
        "reward": rng.normal(size=n).astype(np.float32),
        "discount": np.full(n, 0.99, np.float32),
        "next_obs": rng.normal(size=(n, 3)).astype(np.float32),
    }


def trained_learner(agent: SACAgent, updates: int = 6, seed: int = 3):
    learner = agent.learner("cpu", seed)
    for i in range(updates):
        learner.update(learner.prepare(random_batch(32, i), None))
    return learner


@pytest.mark.slow
def test_sac_learns_pendulum_through_the_contract_pieces() -> None:
    torch.set_num_threads(1)
    agent = small_agent(random_warmup_steps=1000)
    untrained = evaluate(agent.learner("cpu", 0).greedy(), "Pendulum-v1", 5, seed=10_000)
    assert untrained < -300, f"the untrained actor already scores {untrained}"

    result = run_loop(
        agent,
        "Pendulum-v1",
        seed=0,
        max_steps=6000,
        min_size_to_sample=1000,
        target_return=-300.0,
        eval_every=500,
    )
    steps, final = result.evals[-1]
    assert final >= -300.0, f"eval returns {result.evals}"
    assert result.priorities_ok
    assert result.versions_loaded > 0
    assert all(np.isfinite(v) for v in result.metrics.values()), result.metrics
    assert result.metrics["losses/alpha"] < 1.0  # the temperature was learned down from 1


def test_export_runs_on_the_numpy_forward_as_the_torch_actor_does() -> None:
    agent = small_agent()
    learner = trained_learner(agent)
    tensors, metadata = learner.export()
    assert metadata["arch"] == "mlp_gaussian"
    assert json.loads(metadata["action_scale"]) == [2.0]
    edge = GaussianPolicy(tensors, metadata)
    obs = np.random.default_rng(1).normal(size=(16, 3)).astype(np.float32)
    with torch.no_grad():
        mu, _ = learner.actor(torch.from_numpy(obs))
    np.testing.assert_allclose(edge.mean_action(obs), mu.numpy(), atol=1e-5)
    np.testing.assert_allclose(edge.act(obs), learner.greedy()(obs), atol=1e-5)

    policy = agent.actor_policy(SLOT)
    policy.load(tensors, metadata)
    np.testing.assert_allclose(policy.greedy(obs), learner.greedy()(obs), atol=1e-5)
    other = agent.learner("cpu", 99)
    other.load_export(tensors, metadata)
    np.testing.assert_allclose(other.greedy()(obs), learner.greedy()(obs), atol=1e-6)


def test_actor_policy_refuses_a_version_that_does_not_fit_and_keeps_the_old() -> None:
    agent = small_agent()
    policy = agent.actor_policy(SLOT)
    policy.ensure_weights()
    obs = np.zeros((2, 3), np.float32)
    before = policy.greedy(obs)
    wide = SACAgent(
        SACConfig(hidden_sizes=[64, 64]),
        None,
        gym.spaces.Box(-1, 1, (5,), np.float32),
        ACT_SPACE,
    )
    tensors, metadata = wide.learner("cpu", 0).export()
    with pytest.raises(ValueError, match="5 observation values"):
        policy.load(tensors, metadata)
    bad = dict(tensors)
    bad["mean.0.bias"] = np.zeros(3, np.float32)
    with pytest.raises(PolicyError, match="mean.0"):
        policy.load(bad, metadata)
    np.testing.assert_array_equal(policy.greedy(obs), before)
    learner = agent.learner("cpu", 0)
    with pytest.raises(ValueError, match="5 observation values|torso.0.weight"):
        learner.load_export(tensors, metadata)


def test_actions_are_seeded_bounded_and_random_during_warmup() -> None:
    agent = small_agent(random_warmup_steps=4)
    obs = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    a, b = agent.actor_policy(SLOT), agent.actor_policy(SLOT)
    c = agent.actor_policy(ActorSlot(actor_id=1, num_actors=2, envs_per_actor=2, seed=7))
    for p in (a, b, c):
        p.ensure_weights()
    runs = [np.stack([p.act(obs) for _ in range(50)]) for p in (a, b, c)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    for actions in runs:
        assert actions.shape == (50, 2, 1) and actions.dtype == np.float32
        assert np.all(np.abs(actions) <= 2.0)
    # the first 2 calls (4 env steps) are uniform over [-2, 2]; the initial policy's are narrow
    warm, policy = np.abs(runs[0][:2]), np.abs(runs[0][2:] - np.median(runs[0][2:]))
    assert warm.max() > 0.5 and np.median(policy) < 0.5
    assert a.priorities(random_batch(4, 0)) is None


def test_state_round_trips_through_safetensors_and_json(tmp_path: Path) -> None:
    agent = small_agent()
    learner = trained_learner(agent, updates=5)
    tensors, extras = learner.state()
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp_path / "s.safetensors"))
    (tmp_path / "s.json").write_text(json.dumps(extras))
    restored = agent.learner("cpu", 123)
    restored.load_state(
        load_file(str(tmp_path / "s.safetensors")), json.loads((tmp_path / "s.json").read_text())
    )
    assert restored.updates == learner.updates == 5
    batch = random_batch(32, 77)
    outs = []
    for lrn in (learner, restored):
        torch.manual_seed(5)
        outs.append(lrn.update(lrn.prepare(batch, np.linspace(0.5, 1, 32).astype(np.float32))))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    assert outs[0][1] == outs[1][1]
    for name, value in learner.state()[0].items():
        torch.testing.assert_close(restored.state()[0][name], value, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("obs_space", "act_space", "named"),
    [
        (OBS_SPACE, gym.spaces.Discrete(3), "Discrete"),
        (OBS_SPACE, gym.spaces.MultiDiscrete([2, 2]), "MultiDiscrete"),
        (OBS_SPACE, gym.spaces.Box(-np.inf, np.inf, (1,), np.float32), "finite action bounds"),
        (gym.spaces.Dict({"x": OBS_SPACE}), ACT_SPACE, "Dict"),
        (gym.spaces.Discrete(5), ACT_SPACE, "Discrete\\(5\\)"),
    ],
)
def test_spaces_sac_cannot_handle_are_refused_by_name(obs_space, act_space, named) -> None:
    with pytest.raises(AgentError, match=named):
        SACAgent(SACConfig(), None, obs_space, act_space)


def test_registry_and_config_checks() -> None:
    assert resolve_agent("sac") is SACAgent
    agent = SACAgent({"tau": 0.01, "n_step": 3}, None, OBS_SPACE, ACT_SPACE)
    assert agent.n_step == 3 and agent.config.tau == 0.01
    assert agent.transition_spec()["action"].shape == (1,)
    assert agent.transition_spec()["action"].dtype == "<f4"
    with pytest.raises(AgentError, match="taus"):
        SACAgent({"taus": 0.01}, None, OBS_SPACE, ACT_SPACE)
    with pytest.raises(AgentError, match=r"algo.tau=0"):
        SACAgent({"tau": 0.0}, None, OBS_SPACE, ACT_SPACE)
    with pytest.raises(AgentError, match="log_std_max"):
        SACAgent(SACConfig(log_std_min=1.0, log_std_max=0.0), None, OBS_SPACE, ACT_SPACE)


def test_algo_sac_composes_typed_and_bad_values_fail_by_name() -> None:
    cfg = conf.load_config(["algo=sac", "env=pendulum"])
    assert isinstance(cfg.algo, SACConfig) and cfg.algo.name == "sac"
    assert cfg.algo.n_step == 1 and cfg.algo.policy_lr == 3e-4
    with pytest.raises(ValueError, match=r"algo\.tau=0\.0"):
        conf.load_config(["algo=sac", "algo.tau=0"])
    with pytest.raises(ValueError, match="policy_lrr"):
        conf.load_config(["algo=sac", "algo.policy_lrr=1"])


def test_initial_actor_is_the_learners_version_zero() -> None:
    agent = small_agent()
    learner = agent.learner("cpu", 11)
    exported, _ = learner.export()
    seeded = initial_actor(agent.spaces, agent.config, 11)
    assert exported.keys() == seeded.keys()
    for name in seeded:
        np.testing.assert_array_equal(exported[name], seeded[name])


ACT_WITHOUT_TORCH = """
import sys
import gymnasium as gym
import numpy as np
from agents.core import ActorSlot
from agents.registry import resolve_agent
from agents.sac.spec import initial_actor
env = gym.make("Pendulum-v1")
agent = resolve_agent("sac")({}, None, env.observation_space, env.action_space)
policy = agent.actor_policy(ActorSlot(0, 1, 1, 0))
policy.ensure_weights()
obs, _ = env.reset(seed=0)
for _ in range(20):
    action = policy.act(obs[None])
    obs, *_ = env.step(action[0])
assert policy.priorities({"reward": np.zeros(3)}) is None
policy.load(initial_actor(agent.spaces, agent.config, 5), agent.spaces.metadata(agent.config))
policy.act(obs[None])
print("torch loaded:", "torch" in sys.modules)
"""


def test_actor_policy_acts_without_importing_torch() -> None:
    out = subprocess.run(
        [sys.executable, "-c", ACT_WITHOUT_TORCH],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "torch loaded: False"
