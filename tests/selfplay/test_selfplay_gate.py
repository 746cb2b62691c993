"""The two-player gate in a real Redis (and a real Ray run): a version becomes champion
only by beating the champion in the arena; actors following ``champion`` never act with a
version that lost its gate; ratings, payoff table and gates outlive the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from selfplay_testkit import (
    CENTRE_FIRST,
    EDGES_FIRST,
    preference_version,
    selfplay_cfg,
    stored_transitions,
)

from actors.spec import build_agent
from actors.worker import ActorWorker
from learner.judge import SelfPlayJudge
from learner.leaderboard import load_board
from learner.lifecycle import TagLifecycle
from learner.main import run
from learner.ratings import Ratings
from replay import ReplayClient, TableConfig
from replay.weights import WeightStore

TAG = "ttt-gate"


def test_a_version_that_loses_its_gate_is_never_followed_by_champion_actors(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    # greedy players (search depth 0) that play a fixed order of preference
    cfg = selfplay_cfg(redis_url, namespace, "actors.follow=champion", "selfplay.search_depth=0")
    agent = build_agent(cfg)
    client = ReplayClient(redis_url, namespace=namespace)
    client.create_table(TableConfig("replay", capacity=10_000), agent.transition_spec())
    store = WeightStore(redis_url, namespace)
    life = TagLifecycle(store, TAG, tmp_path, lease_ttl_s=30, gate_margin=0)
    judge = SelfPlayJudge(cfg, agent, store, TAG, tmp_path, life)
    worker = ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG)
    weak, strong = preference_version(cfg, EDGES_FIRST), preference_version(cfg, CENTRE_FIRST)
    try:
        v0 = store.publish(TAG, *weak)
        assert not worker.poll_weights() and worker.policy_version == -1  # no champion yet
        judge.judge(v0, *weak)  # the first judged version is crowned
        assert life.champion == v0 and worker.poll_weights() and worker.policy_version == v0
        v1 = store.publish(TAG, *strong)
        judge.judge(v1, *strong)  # beats the champion: 17-1-2
        assert life.champion == v1 and worker.poll_weights() and worker.policy_version == v1
        v2 = store.publish(TAG, *weak)
        judge.judge(v2, *weak)  # loses to the champion: its gate fails
        assert life.champion == v1
        assert not worker.poll_weights() and worker.policy_version == v1
        worker.collect(16 * 10)  # acting goes on with the champion
        assert worker.policy_version == v1
        assert set(stored_transitions(client)["policy_version"].tolist()) <= {-1, v0, v1}
        gates = life.registry.gates(TAG)
        assert [gates[v]["passed"] for v in (v0, v1, v2)] == [True, True, False]
        assert gates[v1]["detail"]["win_rate"] == 0.875 and gates[v2]["detail"]["win_rate"] < 0.55
    finally:
        worker.stop()
        life.close()
        store.close()
        client.close()
    ratings = Ratings.load(tmp_path / "ratings.json")
    assert ratings[f"{TAG}@v{v1}"].mu > ratings[f"{TAG}@v{v2}"].mu
    board = load_board(tmp_path, TAG)
    rows = {r.version: r for r in board.tags[TAG]}
    assert rows[v1].champion and rows[v1].rank == 1 and rows[v1].rating is not None
    assert rows[v2].gate is not None and not rows[v2].gate["passed"]
    assert [b["name"] for b in board.baselines] == ["random"]


def test_a_selfplay_run_on_ray_gates_rates_and_writes_both_players(
    redis_url: str, namespace: str, tmp_path: Path, ray_session
) -> None:
    cfg = selfplay_cfg(redis_url, namespace, "mode=sync", "budget.env_steps=4000")
    summary = run(cfg, tmp_path)
    assert summary["stop_reason"].startswith("env step budget"), summary
    assert summary["champion"] is not None and summary["final_eval_mean_return"] > 0
    versions = [json.loads(line) for line in (tmp_path / "versions.jsonl").read_text().splitlines()]
    gated = [v for v in versions if v.get("gate")]
    assert gated and all(v["gate"]["threshold"] == 0.55 for v in gated)
    payoff = json.loads((tmp_path / "payoff.json").read_text())
    assert {m["b"] for m in payoff["matches"]} >= {"random"}
    client = ReplayClient(redis_url, namespace=namespace)
    try:
        board = stored_transitions(client)["obs/board"].astype(int)
    finally:
        client.close()
    own, opp = board[:, 0].sum(axis=(1, 2)), board[:, 1].sum(axis=(1, 2))
    assert np.any(own == opp) and np.any(own == opp - 1)  # both players' moves
    rows = load_board(tmp_path).tags[summary["model_tag"]]
    champion = next(r for r in rows if r.champion)
    assert champion.version == summary["champion"] and champion.rating is not None
