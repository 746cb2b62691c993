"""On-device inference: numpy forward == torch network; weight pushes checked and versioned."""

from __future__ import annotations

import hashlib

import gymnasium as gym
import numpy as np
import pytest
import torch
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from agents.dqn.networks import build_q_network, export_for_edge
from envs.gopigo_bridge.client import EdgeClient, EdgeReplyError
from robot_edge import protocol as P
from robot_edge.policy import NumpyPolicy, PolicyError
from robot_edge.server import EdgeServer
from robot_edge.weights import WeightFormatError, decode_safetensors, encode_safetensors

OBS_SPACE = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)


def _export(
    seed: int,
    hidden: list[int],
    head: int = 0,
    scale: float = 1.0,
    obs_space: gym.Space = OBS_SPACE,
    actions: int = 4,
) -> tuple:
    torch.manual_seed(seed)
    model = build_q_network(
        {
            "arch": "mlp_dueling",
            "hidden_sizes": hidden,
            "head_hidden_size": head,
            "input_scale": scale,
        },
        obs_space,
        actions,
    )
    return model, *export_for_edge(model)


@pytest.mark.parametrize(
    ("hidden", "head", "scale", "shape"),
    [([64, 64], 0, 1.0, (3,)), ([32], 16, 0.5, (3,)), ([128, 64, 32], 32, 1.0, (2, 5))],
)
def test_numpy_forward_matches_torch(
    hidden: list[int], head: int, scale: float, shape: tuple
) -> None:
    space = gym.spaces.Box(-5.0, 5.0, shape, np.float32)
    model, tensors, meta = _export(1, hidden, head, scale, space, actions=5)
    blob = encode_safetensors(tensors, meta)
    policy = NumpyPolicy(*decode_safetensors(blob))
    obs = np.random.default_rng(0).uniform(-5, 5, (256, *shape)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(obs)).numpy()
    got = policy.q_values(obs.reshape(256, -1))
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
    assert policy.act(obs[0]) == int(expected[0].argmax())
    np.testing.assert_allclose(policy.q_values(obs[7]), expected[7], atol=1e-5, rtol=1e-5)


def test_safetensors_codec_is_compatible_both_ways() -> None:
    tensors = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": np.array([1, -2], np.int64),
        "c": np.zeros((0, 4), np.float32),
    }
    ours = encode_safetensors(tensors, {"arch": "x"})
    theirs = st_load(ours)
    assert set(theirs) == set(tensors)
    for k, v in tensors.items():
        np.testing.assert_array_equal(theirs[k], v)
    back, meta = decode_safetensors(st_save(tensors, metadata={"arch": "y"}))
    assert meta == {"arch": "y"}
    for k, v in tensors.items():
        np.testing.assert_array_equal(back[k], v)
        assert back[k].dtype == v.dtype


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\xff" * 8 + b"{}",
        (5).to_bytes(8, "little") + b"nojso",
        (2).to_bytes(8, "little") + b"[]",
        (60).to_bytes(8, "little") + b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}    ',
    ],
)
def test_malformed_blobs_are_named(blob: bytes) -> None:
    with pytest.raises(WeightFormatError):
        decode_safetensors(blob)


def test_bad_exports_are_rejected_before_use() -> None:
    _model, tensors, meta = _export(0, [8])
    with pytest.raises(PolicyError, match="arch"):
        NumpyPolicy(tensors, {**meta, "arch": "cnn_dueling"})
    broken = dict(tensors)
    broken["torso.0.weight"] = broken["torso.0.weight"][:, :2]
    with pytest.raises(PolicyError):
        NumpyPolicy(broken, meta)
    with pytest.raises(PolicyError, match="unexpected"):
        NumpyPolicy({**tensors, "extra": np.zeros(1, np.float32)}, meta)
    nan = dict(tensors)
    nan["value.0.bias"] = np.array([np.nan], np.float32)
    with pytest.raises(PolicyError, match="non-finite"):
        NumpyPolicy(nan, meta)


def _push(client: EdgeClient, version: int, blob: bytes, digest: bytes | None = None) -> int:
    return client.set_policy(version, blob, digest)


def test_refused_weight_push_keeps_the_previous_version(
    server: EdgeServer, client: EdgeClient
) -> None:
    _m, tensors, meta = _export(0, [16, 16])
    good = encode_safetensors(tensors, meta)
    assert _push(client, 3, good) == 3
    q_before = server.policy.q_values(np.ones(3, np.float32)).copy()  # type: ignore[union-attr]

    _m2, tensors2, meta2 = _export(1, [16, 16])
    newer = encode_safetensors(tensors2, meta2)
    corrupt = bytearray(newer)
    corrupt[-3] ^= 0xFF
    wrong_obs = encode_safetensors(*_export(2, [16], obs_space=gym.spaces.Box(0, 1, (7,)))[1:])
    cases = [
        (4, bytes(corrupt), hashlib.sha256(newer).digest(), "sha256 mismatch"),
        (4, b"garbage!" * 4, None, "header length"),
        (4, wrong_obs, None, "observation values"),
        (2, newer, None, "older"),
    ]
    for version, blob, digest, why in cases:
        with pytest.raises(EdgeReplyError, match=why) as err:
            _push(client, version, blob, digest)
        assert err.value.status == P.Status.REFUSED
        assert "keeping version 3" in str(err.value)
        assert client.status().policy_version == 3
        np.testing.assert_array_equal(
            server.policy.q_values(np.ones(3, np.float32)),
            q_before,  # type: ignore[union-attr]
        )
    assert _push(client, 4, newer) == 4


def test_on_board_policy_drives_and_reports_metrics_per_version(
    server: EdgeServer, client: EdgeClient
) -> None:
    model, tensors, meta = _export(0, [16])
    # bias the advantage head towards "forward" so the robot really drives
    tensors["advantage.0.bias"] = np.array([5.0, 0.0, 0.0, -5.0], np.float32)
    assert client.set_policy(1, encode_safetensors(tensors, meta)) == 1
    dones, actions = 0, set()
    for _ in range(60):
        reading, action, done, version, _reward = client.act(100.0, max_episode_steps=25)
        assert version == 1
        actions.add(action)
        dones += done
    assert dones >= 2 and 0 in actions
    tensors["advantage.0.bias"] = np.array([0.0, 5.0, 0.0, -5.0], np.float32)
    client.act(100.0, max_episode_steps=25)  # an episode in progress ends with the policy change
    assert client.set_policy(2, encode_safetensors(tensors, meta)) == 2
    client.act(100.0, max_episode_steps=3)
    client.act(100.0, max_episode_steps=3)
    client.act(100.0, max_episode_steps=3)
    episodes = client.metrics()
    assert set(episodes["policy_version"].tolist()) == {1, 2}
    v1 = episodes[episodes["policy_version"] == 1]
    assert (v1["episode_length"] > 0).all() and v1["distance_m"].max() > 0.1
    ends = {P.EpisodeEnd(int(e)) for e in episodes["ended_by"]}
    assert P.EpisodeEnd.POLICY_CHANGE in ends
    assert client.metrics().shape == (0,)  # drained
