"""Game rules checked against a plain 2-D reference (independent of the bitboards),
hand-made positions, the user-game loader and the alpha-beta player."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from envs.games import ConnectFour, IllegalMoveError, RandomPlayer, TicTacToe, load_game, play_out
from envs.games.connect_four_search import AlphaBetaPlayer


def _ref_winner(grid: np.ndarray, need: int) -> int:
    """0 none, else the player (1/2) with ``need`` in a row in a 2-D grid (scan every line)."""
    rows, cols = grid.shape
    for r in range(rows):
        for c in range(cols):
            p = grid[r, c]
            if p == 0:
                continue
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + k * dr, c + k * dc) for k in range(need)]
                if all(0 <= y < rows and 0 <= x < cols and grid[y, x] == p for y, x in cells):
                    return int(p)
    return 0


class _RefConnectFour:
    """Connect Four on a 2-D grid (row 0 the top), players 1 and 2."""

    def __init__(self) -> None:
        self.grid = np.zeros((6, 7), dtype=np.int64)
        self.to_move = 1

    def legal(self) -> np.ndarray:
        if _ref_winner(self.grid, 4) or (self.grid != 0).all():
            return np.zeros(7, dtype=bool)
        return self.grid[0] == 0

    def play(self, c: int) -> None:
        r = int(np.flatnonzero(self.grid[:, c] == 0).max())
        self.grid[r, c] = self.to_move
        self.to_move = 3 - self.to_move

    def planes(self) -> np.ndarray:
        return np.stack([self.grid == self.to_move, self.grid == 3 - self.to_move]).astype(np.uint8)

    def status(self) -> tuple[bool, float]:
        w = _ref_winner(self.grid, 4)
        if w:
            return True, 1.0 if w == self.to_move else -1.0
        return bool((self.grid != 0).all()), 0.0


def test_connect_four_matches_reference_on_random_games() -> None:
    game = ConnectFour()
    rng = np.random.default_rng(0)
    n = 64
    refs = [_RefConnectFour() for _ in range(n)]
    state = game.initial(n)
    ends = {"won": 0, "draw": 0}
    for _ply in range(42):
        terminal, value = game.status(state)
        np.testing.assert_array_equal(game.observe(state), np.stack([r.planes() for r in refs]))
        np.testing.assert_array_equal(game.legal(state), np.stack([r.legal() for r in refs]))
        for i, ref in enumerate(refs):
            assert (bool(terminal[i]), float(value[i])) == ref.status()
        live = np.flatnonzero(~terminal)
        if live.size == 0:
            break
        legal = game.legal(state[live])
        moves = np.array([rng.choice(np.flatnonzero(m)) for m in legal])
        state[live] = game.apply(state[live], moves)
        for i, m in zip(live, moves, strict=True):
            refs[i].play(int(m))
    terminal, value = game.status(state)
    assert terminal.all()
    ends["won"] = int((value != 0).sum())
    ends["draw"] = int((value == 0).sum())
    assert ends["won"] > 0 and (value <= 0).all()  # the last mover wins; never the one to move


@pytest.mark.parametrize(
    ("moves", "terminal", "value"),
    [
        ("3344556", True, -1.0),  # horizontal
        ("0101010", True, -1.0),  # vertical
        ("01123223363", True, -1.0),  # rising diagonal
        ("65543443303", True, -1.0),  # falling diagonal (the mirror)
        ("334455", False, 0.0),
        ("", False, 0.0),
    ],
)
def test_connect_four_positions(moves: str, terminal: bool, value: float) -> None:
    game = ConnectFour()
    state = game.from_moves(moves)
    ref = _RefConnectFour()
    for ch in moves:
        ref.play(int(ch))
    got_t, got_v = game.status(state)
    assert (bool(got_t[0]), float(got_v[0])) == ref.status() == (terminal, value)


def test_connect_four_draw() -> None:
    game = ConnectFour()
    rng = np.random.default_rng(5)
    for _ in range(2000):  # find a drawn game by random play and compare
        ref, state = _RefConnectFour(), game.initial(1)
        while not ref.status()[0]:
            c = int(rng.choice(np.flatnonzero(ref.legal())))
            ref.play(c)
            state = game.apply(state, np.array([c]))
        if ref.status() == (True, 0.0):
            t, v = game.status(state)
            assert t[0] and v[0] == 0.0 and not game.legal(state).any()
            return
    pytest.fail("no drawn game in 2000 random games (seed 5)")


def test_tictactoe_lines_and_draw() -> None:
    game = TicTacToe()

    def play(cells: list[int]) -> np.ndarray:
        s = game.initial(1)
        for c in cells:
            s = game.apply(s, np.array([c]))
        return s

    for line in ((0, 1, 2), (0, 3, 6), (0, 4, 8), (2, 4, 6)):
        others = [c for c in (5, 7, 8, 1, 3) if c not in line][:2]
        s = play([line[0], others[0], line[1], others[1], line[2]])
        assert game.status(s)[0][0] and game.status(s)[1][0] == -1.0, line
    s = play([0, 1, 2, 4, 3, 5, 7, 6, 8])  # X O X / X O O / O X X: no line
    t, v = game.status(s)
    assert t[0] and v[0] == 0.0
    assert game.observe(play([4]))[0, 1, 1, 1] == 1  # the mover's stone is now the opponent's


def test_illegal_moves_are_refused_naming_move_and_board() -> None:
    game = ConnectFour()
    full_col = game.from_moves("000000")
    with pytest.raises(IllegalMoveError, match=r"move 0 is illegal on board 0"):
        game.apply(full_col, np.array([0]))
    with pytest.raises(IllegalMoveError, match=r"move 9"):
        game.apply(game.initial(1), np.array([9]))
    with pytest.raises(IllegalMoveError, match="integers"):
        game.apply(game.initial(2), np.array([0.5, 1.0]))
    won = game.from_moves("3344556")
    with pytest.raises(IllegalMoveError, match="legal: \\[\\]"):
        game.apply(won, np.array([0]))
    before = full_col.copy()
    game.apply(full_col, np.array([1]))
    np.testing.assert_array_equal(full_col, before)  # apply never changes its input


USER_GAME = '''
import numpy as np

class Nim:
    """Take 1 or 2 stones from a pile; whoever takes the last stone wins."""
    name = "nim"
    num_actions = 2
    obs_shape = (8,)

    def __init__(self, pile=7):
        self.pile = pile

    def initial(self, n):
        return np.full((n, 1), self.pile, dtype=np.int64)

    def legal(self, state):
        s = state[:, 0]
        return np.stack([s >= 1, s >= 2], axis=1)

    def apply(self, state, moves):
        moves = np.asarray(moves)
        if not self.legal(state)[np.arange(len(moves)), moves].all():
            raise ValueError(f"illegal {moves}")
        return state - (moves[:, None] + 1)

    def status(self, state):
        over = state[:, 0] == 0
        return over, np.where(over, -1.0, 0.0).astype(np.float32)

    def observe(self, state):
        return (np.arange(8)[None, :] < state).astype(np.uint8)

    def render(self, state, row=0):
        return "o" * int(state[row, 0])
'''


@pytest.fixture()
def user_game_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "fsrl_user_nim.py").write_text(textwrap.dedent(USER_GAME))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "fsrl_user_nim:Nim"
    sys.modules.pop("fsrl_user_nim", None)


def test_user_game_from_a_module(user_game_module: str) -> None:
    game = load_game(user_game_module, pile=4)
    assert game.name == "nim" and game.num_actions == 2

    def take_to_multiple_of_three(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        pile = obs.sum(axis=1)
        return np.where(pile % 3 == 0, 0, pile % 3 - 1)

    # From 4 the first player wins by taking 1 (leaves 3), whatever the second does.
    result = play_out(game, game.initial(16), take_to_multiple_of_three, RandomPlayer(3))
    np.testing.assert_array_equal(result, np.ones(16))
    result = play_out(game, game.initial(16), RandomPlayer(4), take_to_multiple_of_three)
    assert (result == -1).sum() >= 1 and set(result.tolist()) <= {-1.0, 1.0}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:Game", "cannot import module 'no_such_module_xyz'"),
        ("envs.games.core:NoSuchGame", "has no 'NoSuchGame'"),
        ("connect_five", "must be 'package.module:Name'"),
        ("envs.games.players:RandomPlayer", "does not satisfy TwoPlayerGame"),
    ],
)
def test_load_game_errors_name_the_spec(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_game(spec)


def test_alpha_beta_wins_blocks_and_beats_random() -> None:
    game = ConnectFour()
    ab = AlphaBetaPlayer(4)
    win_now = game.from_moves("001122")  # first player to move: 3 wins at once
    assert ab(game.observe(win_now), game.legal(win_now)).tolist() == [3]
    block = game.from_moves("00112")  # second player to move: must block column 3
    assert ab(game.observe(block), game.legal(block)).tolist() == [3]
    first = play_out(game, game.initial(10), ab, RandomPlayer(1))
    second = play_out(game, game.initial(10), RandomPlayer(2), ab)
    assert (first == 1).all() and (second == -1).all()
    with pytest.raises(ValueError, match="depth"):
        AlphaBetaPlayer(0)
