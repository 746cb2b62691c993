"""Self-play stepping: an actor's boards of a two-player game, both players' moves written.

:class:`SelfPlayStepper` is what an actor steps instead of a vector env when
``selfplay.game`` is set (:func:`make_stepper` picks). It holds ``actors.envs_per_actor``
boards of a :class:`~envs.games.core.TwoPlayerGame` (batched numpy, no Gymnasium in
the loop) and advances each by one move per step, whoever is to move:

* a board is a game of the acting version against itself (both sides follow the
  policy's actions) or, for a share ``selfplay.pool_share`` of new games, against a past
  version drawn from the actor's :class:`~actors.pool.OpponentPool` (PFSP or uniform),
  which plays its own turns greedily; the acting version's side is a coin per game;
* every move is a step: observation = the board from the mover's side (canonical),
  reward = +1 when the move wins, 0 otherwise (a draw, or the game goes on), terminated
  at the game's end; ``next_obs`` is the board from the next mover's side. The steps of
  one board alternate players, so the actor folds them with ``alternate=True``
  (:class:`~actors.nstep.NStepFolder`): discount −γ per move, the negamax target;
* with ``selfplay.actor_search_depth`` > 0 the acting version's moves are its search
  over its own values (:class:`VersionPlayer`, as the arena's player but shallower),
  except where its ε-greedy policy explored (the action differs from its greedy one):
  tactically sounder games to learn from; pool opponents search as deep;
* new games start after up to ``selfplay.opening_plies`` random moves (not written);
* :meth:`SelfPlayStepper.augment` adds each transition's images under the game's
  symmetries; :meth:`SelfPlayStepper.on_weights` offers each version the actor moves to
  to the pool; the episode book credits pool games only, from the acting version's
  side (+1 it won, −1 it lost): a version's online return is its score against the pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from actors.envs import VectorStep, VectorStepper, make_vector_env, probe_spaces
from actors.pool import OpponentPool
from agents import Agent, AgentError, resolve_agent
from conf.sections import SelfPlayConfig
from envs.games.core import APPLY_UNCHECKED, SYMMETRIES, IllegalMoveError, TwoPlayerGame, load_game
from envs.games.search import SearchPlayer, one_blas_thread

logger = logging.getLogger(__name__)

BOARD, MASK = "board", "action_mask"


def check_game_spaces(game: TwoPlayerGame, obs_space: gym.Space, action_space: gym.Space) -> None:
    """The env's spaces must be the game's (``{"board", "action_mask"}``, ``Discrete(A)``)."""
    board = obs_space.spaces.get(BOARD) if isinstance(obs_space, gym.spaces.Dict) else None
    ok = (
        board is not None
        and tuple(board.shape or ()) == tuple(game.obs_shape)
        and isinstance(action_space, gym.spaces.Discrete)
        and int(action_space.n) == int(game.num_actions)
    )
    if not ok:
        raise ValueError(
            f"selfplay.game={game.name!r} plays boards {tuple(game.obs_shape)} with "
            f"{game.num_actions} moves, but env.id gives {obs_space} and {action_space}: set "
            "env.id to the same game against a fixed opponent (e.g. fsrl/ConnectFour-v0)"
        )


class VersionPlayer:
    """One version's moves on Dict observations: greedy on its action values, and (``depth``
    > 0) a search over them (:class:`envs.games.search.SearchPlayer`)."""

    def __init__(
        self,
        values: Callable[[Any], np.ndarray],
        game: TwoPlayerGame,
        depth: int,
        discount: float,
    ) -> None:
        self.values = values
        self.search = SearchPlayer(game, values, depth, discount) if depth else None

    def greedy(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        mask = obs[MASK].astype(bool)
        q = np.asarray(self.values(obs), dtype=np.float64).reshape(mask.shape)
        return np.argmax(np.where(mask, q, -np.inf), axis=1)

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        if self.search is None:
            return self.greedy(obs)
        return self.search(obs[BOARD], obs[MASK])


def version_players(
    agent: Agent, game: TwoPlayerGame, depth: int, discount: float
) -> Callable[[Any, Any], Any]:
    """``(tensors, metadata) -> player`` for the actors' pool and searching moves: a
    :class:`VersionPlayer` on the agent's action values, or its greedy evaluation policy
    where it has none (and ``depth`` is 0)."""

    def make(tensors: Any, metadata: Any) -> Any:
        try:
            values = agent.action_values(tensors, dict(metadata))
        except AgentError:
            if depth:
                raise ValueError(
                    f"selfplay.actor_search_depth={depth} needs action values; "
                    f"algo={agent.name} has none"
                ) from None
            return agent.evaluation_policy(tensors, dict(metadata))
        return VersionPlayer(values, game, depth, discount)

    return make


class SelfPlayStepper:
    """Steps self-play boards (see the module doc); a stand-in for a :class:`VectorStepper`.

    Promises: every step moves every board once with a legal move (the policy's, or the
    pool opponent's on its turns: :attr:`VectorStep.played`); rewards are the mover's;
    a finished board starts a new game in the same step (the returned ``obs``), and its
    final board is in ``next_obs``. Same seed and same actions give the same games.
    """

    alternating = True

    def __init__(
        self,
        game: TwoPlayerGame,
        num_boards: int,
        make_player: Any,
        cfg: SelfPlayConfig,
        seed: int,
        observation_space: gym.Space,
        action_space: gym.Space,
    ) -> None:
        if not isinstance(num_boards, int) or num_boards < 1:
            raise ValueError(f"actors.envs_per_actor must be a positive int, got {num_boards!r}")
        check_game_spaces(game, observation_space, action_space)
        one_blas_thread()  # an actor's many small products: one thread (and Ray gives 1 CPU)
        self.game = game
        self.num_envs = num_boards
        self.cfg = cfg
        self.observation_space = observation_space
        self.action_space = action_space
        self.pool = OpponentPool(
            make_player,
            cfg.pool_size,
            cfg.pool_interval_versions,
            cfg.pool_weighting,
            cfg.pfsp_power,
        )
        self.rng = np.random.default_rng(seed)
        self.state = game.initial(num_boards)
        self.opponent = np.full(num_boards, -1, dtype=np.int64)  # pool version; -1: itself
        self.side = np.zeros(num_boards, dtype=np.int64)  # ply parity of the acting version
        self.ply = np.zeros(num_boards, dtype=np.int64)
        self._apply = getattr(game, APPLY_UNCHECKED, None) or game.apply
        self._symmetries = getattr(game, SYMMETRIES, None) if cfg.symmetries else None
        self.make_player = make_player
        self.current: Any = None  # the acting version's player (actor_search_depth > 0)
        self._last_obs: dict[str, np.ndarray] | None = None
        self.games = 0
        self.pool_games = 0

    def _obs(self, state: np.ndarray) -> dict[str, np.ndarray]:
        return {BOARD: self.game.observe(state), MASK: self.game.legal(state).astype(np.uint8)}

    def reset(self) -> dict[str, np.ndarray]:
        self._new_games(np.arange(self.num_envs))
        self._last_obs = self._obs(self.state)
        return self._last_obs

    def _new_games(self, rows: np.ndarray) -> None:
        k = len(rows)
        pooled = (self.rng.random(k) < self.cfg.pool_share) & (len(self.pool) > 0)
        self.opponent[rows] = -1
        if pooled.any():
            self.opponent[rows[pooled]] = self.pool.draw(self.rng, int(pooled.sum()))
        self.side[rows] = self.rng.integers(0, 2, k)
        state = self.game.initial(k)
        plies = self.rng.integers(0, int(self.cfg.opening_plies) + 1, k)
        for p in range(int(plies.max(initial=0))):
            live = np.flatnonzero((plies > p) & ~self.game.status(state)[0])
            legal = self.game.legal(state[live])
            moves = np.argmax(np.where(legal, self.rng.random(legal.shape), -1.0), axis=1)
            state[live] = self._apply(state[live], moves)
        over = self.game.status(state)[0]  # an opening that ended the game: start empty
        if over.any():
            state[over] = self.game.initial(int(over.sum()))
            plies[over] = 0
        self.state[rows] = state
        self.ply[rows] = plies

    def _moves(self, actions: np.ndarray) -> np.ndarray:
        """What is played: the pool opponents' moves on their turns (one batched call per
        opponent); the acting version's search where its policy did not explore."""
        played = actions.copy()
        obs = self._last_obs if self._last_obs is not None else self._obs(self.state)
        turn = (self.opponent >= 0) & (self.ply % 2 != self.side)
        if self.current is not None:
            rows = np.flatnonzero(~turn & (actions == self.current.greedy(obs)))
            if len(rows):
                played[rows] = self.current({k: v[rows] for k, v in obs.items()})
        for version in np.unique(self.opponent[turn]):
            member = self.pool.member(int(version))
            rows = np.flatnonzero(turn & (self.opponent == version))
            if member is None:  # it left the pool mid-game: the acting version plays on
                self.opponent[rows] = -1
                continue
            played[rows] = member.player({k: v[rows] for k, v in obs.items()})
        return played

    def step(self, actions: np.ndarray) -> VectorStep:
        n = self.num_envs
        played = self._moves(np.asarray(actions).reshape(n).astype(np.int64))
        legal = self.game.legal(self.state)
        inside = (played >= 0) & (played < legal.shape[1])
        ok = inside & legal[np.arange(n), np.clip(played, 0, legal.shape[1] - 1)]
        if not ok.all():
            row = int(np.flatnonzero(~ok)[0])
            raise IllegalMoveError(
                f"{self.game.name}: move {int(played[row])} on board {row} is illegal "
                f"(legal: {np.flatnonzero(legal[row]).tolist()})"
            )
        nxt = self._apply(self.state, played)
        terminal, value = self.game.status(nxt)
        reward = np.where(terminal, -value, 0.0)  # value is the next mover's: the mover's is −value
        next_obs = self._obs(nxt)
        credited = self.opponent >= 0
        credit = np.where(self.ply % 2 == self.side, reward, -reward)  # the acting version's side
        ended = np.flatnonzero(terminal)
        for row in ended[credited[ended]]:
            self.pool.record(int(self.opponent[row]), float(credit[row]))
        self.games += len(ended)
        self.pool_games += int(credited[ended].sum())
        self.state = nxt
        self.ply += 1
        if len(ended):
            self._new_games(ended)
        self._last_obs = self._obs(self.state)
        return VectorStep(
            obs=self._last_obs,
            next_obs=next_obs,
            reward=reward,
            terminated=terminal,
            truncated=np.zeros(n, dtype=bool),
            valid=np.ones(n, dtype=bool),
            played=played,
            credit=credit,
            credited=credited,
        )

    def augment(self, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The transitions and their images under the game's symmetries (where declared)."""
        if self._symmetries is None or not len(out["action"]):
            return out
        keys = [f"{p}/{k}" for p in ("obs", "next_obs") for k in (BOARD, MASK)]
        images = self._symmetries(out["obs/" + BOARD], out["obs/" + MASK])
        next_images = self._symmetries(out["next_obs/" + BOARD], out["next_obs/" + MASK])
        parts = [out]
        for (board, mask, moves), (next_board, next_mask, _) in zip(
            images, next_images, strict=True
        ):
            image = dict(out)
            for key, value in zip(keys, (board, mask, next_board, next_mask), strict=True):
                image[key] = np.asarray(value, dtype=out[key].dtype)
            image["action"] = np.asarray(moves)[out["action"]].astype(out["action"].dtype)
            parts.append(image)
        return {k: np.concatenate([p[k] for p in parts]) for k in out}

    def on_weights(self, version: int, tensors: Any, metadata: Any) -> None:
        """The actor moved to ``version``: a pool candidate (every ``pool_interval_versions``)."""
        if self.cfg.actor_search_depth:
            self.current = self.make_player(tensors, metadata)
        if self.pool.offer(version, tensors, metadata):
            logger.debug(
                "version %d joined the opponent pool (%d members)", version, len(self.pool)
            )

    def stats(self) -> dict[str, Any]:
        return {"games": self.games, "pool_games": self.pool_games, "pool": self.pool.summary()}

    def close(self) -> None:
        return None


def make_stepper(spec: Any, seed: int) -> tuple[VectorStepper | SelfPlayStepper, Agent]:
    """The actor's stepper and agent: self-play boards when ``selfplay.game`` is set, else
    the env's vector env (:class:`~actors.envs.VectorStepper`)."""
    n = spec.actors.envs_per_actor
    agent_cls = resolve_agent(spec.algo.name)
    if spec.selfplay.game is None:
        stepper = VectorStepper(make_vector_env(spec.env, n, seed=seed), seed=seed)
        spaces = (stepper.observation_space, stepper.action_space)
        return stepper, agent_cls(spec.algo, spec.model, *spaces)
    game = load_game(spec.selfplay.game)
    obs_space, action_space = probe_spaces(spec.env)
    agent = agent_cls(spec.algo, spec.model, obs_space, action_space)
    players = version_players(
        agent, game, int(spec.selfplay.actor_search_depth), float(spec.algo.gamma)
    )
    sp = SelfPlayStepper(game, n, players, spec.selfplay, seed, obs_space, action_space)
    return sp, agent


__all__ = [
    "SelfPlayStepper",
    "VersionPlayer",
    "check_game_spaces",
    "make_stepper",
    "version_players",
]
