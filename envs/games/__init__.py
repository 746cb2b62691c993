"""fsrl's two-player games: the contract, Connect Four and tic-tac-toe, and Gymnasium envs.

* :mod:`envs.games.core` — :class:`TwoPlayerGame` (what a user implements, batched
  numpy) and :func:`load_game` (``connect_four``, ``tictactoe`` or ``package.module:Name``).
* :mod:`envs.games.connect_four` — Connect Four on batched bitboards;
  :mod:`envs.games.tictactoe` — tic-tac-toe.
* :mod:`envs.games.players` / :mod:`envs.games.connect_four_search` — random and
  depth-limited alpha-beta players.
* :mod:`envs.games.env` — a game as a single-agent env against a fixed opponent.

Registered ids (on import of this package): ``fsrl/ConnectFour-v0``,
``fsrl/TicTacToe-v0`` and ``fsrl/TwoPlayerGame-v0`` (pass ``game=package.module:Name``);
e.g. ``gymnasium.make("envs.games:fsrl/ConnectFour-v0", opponent="alphabeta")``.
"""

from __future__ import annotations

import gymnasium as gym

from envs.games.connect_four import ConnectFour
from envs.games.core import (
    BUILTIN_GAMES,
    IllegalMoveError,
    Player,
    TwoPlayerGame,
    load_game,
    play_out,
)
from envs.games.env import ConnectFourEnv, GameEnv, TicTacToeEnv, make_opponent
from envs.games.players import FirstLegalPlayer, RandomPlayer
from envs.games.tictactoe import TicTacToe

ENV_IDS = ("fsrl/ConnectFour-v0", "fsrl/TicTacToe-v0", "fsrl/TwoPlayerGame-v0")

__all__ = [
    "BUILTIN_GAMES",
    "ENV_IDS",
    "ConnectFour",
    "ConnectFourEnv",
    "FirstLegalPlayer",
    "GameEnv",
    "IllegalMoveError",
    "Player",
    "RandomPlayer",
    "TicTacToe",
    "TicTacToeEnv",
    "TwoPlayerGame",
    "load_game",
    "make_opponent",
    "play_out",
]


def _register() -> None:
    entries = {
        "fsrl/ConnectFour-v0": "envs.games.env:ConnectFourEnv",
        "fsrl/TicTacToe-v0": "envs.games.env:TicTacToeEnv",
        "fsrl/TwoPlayerGame-v0": "envs.games.env:GameEnv",
    }
    for env_id, entry in entries.items():
        if env_id not in gym.envs.registration.registry:
            gym.register(id=env_id, entry_point=entry)


_register()
