"""The evaluation job of a self-play run: each new version in the arena, gated against the champion.

When ``selfplay.game`` is set, the learner's periodic evaluation (and the final one)
is :meth:`SelfPlayJudge.judge` instead of greedy episodes against the env's opponent:

* the version's player is :func:`version_player`: exact negamax ``selfplay.search_depth``
  plies deep over its learned action values (:class:`envs.games.search.SearchPlayer`;
  0: greedy on them). The same player is what the gate, the ratings and the bench
  measure — the player the platform makes of a version;
* it plays ``learner.gate_games`` games against each of ``selfplay.baselines`` (rated;
  the mean result against the first is the run's eval return) and against the
  current champion, on fixed seeds (``env.eval_seed``; paired openings, sides swapped,
  :func:`learner.arena.play_match`); it becomes champion only with a score ≥
  ``learner.gate_threshold`` against it (:func:`learner.gate.gate`; the first version
  judged is crowned), recorded through :class:`learner.lifecycle.TagLifecycle`, so
  actors following ``champion`` never get a version that lost its gate;
* the ratings (OpenSkill) and the payoff table are written to ``ratings.json`` and
  ``payoff.json`` in the run directory after every judgement (the leaderboard reads
  them; a resumed run in the same directory carries them on).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents import Agent, AgentError
from envs.games.core import Player, TwoPlayerGame, load_game
from envs.games.env import make_opponent
from envs.games.search import SearchPlayer, one_blas_thread
from learner.arena import Arena, GateResult, PayoffTable, policy_player
from learner.leaderboard import PAYOFF_FILE, RATINGS_FILE
from learner.lifecycle import TagLifecycle
from learner.ratings import Ratings
from learner.version_log import version_name

logger = logging.getLogger(__name__)


def version_player(
    agent: Agent,
    game: TwoPlayerGame,
    tensors: Any,
    metadata: Any,
    depth: int,
    discount: float = 1.0,
) -> Player:
    """The player the platform makes of a published version (see the module doc)."""
    try:
        values = agent.action_values(tensors, dict(metadata))
    except AgentError:
        if depth:
            raise
        return policy_player(agent.evaluation_policy(tensors, dict(metadata)))
    return SearchPlayer(game, values, depth, discount=discount)


def baseline(name: str, alphabeta_depth: int) -> tuple[str, Player]:
    """A rated baseline opponent and its name in the ratings (``alphabeta`` → ``alphabeta4``)."""
    if name == "alphabeta":
        return f"alphabeta{alphabeta_depth}", make_opponent(name, depth=alphabeta_depth)
    return name, make_opponent(name)


@dataclass(frozen=True)
class Verdict:
    """One judged version: the gate, the eval return (vs the first baseline), its rating."""

    version: int
    gate: GateResult
    eval_return: float
    games: int
    rating_mu: float
    rating_sigma: float

    def metrics(self) -> dict[str, float]:
        score = self.gate.win_rate
        return {
            "eval/mean_return": self.eval_return,
            "eval/rating_mu": self.rating_mu,
            "eval/rating_sigma": self.rating_sigma,
            "eval/gate_passed": float(self.gate.passed),
            "eval/score_vs_champion": float("nan") if score is None else float(score),
        }


class SelfPlayJudge:
    """Judges published versions of one tag in the arena (see the module doc)."""

    def __init__(
        self,
        cfg: Any,
        agent: Agent,
        store: Any,
        tag: str,
        run_dir: Path,
        lifecycle: TagLifecycle,
    ) -> None:
        sp = cfg.selfplay
        if sp.game is None:
            raise ValueError("SelfPlayJudge needs selfplay.game (a two-player game)")
        self.game = load_game(sp.game)
        self.agent = agent
        self.store = store
        self.tag = tag
        self.lifecycle = lifecycle
        self.depth = int(sp.search_depth)
        self.discount = float(cfg.algo.gamma)
        self.threshold = float(cfg.learner.gate_threshold)
        self.seed = int(cfg.env.eval_seed)
        self.run_dir = Path(run_dir)
        ratings_path, payoff_path = self.run_dir / RATINGS_FILE, self.run_dir / PAYOFF_FILE
        self.arena = Arena(
            self.game,
            games=int(cfg.learner.gate_games),
            opening_plies=int(sp.arena_opening_plies),
            ratings=Ratings.load(ratings_path) if ratings_path.exists() else None,
            payoff=PayoffTable.from_json(payoff_path.read_text()) if payoff_path.exists() else None,
        )
        self.baselines = [baseline(b, int(sp.alphabeta_depth)) for b in sp.baselines]
        self._champion: tuple[int, Player] | None = None

    def player(self, tensors: Any, metadata: Any) -> Player:
        return version_player(self.agent, self.game, tensors, metadata, self.depth, self.discount)

    def champion(self) -> tuple[str, Player] | None:
        """The champion's name and player (fetched once per champion version)."""
        version = self.lifecycle.champion
        if version is None:
            return None
        if self._champion is None or self._champion[0] != version:
            _, tensors, meta = self.store.fetch(self.tag, version)
            self._champion = (version, self.player(tensors, meta))
        return version_name(self.tag, version), self._champion[1]

    def judge(self, version: int, tensors: Any, metadata: Any, metrics: Any = None) -> float:
        """Rate ``version`` against the baselines, gate it against the champion, record it;
        returns its eval return (mean result against the first baseline)."""
        name = version_name(self.tag, version)
        player = self.player(tensors, metadata)
        champion = self.champion()
        if champion is not None and champion[0] == name:
            champion = None  # judging the champion again: rated, not gated
        limiter = one_blas_thread()  # the search's small products, in the learner's process
        try:
            result = self.arena.challenge(
                name, player, champion, self.baselines, seed=self.seed, threshold=self.threshold
            )
        finally:
            limiter.restore_original_limits()
        if self.lifecycle.champion == version:
            result = GateResult(True, None, 0, threshold=self.threshold, reason="is the champion")
        first = self.arena.payoff.get(name, self.baselines[0][0])
        eval_return = float(np.mean(first.outcomes)) if first is not None else float("nan")
        games = first.games if first is not None else 0
        self.save()
        self.lifecycle.evaluated(version, eval_return, games, gate=result)
        if result.passed and self.lifecycle.champion == version:
            self._champion = (version, player)
        rating = self.arena.ratings[name]
        verdict = Verdict(version, result, eval_return, games, rating.mu, rating.sigma)
        logger.info(
            "judged %s: mean result %.2f vs %s, rating %.1f ± %.1f; gate %s (%s)",
            name,
            eval_return,
            self.baselines[0][0],
            rating.mu,
            rating.sigma,
            "passed" if result.passed else "failed",
            result.reason,
        )
        if metrics is not None:
            metrics.record_many(verdict.metrics())
        return eval_return

    def save(self) -> None:
        """``ratings.json`` and ``payoff.json`` in the run directory (replaced atomically)."""
        self.arena.ratings.save(self.run_dir / RATINGS_FILE)
        path = self.run_dir / PAYOFF_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.arena.payoff.to_json())
        tmp.replace(path)


__all__ = ["SelfPlayJudge", "Verdict", "baseline", "version_player"]
