"""Self-play actors on a real Redis: both players' moves in the replay, negamax discounts,
mirror images, pool games credited to the acting version, and PFSP weights."""

from __future__ import annotations

import numpy as np
import pytest
from selfplay_testkit import (
    CENTRE_FIRST,
    EDGES_FIRST,
    preference_version,
    selfplay_cfg,
    stored_transitions,
)

from actors.pool import OpponentPool
from actors.selfplay import make_stepper
from actors.spec import ActorSpec, build_agent
from actors.worker import ActorWorker
from replay import ReplayClient, TableConfig
from replay.weights import WeightStore

TAG = "ttt-selfplay"


def _worker(cfg, redis_url: str, namespace: str) -> tuple[ActorWorker, ReplayClient]:
    client = ReplayClient(redis_url, namespace=namespace)
    client.create_table(TableConfig("replay", capacity=50_000), build_agent(cfg).transition_spec())
    return ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG), client


def test_selfplay_actors_write_both_players_transitions(redis_url: str, namespace: str) -> None:
    cfg = selfplay_cfg(redis_url, namespace, "selfplay.opening_plies=0", "seed=5")
    worker, client = _worker(cfg, redis_url, namespace)
    try:
        worker.collect(16 * 40)
        t = stored_transitions(client)
    finally:
        worker.stop()
        client.close()
    board, nxt = t["obs/board"].astype(int), t["next_obs/board"].astype(int)
    own, opp = board[:, 0].sum(axis=(1, 2)), board[:, 1].sum(axis=(1, 2))
    first, second = own == opp, own == opp - 1  # canonical: the mover's stones in plane 0
    assert (first | second).all()
    assert first.sum() > 100 and second.sum() > 100  # both players' moves are there
    # next_obs is the board after the move, seen by the other player: planes swapped
    cell = np.zeros_like(board[:, 0]).reshape(len(board), 9)
    cell[np.arange(len(board)), t["action"]] = 1
    np.testing.assert_array_equal(nxt[:, 1], board[:, 0] + cell.reshape(-1, 3, 3))
    np.testing.assert_array_equal(nxt[:, 0], board[:, 1])
    # the mover's reward: +1 for a winning move, else 0; negamax discount -gamma per move
    term = t["terminated"].astype(bool)
    assert set(np.unique(t["reward"][term])) <= {0.0, 1.0} and (t["reward"][term] == 1).any()
    assert (t["reward"][~term] == 0).all() and (t["discount"][term] == 0).all()
    np.testing.assert_allclose(t["discount"][~term], -cfg.algo.gamma)


def test_pool_games_start_once_a_version_is_published_and_are_credited_to_it(
    redis_url: str, namespace: str
) -> None:
    cfg = selfplay_cfg(redis_url, namespace, "selfplay.pool_share=0.5", "seed=2")
    worker, client = _worker(cfg, redis_url, namespace)
    store = WeightStore(redis_url, namespace)
    try:
        worker.collect(16 * 20)
        assert worker.stats()["pool_games"] == 0 and worker.stats()["episodes"] == 0
        v0 = store.publish(TAG, *preference_version(cfg, CENTRE_FIRST))
        assert worker.poll_weights() and worker.policy_version == v0
        worker.collect(16 * 60)
        stats = worker.stats()
    finally:
        worker.stop()
        store.close()
        client.close()
    assert list(stats["pool"]) == [str(v0)] and stats["pool_games"] > 10
    assert stats["episodes"] == stats["pool_games"]  # only pool games are credited
    per_version = stats["per_version"][str(v0)]
    assert per_version["episodes"] == stats["pool_games"]
    assert -1.0 <= per_version["mean_return"] <= 1.0


def test_connect_four_transitions_come_with_their_mirror_images(
    redis_url: str, namespace: str
) -> None:
    cfg = selfplay_cfg(
        redis_url,
        namespace,
        "env=connect_four",
        "selfplay.game=connect_four",
        "actors.envs_per_actor=8",
    )
    worker, client = _worker(cfg, redis_url, namespace)
    try:
        worker.collect(8 * 30)
        t = stored_transitions(client)
        assert worker.stats()["transitions"] == len(t["action"]) == 2 * 8 * 30
    finally:
        worker.stop()
        client.close()
    key = np.concatenate(
        [t["obs/board"].reshape(len(t["action"]), -1), t["action"][:, None]], axis=1
    )
    mirror = np.concatenate(
        [t["obs/board"][..., ::-1].reshape(len(t["action"]), -1), 6 - t["action"][:, None]], axis=1
    )
    rows = {r.tobytes() for r in key}
    assert all(r.tobytes() in rows for r in mirror)


def test_pfsp_draws_the_opponents_the_current_version_loses_to() -> None:
    pool = OpponentPool(lambda tensors, meta: None, size=3, interval_versions=10)
    assert pool.offer(0, {}, {}) and not pool.offer(5, {}, {}) and pool.offer(10, {}, {})
    assert pool.offer(20, {}, {}) and pool.offer(30, {}, {})
    assert [m.version for m in pool.members] == [10, 20, 30]  # the oldest left
    for _ in range(60):
        pool.record(10, 1.0)  # beaten every time
        pool.record(30, -1.0)  # loses to it every time
    counts = np.bincount(
        np.searchsorted([10, 20, 30], pool.draw(np.random.default_rng(0), 3000)), minlength=3
    )
    assert counts[2] > counts[1] > counts[0]
    with pytest.raises(ValueError, match="weighting"):
        OpponentPool(lambda t, m: None, 2, 1, weighting="elo")


def test_a_game_that_does_not_fit_the_env_or_a_bad_value_is_refused_by_name(
    redis_url: str, namespace: str
) -> None:
    with pytest.raises(ValueError, match="selfplay.pool_share"):
        selfplay_cfg(redis_url, namespace, "selfplay.pool_share=1.5")
    with pytest.raises(ValueError, match="learner.gate_games"):
        selfplay_cfg(redis_url, namespace, "learner.gate_games=7")
    cfg = selfplay_cfg(redis_url, namespace, "selfplay.game=connect_four")  # env: tic-tac-toe
    with pytest.raises(ValueError, match="env.id"):
        make_stepper(ActorSpec.from_config(cfg, 0, redis_url, namespace, TAG), seed=0)


def test_actor_search_plays_the_win_the_greedy_policy_misses_but_keeps_exploration(
    redis_url: str, namespace: str
) -> None:
    cfg = selfplay_cfg(redis_url, namespace, "selfplay.actor_search_depth=1")
    spec = ActorSpec.from_config(cfg, 0, redis_url, namespace, TAG)
    stepper, _ = make_stepper(spec, seed=0)
    stepper.reset()
    stepper.on_weights(0, *preference_version(cfg, EDGES_FIRST))  # greedy: cell 1 first
    game = stepper.game
    board = game.initial(1)
    for cell in (0, 3, 4, 6):  # X: 0 and 4, O: 3 and 6; X to move wins with 8
        board = game.apply(board, np.array([cell]))
    stepper.state[:] = board
    stepper.opponent[:] = -1
    stepper._last_obs = stepper._obs(stepper.state)
    actions = np.full(16, 1)  # the policy's greedy move on every board...
    actions[0] = 2  # ...except one that explored
    step = stepper.step(actions)
    assert step.played.tolist() == [2] + [8] * 15
    assert step.reward.tolist() == [0.0] + [1.0] * 15
