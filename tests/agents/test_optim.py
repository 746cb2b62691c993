"""agents.optim.Adam: torch.optim.Adam's arithmetic and state layout, without importing the
compiler (torch.optim's first call imports torch._dynamo: ~1.3 s of the learner's set-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from agents.optim import Adam

REPO = Path(__file__).resolve().parents[2]


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def _train(net: nn.Module, opt: object, steps: int, seed: int = 1) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(32, 6, generator=gen)
        y = torch.randn(32, 3, generator=gen)
        loss = ((net(x) - y) ** 2).mean()
        opt.zero_grad(set_to_none=True)  # type: ignore[attr-defined]
        loss.backward()
        opt.step()  # type: ignore[attr-defined]


@pytest.mark.parametrize("fused", [True, False])
def test_same_weights_as_torch_adam_step_for_step(fused: bool) -> None:
    ours, theirs = _net(0), _net(0)
    a = Adam(ours.parameters(), lr=4e-3, eps=1e-5)
    a.fused = fused
    b = torch.optim.Adam(theirs.parameters(), lr=4e-3, eps=1e-5, fused=fused)
    _train(ours, a, 25)
    _train(theirs, b, 25)
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(p, q)
    assert float(a.state[0]["step"]) == 25.0


def test_state_moves_between_torch_adam_and_ours_both_ways() -> None:
    # torch's state into ours: training on from it matches torch training on
    src, ref, dst = _net(0), _net(0), _net(0)
    torch_opt = torch.optim.Adam(src.parameters(), lr=1e-3, fused=True)
    _train(src, torch_opt, 5)
    ref.load_state_dict(src.state_dict())
    dst.load_state_dict(src.state_dict())
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-3, fused=True)
    ref_opt.load_state_dict(torch_opt.state_dict())
    ours = Adam(dst.parameters(), lr=1e-3)
    ours.load_state_dict(torch_opt.state_dict())
    _train(ref, ref_opt, 5, seed=2)
    _train(dst, ours, 5, seed=2)
    for p, q in zip(dst.parameters(), ref.parameters(), strict=True):
        assert torch.equal(p, q)
    # and ours into torch's
    back = torch.optim.Adam(_net(0).parameters(), lr=1e-3, fused=True)
    back.load_state_dict(ours.state_dict())
    assert float(back.state_dict()["state"][0]["step"]) == 10.0


def test_a_state_that_does_not_fit_is_refused_and_the_old_one_kept() -> None:
    net = _net(0)
    opt = Adam(net.parameters(), lr=1e-3)
    _train(net, opt, 3)
    before = {i: {k: v.clone() for k, v in s.items()} for i, s in opt.state.items()}
    bad = opt.state_dict()
    bad["state"][0] = {**bad["state"][0], "exp_avg": torch.zeros(2, 2)}
    with pytest.raises(ValueError, match=r"parameter 0: moments of shape \(2, 2\)"):
        opt.load_state_dict(bad)
    stray = opt.state_dict()
    stray["state"][7] = stray["state"][0]
    with pytest.raises(ValueError, match="parameter index 7 of 4"):
        opt.load_state_dict(stray)
    for i, s in opt.state.items():
        for k, v in s.items():
            assert torch.equal(v, before[i][k])


def test_bad_hyperparameters_are_named() -> None:
    with pytest.raises(ValueError, match="lr must be >= 0, got -1.0"):
        Adam(_net(0).parameters(), lr=-1.0)
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([], lr=1e-3)


PROBE = r"""
import sys
import gymnasium as gym, numpy as np, torch
import conf
from agents.dqn.learner import DQN
cfg = conf.load_config([])
d = DQN(cfg.model, cfg.algo, gym.spaces.Box(-5, 5, (4,), np.float32), 2, torch.device("cpu"))
B = 16
data = {"obs": np.zeros((B, 4), np.float32), "next_obs": np.ones((B, 4), np.float32),
        "action": np.zeros(B, np.int64), "reward": np.ones(B, np.float32),
        "discount": np.full(B, 0.9, np.float32)}
d.update(d.prepare(data, np.ones(B)))
d.load_state(d.tensors(), d.optimizer_json())
assert d.updates == 1
print("torch._dynamo" in sys.modules)
"""


def test_a_dqn_learner_builds_updates_and_checkpoints_without_the_compiler() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
