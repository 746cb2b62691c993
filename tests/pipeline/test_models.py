"""Q-network shapes, masking, dueling structure and the edge export format."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.dqn.networks import (
    build_q_network,
    export_for_edge,
    load_tensors,
    model_config_from_metadata,
    resolve_arch,
)
from conf.schema import ModelConfig

BOX = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
GRID = gym.spaces.Box(0, 3, (2, 8, 8), np.uint8)
CANDS = gym.spaces.Dict(
    {
        "candidate_features": gym.spaces.Box(-np.inf, np.inf, (5, 3), np.float32),
        "action_mask": gym.spaces.MultiBinary(5),
    }
)


def test_auto_arch_follows_the_observation_space() -> None:
    assert resolve_arch("auto", BOX) == "mlp_dueling"
    assert resolve_arch("auto", GRID) == "cnn_dueling"
    assert resolve_arch("auto", CANDS) == "candidate_scorer"
    with pytest.raises(ValueError, match="transformer"):
        resolve_arch("transformer", BOX)


def test_mlp_dueling_q_is_value_plus_centred_advantage() -> None:
    torch.manual_seed(0)
    net = build_q_network(ModelConfig(hidden_sizes=[16, 16]), BOX, 3)
    obs = torch.randn(7, 4)
    q = net(obs)
    assert q.shape == (7, 3)
    h = net.features(obs)
    v = net.value[0](h)
    a = net.advantage[0](h)
    torch.testing.assert_close(q, v + a - a.mean(1, keepdim=True))


def test_cnn_dueling_takes_uint8_grids() -> None:
    net = build_q_network(ModelConfig(arch="cnn_dueling", hidden_sizes=[32]), GRID, 4)
    obs = torch.as_tensor(np.random.default_rng(0).integers(0, 4, (3, 2, 8, 8), dtype=np.uint8))
    assert net(obs).shape == (3, 4)


def test_candidate_scorer_masks_invalid_actions() -> None:
    net = build_q_network(ModelConfig(hidden_sizes=[8]), CANDS, 5)
    feats = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 0, 1, 0, 1], [0, 0, 0, 1, 0]], dtype=torch.int8)
    q = net({"candidate_features": feats, "action_mask": mask})
    assert q.shape == (2, 5)
    assert torch.isinf(q[~mask.bool()]).all() and (q[~mask.bool()] < 0).all()
    assert torch.isfinite(q[mask.bool()]).all()
    assert q.argmax(1).tolist()[1] == 3
    # The same features score the same wherever they appear (one shared scorer).
    same = net({"candidate_features": feats[:, [0, 0, 0, 0, 0]], "action_mask": torch.ones(2, 5)})
    torch.testing.assert_close(same[:, 0], same[:, 4])


def test_export_round_trips_and_numpy_forward_matches_torch() -> None:
    torch.manual_seed(1)
    cfg = ModelConfig(hidden_sizes=[16, 8], head_hidden_size=4)
    net = build_q_network(cfg, BOX, 2)
    tensors, meta = export_for_edge(net)
    assert meta["arch"] == "mlp_dueling"
    assert json.loads(meta["hidden_sizes"]) == [16, 8]
    assert all(isinstance(v, str) for v in meta.values())
    assert all(t.dtype == np.float32 for t in tensors.values())
    # Rebuild from metadata only, load, compare.
    twin = build_q_network(model_config_from_metadata(meta), BOX, int(meta["num_actions"]))
    load_tensors(twin, tensors)
    obs = torch.randn(5, 4)
    torch.testing.assert_close(twin(obs), net(obs))

    # The documented numpy forward pass (what robot_edge implements).
    def relu(x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0.0)

    def mlp(prefix: str, x: np.ndarray, n: int, relu_last: bool) -> np.ndarray:
        for i in range(n):
            x = x @ tensors[f"{prefix}.{i}.weight"].T + tensors[f"{prefix}.{i}.bias"]
            if relu_last or i < n - 1:
                x = relu(x)
        return x

    x = obs.numpy() * float(meta["input_scale"])
    h = mlp("torso", x, 2, True)
    v = mlp("value", h, 2, False)
    a = mlp("advantage", h, 2, False)
    q = v + a - a.mean(1, keepdims=True)
    np.testing.assert_allclose(q, net(obs).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_load_tensors_refuses_a_mismatched_network() -> None:
    net = build_q_network(ModelConfig(hidden_sizes=[16]), BOX, 2)
    other = build_q_network(ModelConfig(hidden_sizes=[16, 16]), BOX, 2)
    tensors, _ = export_for_edge(other)
    with pytest.raises(ValueError, match="torso.1.weight"):
        load_tensors(net, tensors)


@pytest.mark.parametrize(
    ("experiment", "arch"),
    [("smoke", "mlp_dueling"), ("tetris", "candidate_scorer"), ("snake", "cnn_dueling")],
)
def test_env_presets_build_their_network(experiment: str, arch: str) -> None:
    import conf
    from learner.evaluate import env_spaces

    cfg = conf.load_config([f"experiment={experiment}"])
    space, num_actions = env_spaces(cfg.env)
    assert resolve_arch(cfg.model.arch, space) == arch
    net = build_q_network(cfg.model, space, num_actions)
    sample = space.sample()
    if isinstance(sample, dict):
        obs = {k: torch.as_tensor(np.asarray(v)[None]) for k, v in sample.items()}
    else:
        obs = torch.as_tensor(np.asarray(sample)[None])
    assert net(obs).shape == (1, num_actions)
