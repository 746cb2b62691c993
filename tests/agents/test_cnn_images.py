"""The CNN reads images in every layout an env hands out — stacked frames [4, 84, 84],
channels-last RGB [H, W, 3], one gray [H, W] — with pixels scaled inside the network,
and the Nature-DQN torso of experiment=atari has its published shape."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import conf
from actors.spec import build_agent
from agents.dqn.actor import TorchPolicy, make_actor_policy
from agents.dqn.archs import model_config_from_metadata, resolve_arch
from agents.dqn.networks import CNNDuelingQ, build_q_network, export_for_edge, load_tensors

NATURE = {
    "arch": "cnn_dueling",
    "cnn_channels": [32, 64, 64],
    "cnn_kernel_sizes": [8, 4, 3],
    "cnn_strides": [4, 2, 1],
    "hidden_sizes": [512],
    "input_scale": 1 / 255,
}


def box(shape: tuple[int, ...]) -> gym.spaces.Box:
    return gym.spaces.Box(0, 255, shape, np.uint8)


def pixels(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_atari_preset_builds_the_nature_cnn_for_stacked_frames() -> None:
    pytest.importorskip("ale_py")
    cfg = conf.load_config(["experiment=atari", "env.id=ALE/Pong-v5"])
    agent = build_agent(cfg)
    assert agent.arch == "cnn_dueling"
    torch.manual_seed(0)
    net = agent.network()
    assert isinstance(net, CNNDuelingQ) and net.layout == "chw"
    assert [tuple(c.weight.shape) for c in net.conv] == [
        (32, 4, 8, 8),
        (64, 32, 4, 4),
        (64, 64, 3, 3),
    ]
    assert tuple(net.torso[0].weight.shape) == (512, 7 * 7 * 64)  # 84 -> 20 -> 9 -> 7
    q = net(torch.as_tensor(pixels((5, 4, 84, 84))))
    assert q.shape == (5, 6) and torch.isfinite(q).all()


def test_pixels_are_scaled_inside_the_network() -> None:
    torch.manual_seed(1)
    net = build_q_network(NATURE, box((4, 84, 84)), 4)
    unscaled = build_q_network({**NATURE, "input_scale": 1.0}, box((4, 84, 84)), 4)
    unscaled.load_state_dict(net.state_dict())
    x = pixels((3, 4, 84, 84))
    with torch.no_grad():
        a = net(torch.as_tensor(x))
        b = unscaled(torch.as_tensor(x.astype(np.float32) / 255.0))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("shape", "layout", "to_chw"),
    [
        ((84, 84, 4), "hwc", lambda x: x.transpose(0, 3, 1, 2)),
        ((84, 84), "hw", lambda x: x[:, None]),
        ((4, 84, 84), "chw", lambda x: x),
    ],
)
def test_every_layout_equals_the_channels_first_network(shape, layout, to_chw) -> None:
    torch.manual_seed(2)
    net = build_q_network(NATURE, box(shape), 3)
    assert net.layout == layout  # auto-detected
    chw = to_chw(pixels((1, *shape))).shape[1:]
    first = build_q_network({**NATURE, "cnn_layout": "chw"}, box(chw), 3)
    first.load_state_dict(net.state_dict())
    x = pixels((6, *shape), seed=3)
    with torch.no_grad():
        torch.testing.assert_close(net(torch.as_tensor(x)), first(torch.as_tensor(to_chw(x))))


def test_raw_atari_rgb_frames_are_read_channels_last() -> None:
    space = box((210, 160, 3))  # what ALE/Pong-v5 returns without preprocessing
    assert resolve_arch("auto", space) == "cnn_dueling"
    net = build_q_network(NATURE, space, 6)
    assert net.layout == "hwc" and net.conv[0].in_channels == 3
    assert net(torch.as_tensor(pixels((2, 210, 160, 3)))).shape == (2, 6)


def test_a_layout_that_does_not_fit_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="cnn_layout='hwc'"):
        build_q_network({**NATURE, "cnn_layout": "hwc"}, box((84, 84)), 3)
    with pytest.raises(ValueError, match="too small"):
        build_q_network({**NATURE, "cnn_layout": "chw"}, box((84, 84, 4)), 3)  # 4 px wide


def test_export_rebuilds_the_same_network_and_actors_run_it_with_torch() -> None:
    torch.manual_seed(4)
    space = box((84, 84, 4))
    net = build_q_network(NATURE, space, 5)
    tensors, meta = export_for_edge(net)
    assert meta["cnn_layout"] == "hwc"
    model = {**model_config_from_metadata(meta), "arch": meta["arch"]}
    twin = build_q_network(model, space, 5)
    load_tensors(twin, tensors)
    policy = make_actor_policy(model, space, 5, seed=0)
    assert isinstance(policy, TorchPolicy)
    policy.load(tensors, meta)
    x = pixels((4, 84, 84, 4), seed=5)
    with torch.no_grad():
        want = net(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(twin(torch.as_tensor(x)).detach().numpy(), want, rtol=1e-5)
    np.testing.assert_allclose(policy.q_values(x), want, rtol=1e-5)
