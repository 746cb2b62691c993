"""The actor's Q-function: numpy mlp_dueling == the learner's torch network; misfits refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.dqn import networks as models
from agents.dqn.actor import (
    NumpyDuelingPolicy,
    TorchPolicy,
    make_actor_policy,
)

ROOT = Path(__file__).resolve().parents[2]
BOX = gym.spaces.Box(-5.0, 5.0, (4,), np.float32)
GRID = gym.spaces.Box(-5.0, 5.0, (3, 5), np.float32)
DICT = gym.spaces.Dict(
    {
        "grid": gym.spaces.Box(0, 3, (4, 5), np.uint8),
        "features": gym.spaces.Box(-1.0, 1.0, (3,), np.float32),
        "action_mask": gym.spaces.Box(0, 1, (6,), np.int8),
    }
)
DICT_NO_MASK = gym.spaces.Dict({k: v for k, v in DICT.spaces.items() if k != "action_mask"})


def _torch_net(model_cfg: dict[str, Any], space: gym.Space, actions: int, seed: int) -> Any:
    torch.manual_seed(seed)
    net = models.build_q_network(model_cfg, space, actions)
    net.eval()
    return net


def _batch(space: gym.Space, n: int, seed: int) -> Any:
    """A random batch; masks get at least one valid action per row."""
    space.seed(seed)
    rows = [space.sample() for _ in range(n)]
    if isinstance(space, gym.spaces.Dict):
        batch = {k: np.stack([r[k] for r in rows]) for k in space.spaces}
        if "action_mask" in batch:
            batch["action_mask"][:, 0] = 1
        return batch
    return np.stack(rows)


def _torch_q(net: Any, obs: Any) -> np.ndarray:
    with torch.no_grad():
        return net(models.obs_to_tensor(obs)).numpy()


@pytest.mark.parametrize(
    ("space", "model_cfg"),
    [
        (BOX, {"hidden_sizes": [64, 64]}),
        (GRID, {"hidden_sizes": [32], "head_hidden_size": 16, "input_scale": 0.5}),
        (DICT, {"hidden_sizes": [64, 64], "input_scale": 0.25}),
        (DICT_NO_MASK, {"hidden_sizes": [16, 8, 8], "head_hidden_size": 4}),
    ],
    ids=["box", "box-2d-scaled-head", "dict-masked", "dict-unmasked"],
)
def test_numpy_policy_matches_the_torch_network(space: gym.Space, model_cfg: dict) -> None:
    cfg = {"arch": "auto", **model_cfg}
    net = _torch_net({**cfg, "arch": "mlp_dueling"}, space, 6, seed=3)
    policy = make_actor_policy(cfg, space, 6, seed=3)
    assert isinstance(policy, NumpyDuelingPolicy)
    policy.load(*models.export_for_edge(net))
    for n in (1, 8, 64):
        obs = _batch(space, n, seed=n)
        expected = _torch_q(net, obs)
        got = policy.q_values(obs)
        assert got.shape == (n, 6) and got.dtype == np.float32
        assert np.array_equal(np.isneginf(got), np.isneginf(expected))
        if isinstance(obs, dict) and "action_mask" in obs:
            assert np.array_equal(np.isneginf(got), obs["action_mask"] == 0)
            assert np.isneginf(got).any()  # the mask did hide actions
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-5, atol=1e-5)


def test_seeded_initial_network_is_the_learners_and_lazy() -> None:
    policy = make_actor_policy({"arch": "mlp_dueling"}, BOX, 2, seed=1_000_003 * 7)
    assert isinstance(policy, NumpyDuelingPolicy) and not policy.loaded
    with pytest.raises(RuntimeError, match="no weights"):
        policy.q_values(np.zeros((1, 4), np.float32))
    policy.ensure_weights()
    obs = _batch(BOX, 32, seed=0)
    expected = _torch_q(_torch_net({"arch": "mlp_dueling"}, BOX, 2, seed=1_000_003 * 7), obs)
    np.testing.assert_allclose(policy.q_values(obs), expected, rtol=1e-5, atol=1e-5)
    # ensure_weights never replaces loaded weights
    other = _torch_net({"arch": "mlp_dueling"}, BOX, 2, seed=5)
    policy.load(*models.export_for_edge(other))
    policy.ensure_weights()
    np.testing.assert_allclose(policy.q_values(obs), _torch_q(other, obs), rtol=1e-5, atol=1e-5)


def _exported(space: gym.Space = BOX, actions: int = 2, **cfg: Any) -> tuple[dict, dict]:
    net = _torch_net({"arch": "mlp_dueling", **cfg}, space, actions, seed=11)
    tensors, meta = models.export_for_edge(net)
    return dict(tensors), dict(meta)


def _misfits() -> list[tuple[str, tuple[dict, dict], str]]:
    tensors, meta = _exported()
    wrong_shape = {**tensors, "torso.1.bias": np.zeros(127, np.float32)}
    extra = {**tensors, "torso.9.weight": np.zeros((2, 2), np.float32)}
    missing = {k: v for k, v in tensors.items() if k != "value.0.bias"}
    nan = {**tensors, "value.0.bias": np.full(1, np.nan, np.float32)}
    return [
        (
            "hidden",
            _exported(hidden_sizes=[8]),
            r"torso\.0\.weight is \[8, 4\], .* needs \[128, 4\]",
        ),
        ("actions", _exported(actions=3), r"advantage\.0\.weight is \[3, 128\]"),
        ("obs-size", _exported(GRID), r"torso\.0\.weight is \[128, 15\], .* needs \[128, 4\]"),
        ("shape", (wrong_shape, meta), r"torso\.1\.bias is \[127\]"),
        ("extra", (extra, meta), r"unexpected \['torso\.9\.weight'\]"),
        ("missing", (missing, meta), r"missing \['value\.0\.bias'\]"),
        ("arch", (tensors, {**meta, "arch": "cnn_dueling"}), "arch 'cnn_dueling'"),
        ("scale", (tensors, {**meta, "input_scale": "0.5"}), "input_scale=0.5"),
        ("keys", (tensors, {**meta, "obs_keys": json.dumps(["x"])}), r"keys \['x'\]"),
        ("non-finite", (nan, meta), "non-finite"),
    ]


@pytest.mark.parametrize(
    ("weights", "message"), [pytest.param(w, m, id=name) for name, w, m in _misfits()]
)
def test_misfit_weights_are_refused_and_the_previous_kept(
    weights: tuple[dict, dict], message: str
) -> None:
    policy = make_actor_policy({"arch": "auto"}, BOX, 2, seed=0)
    good = _exported()
    policy.load(*good)
    obs = _batch(BOX, 16, seed=1)
    before = policy.q_values(obs)
    with pytest.raises(ValueError, match=message):
        policy.load(*weights)
    np.testing.assert_array_equal(policy.q_values(obs), before)


def test_dict_weights_for_other_keys_or_a_box_batch_are_refused() -> None:
    policy = make_actor_policy({"arch": "auto"}, DICT, 6, seed=0)
    tensors, meta = _exported(DICT, 6)
    policy.load(tensors, meta)
    with pytest.raises(ValueError, match="dict observation"):
        NumpyDuelingPolicy({}, BOX, 2, seed=0).features({"x": np.zeros((1, 4))})
    with pytest.raises(ValueError, match="takes 23"):
        policy.q_values(np.zeros((2, 4), np.float32))


@pytest.mark.parametrize(
    ("space", "numpy"),
    [
        (BOX, True),
        (GRID, True),
        (DICT, True),
        (gym.spaces.Box(0, 255, (2, 6, 6), np.uint8), False),
        (
            gym.spaces.Dict(
                {
                    "candidate_features": gym.spaces.Box(-1, 1, (6, 3), np.float32),
                    "action_mask": gym.spaces.Box(0, 1, (6,), np.int8),
                }
            ),
            False,
        ),
    ],
)
def test_auto_arch_picks_numpy_for_the_dueling_mlp_only(space: gym.Space, numpy: bool) -> None:
    policy = make_actor_policy({"arch": "auto"}, space, 6, seed=0)
    assert policy.arch == models.resolve_arch("auto", space)
    assert isinstance(policy, NumpyDuelingPolicy) is numpy
    assert isinstance(policy, TorchPolicy) is not numpy


def test_unknown_arch_is_refused() -> None:
    with pytest.raises(ValueError, match="model.arch='mlp'"):
        make_actor_policy({"arch": "mlp"}, BOX, 2, seed=0)


def test_torch_policy_for_the_other_archs_and_its_refusals() -> None:
    space = gym.spaces.Dict(
        {
            "candidate_features": gym.spaces.Box(-1, 1, (6, 3), np.float32),
            "action_mask": gym.spaces.Box(0, 1, (6,), np.int8),
        }
    )
    cfg = {"arch": "auto", "hidden_sizes": [16]}
    policy = make_actor_policy(cfg, space, 6, seed=4)
    assert isinstance(policy, TorchPolicy) and policy.arch == "candidate_scorer"
    obs = _batch(space, 8, seed=2)
    seeded = _torch_net({**cfg, "arch": "candidate_scorer"}, space, 6, seed=4)
    np.testing.assert_array_equal(policy.q_values(obs), _torch_q(seeded, obs))
    assert np.array_equal(np.isneginf(policy.q_values(obs)), obs["action_mask"] == 0)

    other = _torch_net({**cfg, "arch": "candidate_scorer"}, space, 6, seed=9)
    tensors, meta = models.export_for_edge(other)
    policy.load(tensors, meta)
    before = policy.q_values(obs)
    np.testing.assert_array_equal(before, _torch_q(other, obs))
    # a misfit in the last tensor only: nothing of it may be half-loaded
    bad = {k: v * 0 for k, v in tensors.items()}
    bad["head.weight"] = np.zeros((1, 8), np.float32)
    with pytest.raises(ValueError, match=r"head\.weight is \[1, 8\], the network needs \[1, 16\]"):
        policy.load(bad, meta)
    with pytest.raises(ValueError, match="arch 'mlp_dueling'"):
        policy.load(tensors, {**meta, "arch": "mlp_dueling"})
    np.testing.assert_array_equal(policy.q_values(obs), before)


# Run in a fresh interpreter: an ActorWorker for CartPole (mlp_dueling), following a
# published version, steps and writes without torch ever being imported.
NO_TORCH_PROBE = r"""
import sys
import actors.worker
assert "torch" not in sys.modules, "import actors.worker imported torch"
from actors.worker import ActorWorker
from conf import load_config, to_container
url, ns, tag = sys.argv[1:4]
cfg = to_container(load_config(["actors.envs_per_actor=8", "actors.chunk_size=16", "seed=7"]))
worker = ActorWorker.from_config(cfg, 0, url, ns, tag)
out = worker.collect(400)
worker.stop()
assert out["policy_version"] == 0 and out["transitions"] > 0, out
assert "torch" not in sys.modules, "the CartPole actor imported torch"
print("no torch", out["transitions"])
"""


def test_a_cartpole_actor_runs_without_importing_torch(
    make_cfg, replay_table, publish, redis_url, namespace
) -> None:
    cfg = make_cfg("actors.envs_per_actor=8")
    client = replay_table(cfg)
    assert publish(cfg, seed=1) == 0
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH_PROBE, redis_url, namespace, "cartpole-test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no torch" in proc.stdout
    assert client.size("replay") == int(proc.stdout.split()[-1]) > 0
