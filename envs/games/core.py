"""The two-player game contract: a turn-based, two-player, zero-sum game, batched.

A user brings a game in one module: a class that satisfies :class:`TwoPlayerGame`,
named ``package.module:Name`` (found on the Python path, like env ids) and loaded by
:func:`load_game`. fsrl then supplies the Gymnasium wrapper against a fixed opponent
(:mod:`envs.games.env`), the arena and the ratings (``learner.arena``).

A *state* is a numpy array with one leading row per board (``(N, ...)``, any dtype
the game likes); the game never keeps per-board state of its own, so states can be
copied, indexed, stacked and stored. Every method is batched over those N rows.

Conventions, from the view of the **player to move** (canonical form):

* :meth:`TwoPlayerGame.observe` is the board as the player to move sees it (its own
  stones first), so one network plays both sides;
* :meth:`TwoPlayerGame.status` returns ``(terminal, value)``: ``value`` is +1 if the
  player to move has won, −1 if it has lost (the usual case: the previous mover just
  won), 0 for a draw or an unfinished game.

Moves are integers in ``[0, num_actions)``; :meth:`TwoPlayerGame.legal` marks the
legal ones (none on a terminal board). :meth:`TwoPlayerGame.apply` refuses an
illegal move or a finished board with a :class:`IllegalMoveError` naming the row and
the move, and returns a new state (the input is not changed).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

logger = logging.getLogger(__name__)

#: A player: canonical observations ``(N, *obs_shape)`` and legal masks ``(N, A)`` in,
#: one move per row out. Stochastic players may offer ``seed(int)``; the arena and the
#: env call it so that games on fixed seeds replay exactly.
Player = Callable[[np.ndarray, np.ndarray], np.ndarray]


class IllegalMoveError(ValueError):
    """A move that is not legal on its board (the message names the row and the move)."""


@runtime_checkable
class TwoPlayerGame(Protocol):
    """What fsrl needs from a two-player, zero-sum, turn-based game (see the module doc)."""

    #: A short name (``connect_four``), used in ids, tables and logs.
    name: str
    #: Number of distinct moves (the action space is ``Discrete(num_actions)``).
    num_actions: int
    #: Shape of one canonical observation (uint8, values 0/1 by convention).
    obs_shape: tuple[int, ...]

    def initial(self, n: int) -> np.ndarray:
        """``n`` empty boards, first player to move."""

    def legal(self, state: np.ndarray) -> np.ndarray:
        """``(N, num_actions)`` bool: the legal moves of each board (all False when over)."""

    def apply(self, state: np.ndarray, moves: np.ndarray) -> np.ndarray:
        """The boards after the player to move plays ``moves[i]`` on row i; then the other
        player is to move. Raises :class:`IllegalMoveError` on an illegal move."""

    def status(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(terminal (N,) bool, value (N,) float32)`` from the player to move."""

    def observe(self, state: np.ndarray) -> np.ndarray:
        """``(N, *obs_shape)`` uint8 canonical boards, from the player to move."""

    def render(self, state: np.ndarray, row: int = 0) -> str:
        """A small text picture of one board (player to move: ``X``)."""


#: Optional: ``pass_turn(state) -> state`` — the same boards with the other player to
#: move (a null move). The env uses it to show the final board from the agent's side
#: after the agent's own last move; without it that one observation is the opponent's view.
PASS_TURN = "pass_turn"
#: Optional: ``apply_unchecked(state, moves) -> state`` — :meth:`TwoPlayerGame.apply`
#: without the legality check, for moves the caller has checked (the env's hot path).
APPLY_UNCHECKED = "apply_unchecked"
#: Optional: ``from_observation(obs) -> state`` — the states behind canonical
#: observations (the inverse of :meth:`TwoPlayerGame.observe`); a play-time search over
#: a learned value (:mod:`envs.games.search`) needs it, since players see observations.
FROM_OBSERVATION = "from_observation"
#: Optional: ``symmetries(boards, masks) -> [(boards', masks', moves'), ...]`` — the
#: images of canonical boards ``(N, *obs_shape)`` and legal masks ``(N, A)`` under each
#: symmetry of the game other than the identity, with ``moves'[a]`` the image of move
#: ``a`` (an int array of ``num_actions``). Self-play writes each move's images too.
SYMMETRIES = "symmetries"


#: Built-in games by short name (``game=connect_four``).
BUILTIN_GAMES = {
    "connect_four": "envs.games.connect_four:ConnectFour",
    "tictactoe": "envs.games.tictactoe:TicTacToe",
}


def _load_object(spec: str, what: str) -> Any:
    if ":" not in spec:
        raise ValueError(f"{what}={spec!r} must be 'package.module:Name'")
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{what}={spec!r}: cannot import module {module_name!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{what}={spec!r}: module {module_name!r} has no {attr!r}") from None


def load_game(spec: str | TwoPlayerGame, **kwargs: Any) -> TwoPlayerGame:
    """A game from a built-in short name, ``package.module:Name`` (a class, or a factory,
    called with ``kwargs``), or an instance (returned as is). Checks the contract."""
    if not isinstance(spec, str):
        game: Any = spec
    else:
        obj = _load_object(BUILTIN_GAMES.get(spec, spec), "game")
        game = obj(**kwargs) if callable(obj) else obj
    missing = [
        m
        for m in ("name", "num_actions", "obs_shape", "initial", "legal", "apply", "status")
        if not hasattr(game, m)
    ] + [m for m in ("observe",) if not callable(getattr(game, m, None))]
    if missing:
        raise ValueError(f"game={spec!r} does not satisfy TwoPlayerGame: missing {missing}")
    if int(game.num_actions) < 1:
        raise ValueError(f"game={spec!r} has num_actions={game.num_actions!r}; need >= 1")
    return game  # type: ignore[no-any-return]


def load_callable(spec: str, what: str, **kwargs: Any) -> Any:
    """``package.module:Name`` → the object; a class is instantiated with ``kwargs``."""
    obj = _load_object(spec, what)
    if isinstance(obj, type):
        return obj(**kwargs)
    if kwargs:
        raise ValueError(f"{what}={spec!r} is not a class; it takes no keyword arguments")
    if not callable(obj):
        raise ValueError(f"{what}={spec!r} is not callable")
    return obj


def check_moves(game: TwoPlayerGame, state: np.ndarray, moves: Any) -> np.ndarray:
    """``moves`` as int64 ``(N,)``; :class:`IllegalMoveError` naming the first bad row."""
    n = state.shape[0]
    m = np.asarray(moves)
    if m.size != n or not (
        np.issubdtype(m.dtype, np.integer)
        or (np.issubdtype(m.dtype, np.floating) and np.array_equal(m, np.round(m)))
    ):
        raise IllegalMoveError(f"{game.name}: moves must be {n} integers, got {moves!r}")
    m = m.reshape(n).astype(np.int64)
    legal = game.legal(state)
    inside = (m >= 0) & (m < game.num_actions)
    ok = inside.copy()
    ok[inside] = legal[np.flatnonzero(inside), m[inside]]
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise IllegalMoveError(
            f"{game.name}: move {int(m[row])} is illegal on board {row} "
            f"(legal: {np.flatnonzero(legal[row]).tolist()})"
        )
    return m


def play_out(
    game: TwoPlayerGame, state: np.ndarray, first: Player, second: Player, max_plies: int = 10_000
) -> np.ndarray:
    """Play every board to the end, ``first`` moving on even plies from ``state``.

    Returns ``(N,)`` float32: the result from the view of ``first`` (+1 win, 0 draw, −1 loss).
    """
    state = state.copy()
    n = state.shape[0]
    result = np.zeros(n, dtype=np.float32)
    done = np.zeros(n, dtype=bool)
    for ply in range(max_plies):
        terminal, value = game.status(state)
        newly = terminal & ~done
        sign = 1.0 if ply % 2 == 0 else -1.0  # value is from the player to move
        result[newly] = sign * value[newly]
        done |= terminal
        if done.all():
            return result
        rows = np.flatnonzero(~done)
        player = first if ply % 2 == 0 else second
        moves = np.asarray(player(game.observe(state[rows]), game.legal(state[rows])))
        state[rows] = game.apply(state[rows], moves)
    raise RuntimeError(f"{game.name}: games still running after {max_plies} plies")


__all__ = [
    "BUILTIN_GAMES",
    "APPLY_UNCHECKED",
    "FROM_OBSERVATION",
    "SYMMETRIES",
    "PASS_TURN",
    "IllegalMoveError",
    "Player",
    "TwoPlayerGame",
    "check_moves",
    "load_callable",
    "load_game",
    "play_out",
]
