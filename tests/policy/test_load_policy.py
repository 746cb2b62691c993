"""load_policy on every kind of path (run dir, checkpoint, weights blob, .onnx, .pt, a stored
version in a real Redis) acts as the torch greedy policy of the checkpointed learner; a path
that is none of these fails naming it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import conf
from actors.spec import build_agent
from learner.checkpoint import load_checkpoint
from learner.evaluate import leaderboard
from learner.policy_io import PolicyLoadError, load_policy, load_version, policy_kind
from replay.weights import WeightStore, encode_weights
from tests.policy.runs import observations


def _reference(run_dir: Path):
    """The torch greedy policy of the run's final checkpoint, restored by hand."""
    summary = json.loads((run_dir / "summary.json").read_text())
    ckpt = load_checkpoint(summary["checkpoint"])
    cfg = conf.from_container(yaml.safe_load((ckpt.path / "config.yaml").read_text()))
    agent = build_agent(cfg)
    learner = agent.learner("cpu", 0)
    learner.load_state(ckpt.tensors, ckpt.optimizer)
    return cfg, agent, learner


def _same(expected: np.ndarray, got: np.ndarray, discrete: bool) -> None:
    if discrete:
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_every_kind_of_path_acts_as_the_torch_greedy_policy(
    run_dir: Path, exported: dict[str, Path], tmp_path: Path
) -> None:
    cfg, agent, learner = _reference(run_dir)
    obs = observations(cfg.env, 64, seed=7)
    expected = learner.greedy()(obs)
    discrete = agent.name == "dqn"
    if discrete:  # a policy that always pushes one way would prove little
        assert len(set(expected.tolist())) > 1, expected

    tensors, meta = learner.export()
    blob = encode_weights(tensors, {**meta, "agent": agent.name, "env_id": cfg.env.id})
    (tmp_path / "v3.safetensors").write_bytes(blob)
    (tmp_path / "version-blob").write_bytes(blob)  # no suffix: told apart by its content
    ckpt = Path(json.loads((run_dir / "summary.json").read_text())["checkpoint"])
    paths = {
        "run_dir": [run_dir],
        "checkpoint": [ckpt, ckpt / "state.safetensors", run_dir / "checkpoints"],
        "weights": [tmp_path / "v3.safetensors", tmp_path / "version-blob"],
        "onnx": [exported["onnx"]],
        "torchscript": [exported["torchscript"]],
    }
    for kind, where in paths.items():
        for path in where:
            assert policy_kind(path)[0] == kind, path
            policy = load_policy(path)
            assert policy.kind == kind and policy.discrete == discrete
            assert policy.env is not None and policy.env.id == cfg.env.id, path
            _same(expected, policy(obs), discrete)
            one = policy(obs[3])  # a single observation: a single action
            if discrete:
                assert isinstance(one, int) and one == expected[3], (path, one)
            else:
                assert one.shape == agent.action_space.shape
                _same(expected[3], one, discrete)
            with pytest.raises(ValueError, match=r"neither \("):
                policy(np.zeros((2, 99), np.float32))


def test_a_stored_version_in_redis(redis_url: str, namespace: str, run_dir: Path) -> None:
    cfg, agent, learner = _reference(run_dir)
    tensors, meta = learner.export()
    tag = "policy-io-test"
    with WeightStore(redis_url, namespace) as store:
        version = store.publish(tag, tensors, {**meta, "agent": agent.name, "env_id": cfg.env.id})
        store.set_champion(tag, version)
    obs = observations(cfg.env, 32, seed=3)
    expected = learner.greedy()(obs)
    for which in ("latest", "champion", str(version)):
        source = load_version(redis_url, namespace, tag, which)
        assert source.kind == "store" and source.info["version"] == version
        _same(expected, source.policy()(obs), agent.name == "dqn")
    with pytest.raises(PolicyLoadError, match="has no champion"):
        load_version(redis_url, namespace, "other-tag-" + namespace, "champion")
    # the leaderboard ranks it too: its agent is sized by the version's metadata (32-wide
    # networks here, not the defaults)
    with WeightStore(redis_url, namespace) as store:
        rows = leaderboard(store, tag, cfg.env, episodes=2, seed=0)
    assert [(r["version"], "error" in r) for r in rows] == [(version, False)], rows


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.onnx's own, for the foreign file
def test_paths_that_hold_no_policy_fail_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(PolicyLoadError, match=f"{missing}: no such file"):
        load_policy(missing)
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a policy\n")
    with pytest.raises(PolicyLoadError, match=f"{text} is none of: a run directory"):
        load_policy(text)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PolicyLoadError, match=f"{empty} is a directory but neither a run"):
        load_policy(empty)
    unfinished = tmp_path / "unfinished"
    (unfinished / ".hydra").mkdir(parents=True)
    with pytest.raises(PolicyLoadError, match=f"run directory {unfinished} holds no checkpoint"):
        load_policy(unfinished)
    no_env = tmp_path / "no-env.safetensors"
    no_env.write_bytes(encode_weights({"w": np.zeros(2, np.float32)}, {"arch": "mlp_dueling"}))
    with pytest.raises(PolicyLoadError, match=f"{no_env}: its metadata names no env_id"):
        load_policy(no_env)
    foreign = tmp_path / "foreign.onnx"  # an ONNX file that fsrl export did not write
    torch.onnx.export(torch.nn.Linear(4, 2).eval(), (torch.zeros(1, 4),), str(foreign), dynamo=True)
    with pytest.raises(PolicyLoadError, match=f"{foreign} carries no fsrl metadata"):
        load_policy(foreign)


def test_weights_that_do_not_fit_the_env_name_the_file(run_dir: Path, tmp_path: Path) -> None:
    cfg, agent, learner = _reference(run_dir)
    tensors, meta = learner.export()
    other = "Pendulum-v1" if agent.name == "dqn" else "MountainCarContinuous-v0"
    path = tmp_path / "w.safetensors"
    path.write_bytes(encode_weights(tensors, {**meta, "agent": agent.name, "env_id": other}))
    with pytest.raises(PolicyLoadError, match=str(path)):
        load_policy(path)(observations(conf.EnvConfig(id=other), 4, seed=0))
