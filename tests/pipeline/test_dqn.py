"""The DQN update, checkpoints, device selection and the metrics logger, in process."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import conf
from agents.dqn.learner import DQN, TorchBatch, huber
from learner.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from learner.learner import resolve_device
from learner.metrics import MetricsLogger

BOX = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
CANDS = gym.spaces.Dict(
    {
        "candidate_features": gym.spaces.Box(-1, 1, (4, 2), np.float32),
        "action_mask": gym.spaces.MultiBinary(4),
    }
)
CPU = torch.device("cpu")


def _cfg(*overrides: str) -> conf.Config:
    return conf.load_config(
        ["model.hidden_sizes=[16]", "algo.target_update_interval_updates=1000", *overrides]
    )


def _batch(n: int = 32, seed: int = 0, discount: float = 0.9) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "obs": rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        "action": rng.integers(0, 2, n).astype(np.int64),
        "reward": rng.normal(size=n).astype(np.float32),
        "discount": np.full(n, discount, np.float32),
        "next_obs": rng.uniform(-1, 1, (n, 3)).astype(np.float32),
    }


def test_huber_is_quadratic_then_linear() -> None:
    x = torch.tensor([-3.0, -0.5, 0.0, 0.5, 3.0])
    torch.testing.assert_close(huber(x, 1.0), torch.tensor([2.5, 0.125, 0.0, 0.125, 2.5]))


@pytest.mark.parametrize("double_q", [True, False])
def test_priorities_are_td_errors_of_the_n_step_double_q_target(double_q: bool) -> None:
    cfg = _cfg(f"algo.double_q={str(double_q).lower()}")
    algo = DQN(cfg.model, cfg.algo, BOX, 2, CPU, seed=0)
    data = _batch()
    data["discount"][:8] = 0.0  # terminated inside the n steps: no bootstrap
    batch = TorchBatch.from_numpy(data, np.ones(32, np.float32), CPU)
    with torch.no_grad():
        q = algo.online(batch.obs).gather(1, batch.action[:, None]).squeeze(1)
        picker = algo.online if double_q else algo.target
        best = picker(batch.next_obs).argmax(1, keepdim=True)
        boot = algo.target(batch.next_obs).gather(1, best).squeeze(1)
        y = batch.reward + batch.discount * boot
    prios, stats = algo.update(batch)
    np.testing.assert_allclose(
        prios, (y - q).abs().numpy() + cfg.algo.td_priority_offset, rtol=1e-5
    )
    assert stats["losses/td_loss"] > 0
    # Terminated rows: the target is the reward alone.
    np.testing.assert_allclose(
        prios[:8], np.abs(data["reward"][:8] - q[:8].numpy()) + 1e-3, rtol=1e-5
    )


def test_masked_next_actions_never_bootstrap_from_invalid_ones() -> None:
    cfg = _cfg()
    algo = DQN(cfg.model, cfg.algo, CANDS, 4, CPU, seed=0)
    n = 6
    rng = np.random.default_rng(1)
    mask = np.zeros((n, 4), np.int8)
    mask[:3, 2] = 1  # only action 2 valid in the first three next states, none in the rest
    data = {
        "obs/candidate_features": rng.uniform(-1, 1, (n, 4, 2)).astype(np.float32),
        "obs/action_mask": np.ones((n, 4), np.int8),
        "action": np.zeros(n, np.int64),
        "reward": np.ones(n, np.float32),
        "discount": np.full(n, 0.5, np.float32),
        "next_obs/candidate_features": rng.uniform(-1, 1, (n, 4, 2)).astype(np.float32),
        "next_obs/action_mask": mask,
    }
    batch = TorchBatch.from_numpy(data, np.ones(n, np.float32), CPU)
    with torch.no_grad():
        q = algo.online(batch.obs)[:, 0]
        boot = algo.target(batch.next_obs)[:, 2]
    prios, _ = algo.update(batch)
    assert np.all(np.isfinite(prios))
    expected = np.abs(1.0 + 0.5 * boot.numpy()[:3] - q.numpy()[:3]) + 1e-3
    np.testing.assert_allclose(prios[:3], expected, rtol=1e-5)
    np.testing.assert_allclose(prios[3:], np.abs(1.0 - q.numpy()[3:]) + 1e-3, rtol=1e-5)


MASKED = gym.spaces.Dict(
    {
        "board": gym.spaces.Box(-1, 1, (3, 3), np.float32),
        "action_mask": gym.spaces.MultiBinary(9),
    }
)


def _torch_argmax(algo: DQN, obs: object) -> np.ndarray:
    from agents.dqn.networks import obs_to_tensor

    with torch.no_grad():
        return algo.online(obs_to_tensor(obs, CPU)).argmax(1).numpy()


def test_greedy_of_the_builtin_mlp_acts_on_numpy_like_the_torch_network() -> None:
    cfg = _cfg("model.hidden_sizes=[32,32]")
    algo = DQN(cfg.model, cfg.algo, BOX, 2, CPU, seed=3)
    for i in range(20):  # weights away from their initial values
        algo.update(TorchBatch.from_numpy(_batch(seed=i), np.ones(32, np.float32), CPU))
    obs = np.random.default_rng(1).uniform(-1, 1, (256, 3)).astype(np.float32)
    act = algo.greedy()
    np.testing.assert_array_equal(act(obs), _torch_argmax(algo, obs))
    assert "torch" not in type(act(obs)).__module__  # a numpy array, not a tensor

    # a masked Dict observation: never a masked action, the same pick as torch
    masked = DQN(cfg.model, cfg.algo, MASKED, 9, CPU, seed=4)
    rng = np.random.default_rng(2)
    mask = rng.random((64, 9)) < 0.4
    mask[np.arange(64), rng.integers(0, 9, 64)] = True
    dict_obs = {"board": rng.uniform(-1, 1, (64, 3, 3)).astype(np.float32), "action_mask": mask}
    picks = masked.greedy()(dict_obs)
    assert mask[np.arange(64), picks].all()
    np.testing.assert_array_equal(picks, _torch_argmax(masked, dict_obs))


def test_greedy_is_a_snapshot_of_the_weights_it_was_made_from() -> None:
    cfg = _cfg("model.hidden_sizes=[32]", "algo.lr=0.05")
    algo = DQN(cfg.model, cfg.algo, BOX, 2, CPU, seed=0)
    obs = np.random.default_rng(0).uniform(-1, 1, (512, 3)).astype(np.float32)
    before = algo.greedy()
    first = before(obs)
    for i in range(50):
        algo.update(TorchBatch.from_numpy(_batch(seed=i), np.ones(32, np.float32), CPU))
    assert not np.array_equal(_torch_argmax(algo, obs), first)  # the network moved
    np.testing.assert_array_equal(before(obs), first)
    np.testing.assert_array_equal(algo.greedy()(obs), _torch_argmax(algo, obs))


def test_updates_fit_a_fixed_batch_and_target_syncs_on_schedule() -> None:
    cfg = _cfg("algo.target_update_interval_updates=50", "algo.lr=0.01")
    algo = DQN(cfg.model, cfg.algo, BOX, 2, CPU, seed=0)
    batch = TorchBatch.from_numpy(_batch(discount=0.0), np.ones(32, np.float32), CPU)
    first = algo.update(batch)[1]["losses/td_loss"]
    for _ in range(48):
        algo.update(batch)
    assert not torch.equal(algo.online.torso[0].weight, algo.target.torso[0].weight)
    last = algo.update(batch)[1]["losses/td_loss"]  # the 50th update syncs the target
    assert torch.equal(algo.online.torso[0].weight, algo.target.torso[0].weight)
    assert last < 0.6 * first


def test_checkpoint_round_trip_continues_bit_for_bit(tmp_path) -> None:
    cfg = _cfg()
    a = DQN(cfg.model, cfg.algo, BOX, 2, CPU, seed=0)
    for i in range(5):
        a.update(TorchBatch.from_numpy(_batch(seed=i), np.ones(32, np.float32), CPU))
    counters = {"updates": a.updates, "published_version": 4}
    for i in range(3):
        counters["updates"] = a.updates + i
        path = save_checkpoint(
            tmp_path, a.tensors(), a.optimizer_json(), counters, {"seed": 0}, keep=2
        )
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-0000000006", "ckpt-0000000007"]
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.path == path and ckpt.counters["published_version"] == 4
    assert json.loads((path / "state.json").read_text())["format"] == 1
    b = DQN(cfg.model, cfg.algo, BOX, 2, CPU, seed=99)
    b.load_state(ckpt.tensors, ckpt.optimizer)
    nxt = TorchBatch.from_numpy(_batch(seed=42), np.ones(32, np.float32), CPU)
    pa, _ = a.update(nxt)
    pb, _ = b.update(nxt)
    np.testing.assert_array_equal(pa, pb)
    ta, tb = a.tensors(), b.tensors()
    assert sorted(ta) == sorted(tb)
    for name in ta:
        assert torch.equal(ta[name], tb[name]), name
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing")


def test_device_selection() -> None:
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="learner.device='cuda'"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="cuda:99"):
        resolve_device("cuda:99")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_update_on_cuda_matches_cpu_closely() -> None:
    cfg = _cfg()
    cpu = DQN(cfg.model, cfg.algo, BOX, 2, CPU, seed=0)
    gpu = DQN(cfg.model, cfg.algo, BOX, 2, torch.device("cuda"), seed=0)
    data = _batch()
    pc, _ = cpu.update(TorchBatch.from_numpy(data, np.ones(32, np.float32), CPU))
    pg, _ = gpu.update(TorchBatch.from_numpy(data, np.ones(32, np.float32), torch.device("cuda")))
    np.testing.assert_allclose(pc, pg, rtol=1e-4, atol=1e-5)


def test_metrics_logger_writes_jsonl_and_tensorboard(tmp_path) -> None:
    m = MetricsLogger(tmp_path, console=False, tensorboard=True, jsonl=True)
    with pytest.raises(ValueError, match="nonsense"):
        m.record("nonsense", 1.0)
    m.record("charts/env_steps", 10)
    m.record("losses/td_loss", 0.5)
    m.dump(step=1)
    m.record("charts/env_steps", 20)
    m.dump(step=2)
    m.close({"stop_reason": "test"})
    m.close()  # idempotent
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["charts/env_steps"] for r in rows] == [10, 20]
    assert rows[0]["losses/td_loss"] == 0.5 and "losses/td_loss" not in rows[1]
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert json.loads((tmp_path / "summary.json").read_text())["stop_reason"] == "test"
