"""cold_start publishes version 0 of a new tag; evaluate ranks stored versions on fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import conf
from agents.dqn.networks import build_q_network, export_for_edge
from learner.cold_start import cold_start
from learner.cold_start import main as cold_start_main
from learner.evaluate import evaluate_policy, leaderboard
from learner.evaluate import main as evaluate_main
from replay.weights import WeightStore


def test_cold_start_then_leaderboard(redis_url: str, namespace: str, capsys) -> None:
    overrides = [
        f"replay.redis_url={redis_url}",
        f"replay.namespace={namespace}",
        "model.tag=mlp_v2",
    ]
    assert cold_start_main([*overrides, "model.hidden_sizes=[32]"]) == 0
    assert "published mlp_v2 version 0" in capsys.readouterr().out
    cfg = conf.load_config(overrides)
    with pytest.raises(ValueError, match="already has versions"):
        cold_start(cfg, redis_url)
    store = WeightStore(redis_url, namespace)
    _, tensors, meta = store.fetch("mlp_v2", 0)
    assert meta["arch"] == "mlp_dueling" and meta["hidden_sizes"] == "[32]"

    # A hand-made "trained" version: always push right until the pole falls on one side,
    # which scores differently from the random init on the same seeds.
    net = build_q_network({"arch": "mlp_dueling", "hidden_sizes": [32]}, _space(), 2)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.advantage[0].bias.copy_(torch.tensor([0.0, 1.0]))
    t2, m2 = export_for_edge(net)
    store.publish("mlp_v2", t2, m2)
    rows = leaderboard(store, "mlp_v2", cfg.env, episodes=4, seed=cfg.env.eval_seed)
    assert [r["version"] for r in sorted(rows, key=lambda r: r["version"])] == [0, 1]
    assert rows[0]["mean_return"] >= rows[1]["mean_return"]
    expected = evaluate_policy(net, cfg.env, 4, cfg.env.eval_seed)
    by_version = {r["version"]: r for r in rows}
    assert by_version[1]["mean_return"] == pytest.approx(float(np.mean(expected)))
    assert evaluate_main([*overrides, "env.eval_episodes=2"]) == 0
    assert "mlp_v2" in capsys.readouterr().out


def test_evaluation_is_deterministic_on_fixed_seeds() -> None:
    cfg = conf.load_config([])
    torch.manual_seed(0)
    net = build_q_network(cfg.model, _space(), 2)
    a = evaluate_policy(net, cfg.env, 5, seed=123)
    b = evaluate_policy(net, cfg.env, 5, seed=123)
    np.testing.assert_array_equal(a, b)


def test_clis_without_a_store_say_what_is_missing() -> None:
    with pytest.raises(SystemExit, match="replay.redis_url"):
        cold_start_main(["model.tag=x"])
    with pytest.raises(SystemExit, match="replay.redis_url"):
        evaluate_main(["model.tag=x"])


def _space():
    import gymnasium as gym

    return gym.make("CartPole-v1").observation_space
