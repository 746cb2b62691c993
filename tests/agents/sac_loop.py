"""A single-process SAC loop over the agent contract's pieces (used by the SAC tests).

ActorPolicy acts in one env, :class:`actors.nstep.NStepFolder` folds the steps into the
standard replay columns, a numpy ring buffer stands in for the replay's sampler, the
AgentLearner updates, and every ``publish_every`` steps the export goes back to the
ActorPolicy through ``load`` — the data path of ``agents/core.py`` without Redis or Ray.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from actors.nstep import NStepFolder
from agents.core import ActorSlot, Agent
from replay.schema import TransitionSpec


class RingBuffer:
    """Uniform replay over the spec's columns, FIFO once full."""

    def __init__(self, spec: TransitionSpec, capacity: int, seed: int) -> None:
        self.spec = spec
        self.capacity = capacity
        self.columns = spec.empty_batch(capacity)
        self.size = 0
        self.cursor = 0
        self.rng = np.random.default_rng(seed)

    def add(self, batch: dict[str, np.ndarray]) -> None:
        n = self.spec.check_batch(batch)
        for i in range(n):
            for name, column in self.columns.items():
                column[self.cursor] = batch[name][i]
            self.cursor = (self.cursor + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        idx = self.rng.integers(0, self.size, batch_size)
        return {name: column[idx] for name, column in self.columns.items()}


@dataclass
class LoopResult:
    evals: list[tuple[int, float]] = field(default_factory=list)
    priorities_ok: bool = True
    metrics: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    versions_loaded: int = 0


def evaluate(act: Any, env_id: str, episodes: int, seed: int) -> float:
    env = gym.make(env_id)
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            action = act(np.asarray(obs, dtype=np.float32)[None])[0]
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def run_loop(
    agent: Agent,
    env_id: str,
    seed: int,
    max_steps: int,
    min_size_to_sample: int,
    target_return: float,
    eval_every: int,
    eval_episodes: int = 5,
    publish_every: int = 200,
) -> LoopResult:
    """Train until a greedy evaluation reaches ``target_return`` or ``max_steps`` pass."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    spec = agent.transition_spec()
    buffer = RingBuffer(spec, capacity=max_steps, seed=seed)
    folder = NStepFolder(num_envs=1, n=agent.n_step, gamma=agent.gamma)
    policy = agent.actor_policy(ActorSlot(actor_id=0, num_actors=1, envs_per_actor=1, seed=seed))
    policy.ensure_weights()
    learner = agent.learner("cpu", seed)
    result = LoopResult()
    version = 0
    start = time.monotonic()
    obs, _ = env.reset(seed=seed)
    for step in range(1, max_steps + 1):
        action = policy.act(np.asarray(obs, dtype=np.float32)[None])
        next_obs, reward, terminated, truncated, _ = env.step(action[0])
        out = folder.step(
            np.asarray(obs, dtype=np.float32)[None],
            action,
            np.array([reward]),
            np.array([terminated]),
            np.array([truncated]),
            np.asarray(next_obs, dtype=np.float32)[None],
            extras={"policy_version": np.array([version], dtype=np.int64)},
        )
        out.pop("env_index")
        out["actor_id"] = np.zeros(len(out["reward"]), dtype=np.int32)
        prios = policy.priorities(out)
        result.priorities_ok &= prios is None or bool(np.all(prios > 0))
        buffer.add(out)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
        if buffer.size >= min_size_to_sample:
            batch = buffer.sample(int(agent.algo.batch_size))
            prepared = learner.prepare(batch, np.ones(len(batch["reward"]), np.float32))
            priorities, result.metrics = learner.update(prepared)
            ok = priorities.shape == (len(batch["reward"]),) and bool(
                np.all(np.isfinite(priorities) & (priorities > 0))
            )
            result.priorities_ok &= ok
            if step % publish_every == 0:
                tensors, metadata = learner.export()
                policy.load(tensors, metadata)
                version += 1
                result.versions_loaded += 1
        if step % eval_every == 0:
            mean = evaluate(learner.greedy(), env_id, eval_episodes, seed=10_000)
            result.evals.append((step, mean))
            if mean >= target_return:
                break
    result.wall_s = time.monotonic() - start
    env.close()
    return result
