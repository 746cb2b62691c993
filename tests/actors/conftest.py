"""Fixtures for the actor tests: a composed root config (plain dicts) and a replay table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from actors.spec import build_agent
from agents.dqn.networks import build_q_network, export_for_edge
from conf import from_container, load_config, to_container
from replay import ReplayClient, TableConfig
from replay.weights import WeightStore

TAG = "cartpole-test"


@pytest.fixture()
def make_cfg() -> Callable[..., dict[str, Any]]:
    def make(*overrides: str) -> dict[str, Any]:
        base = ["actors.envs_per_actor=2", "actors.chunk_size=16", "seed=7"]
        return to_container(load_config([*base, *overrides]))

    return make


@pytest.fixture()
def replay_table(redis_url: str, namespace: str) -> Callable[[dict[str, Any]], ReplayClient]:
    """Create the ``replay`` table for a config's env; returns the client."""
    clients: list[ReplayClient] = []

    def create(cfg: dict[str, Any], capacity: int = 50_000) -> ReplayClient:
        client = ReplayClient(redis_url, namespace=namespace)
        client.create_table(
            TableConfig(name=cfg["replay"]["table"], capacity=capacity),
            build_agent(from_container(cfg)).transition_spec(),
        )
        clients.append(client)
        return client

    yield create
    for client in clients:
        client.close()


@pytest.fixture()
def publish(redis_url: str, namespace: str) -> Callable[..., int]:
    """Publish a freshly initialised network of the config's model as a new version."""
    store = WeightStore(redis_url, namespace)

    def pub(cfg: dict[str, Any], seed: int = 0, tag: str = TAG, **model_overrides: Any) -> int:
        import gymnasium as gym
        import torch

        from actors.envs import make_single_env

        torch.manual_seed(seed)
        env = make_single_env(cfg["env"])
        net = build_q_network(
            {**cfg["model"], **model_overrides}, env.observation_space, int(env.action_space.n)
        )
        env.close()
        assert isinstance(env.action_space, gym.spaces.Discrete)
        tensors, meta = export_for_edge(net)
        return store.publish(tag, tensors, meta)

    yield pub
    store.close()
