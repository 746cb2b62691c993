"""Leaderboards: from a run directory alone (the files a run writes), and from a live
store where a corrupt version is skipped and the rest still ranked (real redis-server)."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import redis
import torch

import conf
from agents.dqn.networks import build_q_network, export_for_edge
from learner.evaluate import leaderboard
from learner.evaluate import main as evaluate_main
from learner.leaderboard import load_board
from learner.metrics import MetricsLogger
from learner.ratings import Ratings
from learner.version_log import OnlineReturns, VersionLog, version_name
from replay.weights import WeightStore

TAG = "CartPole-v1-mlp_dueling"


def _net(push_right: float, num_actions: int = 2):
    space = gym.make("CartPole-v1").observation_space
    net = build_q_network({"arch": "mlp_dueling", "hidden_sizes": [16]}, space, num_actions)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        bias = torch.zeros(num_actions)
        bias[1 % num_actions] = push_right
        net.advantage[0].bias.copy_(bias)
    return net


def test_corrupt_version_is_skipped_and_the_rest_ranked(
    redis_url: str, namespace: str, tmp_path: Path, capsys
) -> None:
    store = WeightStore(redis_url, namespace)
    for push in (0.0, 1.0, -1.0):  # versions 0, 1, 2
        store.publish(TAG, *export_for_edge(_net(push)))
    store.publish(TAG, *export_for_edge(_net(1.0, num_actions=3)))  # v3: another network
    raw = redis.Redis.from_url(redis_url)
    keys = [k for k in raw.scan_iter(match=f"*{namespace}*") if k.endswith(b"v:1")]
    assert len(keys) == 1, keys
    blob = raw.hget(keys[0], "blob")
    raw.hset(keys[0], "blob", blob[:-8] + b"garbage!")  # same length, wrong sha256
    cfg = conf.load_config([f"replay.redis_url={redis_url}", f"replay.namespace={namespace}"])

    rows = leaderboard(store, TAG, cfg.env, episodes=3, seed=cfg.env.eval_seed)
    ranked = [r for r in rows if "error" not in r]
    skipped = {r["version"]: r["error"] for r in rows if "error" in r}
    assert sorted(r["version"] for r in ranked) == [0, 2]
    assert set(skipped) == {1, 3}
    assert "WeightIntegrityError" in skipped[1] and "sha256" in skipped[1]
    assert "do not fit" in skipped[3] and "advantage.0.bias is [3]" in skipped[3]
    assert rows[-2:] == [r for r in rows if "error" in r]  # skipped come last

    out = tmp_path / "lb.json"
    overrides = [
        f"replay.redis_url={redis_url}",
        f"replay.namespace={namespace}",
        f"model.tag={TAG}",
    ]
    assert evaluate_main([*overrides, "env.eval_episodes=2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "skipped" in printed
    data = json.loads(out.read_text())
    assert [r["version"] for r in data["rows"] if "error" in r] == [1, 3]
    assert len([r for r in data["rows"] if "error" not in r]) == 2


def _write_run(run: Path) -> None:
    """A run directory as learner.main writes it, plus the gating files."""
    metrics = MetricsLogger(run, console=False, tensorboard=False)
    for step, (latest, ev) in enumerate([(1, None), (2, 40.0), (3, None), (4, 180.0)]):
        metrics.record("charts/latest_version", latest)
        if ev is not None:
            metrics.record("eval/mean_return", ev)
        metrics.dump(step)
    metrics.close({"model_tag": TAG, "final_version": 5, "final_eval_mean_return": 500.0})
    online = OnlineReturns()
    rng = np.random.default_rng(0)
    for v, mean in ((2, 30.0), (4, 150.0), (5, 420.0)):
        for r in rng.normal(mean, 10.0, size=25):
            online.add(v, float(r))
    with VersionLog(run) as log:
        log.record(TAG, 2, eval_return=41.0, eval_episodes=20, online=online.stats(2))
        log.record(TAG, 2, gate={"passed": True, "win_rate": None, "games": 0}, champion=True)
        log.record(
            TAG, 4, online=online.stats(4), gate={"passed": True, "win_rate": None, "games": 0}
        )
        log.record(TAG, 4, champion=True)
        log.record(
            TAG, 5, online=online.stats(5), gate={"passed": False, "win_rate": 0.45, "games": 40}
        )
    with (run / "versions.jsonl").open("a") as f:
        f.write('{"tag": "x", "version": 9\n')  # a torn last line (crash while writing)
        f.write('{"format": 2, "tag": "x", "version": 1}\n')


def test_leaderboard_from_a_run_directory_alone(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    _write_run(run)
    board = load_board(run)
    assert list(board.tags) == [TAG] and board.champions == {TAG: 4}
    rows = {r.version: r for r in board.tags[TAG]}
    # eval: v2 from versions.jsonl (beats the metrics row), v4 from metrics, v5 from summary
    assert (rows[2].eval_return, rows[2].eval_source) == (41.0, "versions.jsonl")
    assert (rows[4].eval_return, rows[4].eval_source) == (180.0, "metrics.jsonl")
    assert (rows[5].eval_return, rows[5].eval_source) == (500.0, "summary.json")
    assert [r.version for r in board.tags[TAG]] == [5, 4, 2]  # by eval return
    assert rows[4].champion and not rows[5].champion and not rows[2].champion
    assert rows[5].gate["passed"] is False and rows[5].online["count"] == 25
    assert rows[5].online["mean"] == pytest.approx(420.0, abs=6.0)
    assert any("versions.jsonl:6" in w for w in board.warnings)
    assert any("format 2" in w for w in board.warnings)

    out = tmp_path / "board.json"
    assert evaluate_main(["--run-dir", str(run), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "★ champion" in printed and "v5" in printed and "fail 0.45/40" in printed
    data = json.loads(out.read_text())
    assert [r["version"] for r in data["tags"][TAG]] == [5, 4, 2]
    assert data["champions"] == {TAG: 4}


def test_ratings_rank_versions_and_baselines_are_listed(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    ratings = Ratings()
    for _ in range(15):
        ratings.record_game(version_name("c4", 2), "random", 1)
        ratings.record_game(version_name("c4", 1), "random", -1)
        ratings.record_game(version_name("c4", 2), version_name("c4", 1), 1)
    ratings.save(run / "ratings.json")
    with VersionLog(run) as log:
        log.record("c4", 1, eval_return=1.0, champion=True)  # a better return, a worse rating
        log.record("c4", 2, eval_return=0.5)
    board = load_board(run, tag="c4")
    assert [r.version for r in board.tags["c4"]] == [2, 1]
    assert [b["name"] for b in board.baselines] == ["random"]
    with pytest.raises(ValueError, match="tag 'nope' is not in run dir"):
        load_board(run, tag="nope")


def test_today_runs_without_versions_file_and_bad_dirs(tmp_path: Path) -> None:
    run = tmp_path / "old"
    metrics = MetricsLogger(run, console=False, tensorboard=False)
    metrics.record("charts/latest_version", 3)
    metrics.record("eval/mean_return", 12.5)
    metrics.dump(0)
    metrics.close({"model_tag": TAG, "final_version": 7, "final_eval_mean_return": 99.0})
    board = load_board(run)
    assert [(r.version, r.eval_return) for r in board.tags[TAG]] == [(7, 99.0), (3, 12.5)]
    assert board.champions == {TAG: None}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="is it a run directory"):
        load_board(empty)
    with pytest.raises(SystemExit, match="not a directory"):
        evaluate_main(["--run-dir", str(tmp_path / "missing")])
    with pytest.raises(SystemExit):
        evaluate_main(["--run-dir", str(run), "model.tag=x"])


def test_online_returns_and_version_log_checks(tmp_path: Path) -> None:
    online = OnlineReturns()
    values = np.random.default_rng(1).normal(3.0, 2.0, size=101)
    for v in values:
        online.add(7, float(v))
    s = online.stats(7)
    assert s.count == 101
    assert s.mean == pytest.approx(values.mean()) and s.std == pytest.approx(values.std())
    assert online.stats(8).count == 0
    with pytest.raises(ValueError, match="not finite"):
        online.add(7, float("nan"))
    with (
        VersionLog(tmp_path) as log,
        pytest.raises(ValueError, match="unknown version record fields"),
    ):
        log.record("t", 1, eval_mean=3.0)
