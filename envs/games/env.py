"""A two-player game as a single-agent Gymnasium env against a fixed opponent."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.games.core import (
    APPLY_UNCHECKED,
    PASS_TURN,
    IllegalMoveError,
    Player,
    TwoPlayerGame,
    load_callable,
    load_game,
)
from envs.games.players import FirstLegalPlayer, RandomPlayer

#: Opponents by short name; anything else is ``package.module:Name`` or a callable.
OPPONENTS = ("random", "first_legal", "alphabeta")
INVALID_ACTION_MODES = ("lose", "raise")


def make_opponent(spec: str | Player, **kwargs: Any) -> Player:
    """An opponent from a short name (:data:`OPPONENTS`), ``package.module:Name`` or a callable."""
    if callable(spec):
        return spec
    if spec == "random":
        return RandomPlayer(**kwargs)
    if spec == "first_legal":
        return FirstLegalPlayer(**kwargs)
    if spec == "alphabeta":
        obj = load_callable("envs.games.connect_four_search:AlphaBetaPlayer", "opponent", **kwargs)
        return obj  # type: ignore[no-any-return]
    if isinstance(spec, str) and ":" in spec:
        player = load_callable(spec, "opponent", **kwargs)
        if not callable(player):
            raise ValueError(f"opponent={spec!r} is not callable (obs, mask) -> moves")
        return player  # type: ignore[no-any-return]
    raise ValueError(
        f"opponent={spec!r} must be one of {OPPONENTS}, 'package.module:Name' or a callable"
    )


class GameEnv(gym.Env):
    """A two-player, zero-sum game (:class:`~envs.games.core.TwoPlayerGame`) played by the
    agent against a fixed opponent, which moves inside :meth:`step`.

    ## Description
    Each episode is one game. The agent plays first or second (``agent_first``; by
    default a fair coin from the env's generator per episode); when it plays second,
    the opponent's first move is made in :meth:`reset`. Every observation is the board
    from the agent's side (its own stones in plane 0), the game's canonical form.

    ## Action Space
    ``Discrete(game.num_actions)``: the game's moves (Connect Four: the column 0..6,
    tic-tac-toe: the cell ``3 * row + col``). Legal moves are marked in
    ``obs["action_mask"]``. An illegal move with ``invalid_action="lose"`` (default)
    forfeits the game (reward −1, ``info["illegal"]`` True); with ``"raise"`` it raises
    :class:`~envs.games.core.IllegalMoveError` naming the move and the legal ones.

    ## Observation Space
    ``Dict``, uint8:

    | key | shape | content |
    |---|---|---|
    | ``board`` | ``game.obs_shape`` (Connect Four (2, 6, 7)) | plane 0 the agent's stones, plane 1 the opponent's; row 0 is the top |
    | ``action_mask`` | (num_actions,) | 1 where the move is legal |

    ## Rewards
    +1 when the agent wins, −1 when it loses (or forfeits), 0 for a draw and on every
    other step. ``info``: ``agent_first``, ``plies`` (moves on the board), ``illegal``,
    ``outcome`` (+1/0/−1 at the end, else 0).

    ## Episode End
    Terminated when the game ends. Games are finite (Connect Four ≤ 42 plies), so no
    truncation is registered.

    ## Arguments
    ``game`` (short name, ``package.module:Name`` or an instance), ``opponent``
    (``random``, ``first_legal``, ``alphabeta`` or ``package.module:Name`` or a
    callable ``(obs, mask) -> moves`` on batches), ``opponent_kwargs`` (e.g.
    ``{"depth": 4}``), ``agent_first`` (True, False or None: a coin per episode),
    ``invalid_action``, ``render_mode`` (``ansi``).
    The opponent is reseeded from the env's generator on ``reset(seed=...)`` when it
    has a ``seed(int)`` method, so the same seed replays the same games.

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        game: str | TwoPlayerGame = "connect_four",
        opponent: str | Player = "random",
        opponent_kwargs: dict[str, Any] | None = None,
        agent_first: bool | None = None,
        invalid_action: str = "lose",
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        if invalid_action not in INVALID_ACTION_MODES:
            raise ValueError(
                f"invalid_action must be one of {INVALID_ACTION_MODES}, got {invalid_action!r}"
            )
        if agent_first not in (True, False, None):
            raise ValueError(f"agent_first must be true, false or null, got {agent_first!r}")
        self.game = load_game(game)
        self.opponent = make_opponent(opponent, **(opponent_kwargs or {}))
        self.agent_first = agent_first
        self.invalid_action = invalid_action
        self.render_mode = render_mode
        n = int(self.game.num_actions)
        self.action_space = spaces.Discrete(n)
        self.observation_space = spaces.Dict(
            {
                "board": spaces.Box(0, 1, tuple(self.game.obs_shape), np.uint8),
                "action_mask": spaces.Box(0, 1, (n,), np.uint8),
            }
        )
        self._state = self.game.initial(1)
        self._over = True
        self._first = True
        self._plies = 0
        self._seeded_opponent = False

    def _obs(self, agent_to_move: bool = True) -> dict[str, np.ndarray]:
        state = self._state
        pass_turn = getattr(self.game, PASS_TURN, None)
        if not agent_to_move and pass_turn is not None:
            state = pass_turn(state)
        return {
            "board": self.game.observe(state)[0],
            "action_mask": self.game.legal(self._state)[0].astype(np.uint8),
        }

    def _info(self, illegal: bool = False, outcome: float = 0.0) -> dict[str, Any]:
        return {
            "agent_first": self._first,
            "plies": self._plies,
            "illegal": illegal,
            "outcome": outcome,
        }

    def _apply(self, move: int) -> None:
        """Play a move already checked against the legal mask (the game's unchecked path
        when it offers ``apply_unchecked``)."""
        fast = getattr(self.game, APPLY_UNCHECKED, None)
        moves = np.array([move], dtype=np.int64)
        self._state = fast(self._state, moves) if fast else self.game.apply(self._state, moves)
        self._plies += 1

    def _opponent_moves(self) -> None:
        mask = self.game.legal(self._state)
        move = np.asarray(self.opponent(self.game.observe(self._state), mask)).reshape(-1)
        if move.size != 1 or not np.issubdtype(move.dtype, np.integer):
            raise IllegalMoveError(f"opponent {self.opponent!r} returned {move!r}, not one move")
        m = int(move[0])
        if not (0 <= m < mask.shape[1] and mask[0, m]):
            raise IllegalMoveError(
                f"opponent {self.opponent!r} played illegal move {m} "
                f"(legal: {np.flatnonzero(mask[0]).tolist()})"
            )
        self._apply(m)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        reseed = getattr(self.opponent, "seed", None)
        if callable(reseed) and (seed is not None or not self._seeded_opponent):
            reseed(int(self.np_random.integers(2**31)))
            self._seeded_opponent = True
        self._state = self.game.initial(1)
        self._plies = 0
        self._over = False
        if self.agent_first is None:
            self._first = bool(self.np_random.random() < 0.5)
        else:
            self._first = bool(self.agent_first)
        if not self._first:
            self._opponent_moves()
        return self._obs(), self._info()

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if self._over:
            raise RuntimeError("step() outside an episode: call reset() first")
        legal = self.game.legal(self._state)[0]
        a = np.asarray(action)
        valid = a.size == 1 and np.issubdtype(a.dtype, np.integer)
        move = int(a.reshape(-1)[0]) if valid else -1
        if not (0 <= move < legal.size and legal[move]):
            if self.invalid_action == "raise":
                raise IllegalMoveError(
                    f"{self.game.name}: move {action!r} is illegal "
                    f"(legal: {np.flatnonzero(legal).tolist()})"
                )
            self._over = True
            return self._obs(), -1.0, True, False, self._info(illegal=True, outcome=-1.0)
        self._apply(move)
        terminal, value = self.game.status(self._state)
        agent_to_move = not terminal[0]
        if terminal[0]:  # value is from the opponent's side: it is to move
            outcome = -float(value[0])
        else:
            self._opponent_moves()
            terminal, value = self.game.status(self._state)
            outcome = float(value[0]) if terminal[0] else 0.0
        self._over = bool(terminal[0])
        obs = self._obs(agent_to_move)
        return obs, outcome, self._over, False, self._info(outcome=outcome)

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            side = "first (X)" if self._first else "second (X)"
            return self.game.render(self._state) + f"\nagent plays {side}, {self._plies} plies\n"
        return None


class ConnectFourEnv(GameEnv):
    """Connect Four (6×7) against a fixed opponent: :class:`GameEnv` with ``game="connect_four"``."""

    def __init__(self, **kwargs: Any) -> None:
        if "game" in kwargs:
            raise ValueError(f"ConnectFourEnv plays connect_four, not game={kwargs['game']!r}")
        super().__init__(game="connect_four", **kwargs)


class TicTacToeEnv(GameEnv):
    """Tic-tac-toe against a fixed opponent: :class:`GameEnv` with ``game="tictactoe"``."""

    def __init__(self, **kwargs: Any) -> None:
        if "game" in kwargs:
            raise ValueError(f"TicTacToeEnv plays tictactoe, not game={kwargs['game']!r}")
        super().__init__(game="tictactoe", **kwargs)


__all__ = [
    "INVALID_ACTION_MODES",
    "OPPONENTS",
    "ConnectFourEnv",
    "GameEnv",
    "TicTacToeEnv",
    "make_opponent",
]
