"""robot_edge's one weights codec and one numpy forward, as the host, actors and relay use them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from replay.weights import decode_weights as host_decode
from replay.weights import encode_weights as host_encode
from robot_edge.policy import GaussianPolicy, NumpyPolicy, PolicyError, load_policy
from robot_edge.weights import (
    FORMAT_KEY,
    WeightFormatError,
    decode_weights,
    encode_weights,
    read_metadata,
    sha256_hex,
)

TENSORS = {
    "a": np.arange(12, dtype=np.float32).reshape(3, 4),
    "b": np.array([1, -2, 3], dtype=np.int64),
    "c": np.array([[True, False]]),
    "empty": np.zeros((0, 5), np.float32),
}
META = {"arch": "mlp_dueling", "num_actions": "4"}


def _same(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for k, v in want.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape
        np.testing.assert_array_equal(got[k], v)


def test_encode_decode_round_trip_with_format_stamp_and_sha256() -> None:
    blob = encode_weights(TENSORS, META)
    assert read_metadata(blob)[FORMAT_KEY] == "1"
    tensors, meta = decode_weights(blob, sha256=sha256_hex(blob))
    _same(tensors, TENSORS)
    assert meta == META
    with pytest.raises(WeightFormatError, match="sha256"):
        decode_weights(blob, sha256="0" * 64)
    future = encode_weights(TENSORS, {**META, FORMAT_KEY: "2"})
    with pytest.raises(WeightFormatError, match="format '2'"):
        decode_weights(future)
    with pytest.raises(WeightFormatError, match="str -> str"):
        encode_weights(TENSORS, {"num_actions": 4})  # type: ignore[dict-item]


def test_the_codec_reads_and_writes_what_safetensors_and_the_host_do() -> None:
    ours = encode_weights(TENSORS, META)
    _same(dict(st_load(ours)), TENSORS)
    _same(decode_weights(st_save(TENSORS, metadata=META))[0], TENSORS)
    # the host's current codec (replay.weights) and ours agree both ways
    host_blob = host_encode(TENSORS, META)
    tensors, meta = decode_weights(host_blob)
    _same(tensors, TENSORS)
    assert meta == META
    tensors, meta = host_decode(ours)
    _same(tensors, TENSORS)
    assert meta == META


def _gaussian(seed: int, obs_dim: int, hidden: list[int], act_dim: int, log_std: bool) -> tuple:
    torch.manual_seed(seed)
    sizes = [obs_dim, *hidden]
    torso = [torch.nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
    mean = [torch.nn.Linear(hidden[-1], 32), torch.nn.Linear(32, act_dim)]
    tensors = {}
    for prefix, layers in (("torso", torso), ("mean", mean)):
        for i, layer in enumerate(layers):
            tensors[f"{prefix}.{i}.weight"] = layer.weight.detach().numpy().copy()
            tensors[f"{prefix}.{i}.bias"] = layer.bias.detach().numpy().copy()
    if log_std:
        tensors["log_std.0.weight"] = np.zeros((act_dim, hidden[-1]), np.float32)
        tensors["log_std.0.bias"] = np.zeros(act_dim, np.float32)
    scale, bias = [2.0, 0.5][:act_dim], [0.0, 0.25][:act_dim]
    meta = {
        "arch": "mlp_gaussian",
        "action_dim": str(act_dim),
        "action_scale": str(scale),
        "action_bias": str(bias),
        "input_scale": "0.5",
    }

    def reference(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.from_numpy(obs) * 0.5
            for layer in torso:
                x = torch.relu(layer(x))
            x = mean[1](torch.relu(mean[0](x)))
            return (torch.tanh(x) * torch.tensor(scale) + torch.tensor(bias)).numpy()

    return tensors, meta, reference


@pytest.mark.parametrize("log_std", [False, True])
def test_gaussian_policy_matches_torch_and_stays_in_bounds(log_std: bool) -> None:
    tensors, meta, reference = _gaussian(0, 5, [16, 16], 2, log_std)
    policy = load_policy(*decode_weights(encode_weights(tensors, meta)), obs_dim=5, action_dim=2)
    assert isinstance(policy, GaussianPolicy) and policy.action_dim == 2
    obs = np.random.default_rng(0).normal(0, 50, (64, 5)).astype(np.float32)
    got = policy.act(obs)
    np.testing.assert_allclose(got, reference(obs), rtol=1e-5, atol=1e-5)
    assert got.shape == (64, 2) and np.all(np.abs(got - [0.0, 0.25]) <= [2.0, 0.5])
    assert policy.act(obs[0]).shape == (2,)


def test_load_policy_names_what_does_not_fit() -> None:
    tensors, meta, _ = _gaussian(0, 5, [8], 2, False)
    with pytest.raises(PolicyError, match="continuous policy"):
        load_policy(tensors, meta, num_actions=4)
    with pytest.raises(PolicyError, match="action_scale"):
        GaussianPolicy(tensors, {**meta, "action_scale": "[1.0]"})
    with pytest.raises(PolicyError, match="unexpected tensors"):
        GaussianPolicy({**tensors, "extra": np.zeros(1, np.float32)}, meta)
    with pytest.raises(PolicyError, match="'mlp_gaussian' is not 'mlp_dueling'"):
        NumpyPolicy(tensors, meta)
    with pytest.raises(PolicyError, match="not supported on the edge"):
        load_policy(tensors, {**meta, "arch": "cnn_dueling"})
