"""The arena: matches between players on fixed seeds, a payoff table, and gated promotion.

A *player* is any callable ``(canonical obs (N, ...), legal mask (N, A)) -> moves (N,)``
(:data:`envs.games.core.Player`); :func:`policy_player` turns an agent's batched greedy
policy (Dict observations ``{"board", "action_mask"}``, as :mod:`envs.games.env` gives
them) into one.

:func:`play_match` plays ``games`` games of A against B: games are played in pairs
from the same opening (``opening_plies`` uniformly random legal moves drawn from
``seed``), A moving first in the even game and second in the odd one, so neither side
profits from the draw of openings and deterministic players still meet varied
positions. Stochastic players are reseeded (``seed(int)``) from ``seed`` before each
side's batch, so a match on the same seed replays exactly.

:func:`~learner.gate.gate` decides promotion (re-exported here with
:func:`~learner.gate.gate_by_return` and :func:`~learner.gate.pfsp_weights`): the
candidate's score against the champion (wins + ½ draws) must reach ``threshold``. :class:`PayoffTable` and
:class:`~learner.ratings.Ratings` keep the history, both as JSON.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from envs.games.core import IllegalMoveError, Player, TwoPlayerGame, load_game, play_out
from learner.gate import GateResult, gate, gate_by_return, pfsp_weights
from learner.ratings import Ratings

logger = logging.getLogger(__name__)

PAYOFF_FORMAT = "fsrl-payoff/1"


@dataclass(frozen=True)
class SideRecord:
    """Wins, draws and losses of one player in the games it moved first (or second)."""

    wins: int = 0
    draws: int = 0
    losses: int = 0

    @property
    def games(self) -> int:
        return self.wins + self.draws + self.losses

    @classmethod
    def of(cls, outcomes: np.ndarray) -> SideRecord:
        return cls(int((outcomes > 0).sum()), int((outcomes == 0).sum()), int((outcomes < 0).sum()))


@dataclass(frozen=True)
class MatchResult:
    """A's games against B: per side and in order (``outcomes`` from A's view, game i
    with A first when i is even)."""

    a: str
    b: str
    game: str
    seed: int
    opening_plies: int
    as_first: SideRecord
    as_second: SideRecord
    outcomes: tuple[float, ...] = field(repr=False)

    @property
    def games(self) -> int:
        return len(self.outcomes)

    @property
    def wins(self) -> int:
        return self.as_first.wins + self.as_second.wins

    @property
    def draws(self) -> int:
        return self.as_first.draws + self.as_second.draws

    @property
    def losses(self) -> int:
        return self.as_first.losses + self.as_second.losses

    def score(self, draw_weight: float = 0.5) -> float:
        """(wins + draw_weight × draws) / games, from A's side."""
        return (self.wins + draw_weight * self.draws) / self.games if self.games else math.nan

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["outcomes"] = [int(o) for o in self.outcomes]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MatchResult:
        try:
            return cls(
                a=str(d["a"]),
                b=str(d["b"]),
                game=str(d["game"]),
                seed=int(d["seed"]),
                opening_plies=int(d["opening_plies"]),
                as_first=SideRecord(**d["as_first"]),
                as_second=SideRecord(**d["as_second"]),
                outcomes=tuple(float(o) for o in d["outcomes"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"match record is malformed ({exc}): {d!r}") from exc


def policy_player(policy: Callable[[Any], np.ndarray]) -> Player:
    """A player from a batched policy on the game env's Dict observations."""

    def play(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.asarray(policy({"board": obs, "action_mask": np.asarray(mask, np.uint8)}))

    return play


def _reseed(player: Player, seed: int) -> None:
    fn = getattr(player, "seed", None)
    if callable(fn):
        fn(int(seed))


def openings(game: TwoPlayerGame, pairs: int, plies: int, seed: int) -> np.ndarray:
    """``pairs`` start positions after ``plies`` random legal moves (none finished)."""
    rng = np.random.default_rng(seed)
    state = game.initial(pairs)
    for _ in range(plies):
        legal = game.legal(state)
        if not legal.any(axis=1).all():
            raise ValueError(f"opening_plies={plies} ends some {game.name} games before play")
        moves = np.argmax(np.where(legal, rng.random(legal.shape), -1.0), axis=1)
        state = game.apply(state, moves)
    if game.status(state)[0].any():
        raise ValueError(f"opening_plies={plies} ends some {game.name} games before play")
    return state


def _as_mover(
    game: TwoPlayerGame, state: np.ndarray, plies: int, first: Player, second: Player
) -> np.ndarray:
    """Results from ``first``'s view, when ``first`` is the side that moved on ply 0."""
    if plies % 2 == 0:
        return play_out(game, state, first, second)
    return -play_out(game, state, second, first)


def play_match(
    game: TwoPlayerGame | str,
    a: Player,
    b: Player,
    games: int,
    seed: int,
    names: tuple[str, str] = ("a", "b"),
    opening_plies: int = 2,
) -> MatchResult:
    """``games`` games (even) of ``a`` against ``b`` on fixed seeds (see the module doc)."""
    g = load_game(game) if isinstance(game, str) else game
    if not isinstance(games, int) or games < 2 or games % 2:
        raise ValueError(
            f"games must be an even int >= 2 (both sides of each opening), got {games!r}"
        )
    if opening_plies < 0:
        raise ValueError(f"opening_plies must be >= 0, got {opening_plies!r}")
    start = openings(g, games // 2, opening_plies, seed)
    try:
        _reseed(a, seed + 1)
        _reseed(b, seed + 2)
        first = _as_mover(g, start, opening_plies, a, b)
        _reseed(a, seed + 3)
        _reseed(b, seed + 4)
        second = -_as_mover(g, start, opening_plies, b, a)
    except IllegalMoveError as exc:
        raise ValueError(
            f"match {names[0]} vs {names[1]}: a player made an illegal move: {exc}"
        ) from exc
    outcomes = np.empty(games, dtype=np.float64)
    outcomes[0::2], outcomes[1::2] = first, second
    return MatchResult(
        a=names[0],
        b=names[1],
        game=g.name,
        seed=int(seed),
        opening_plies=int(opening_plies),
        as_first=SideRecord.of(first),
        as_second=SideRecord.of(second),
        outcomes=tuple(float(o) for o in outcomes),
    )


class PayoffTable:
    """Every match played, by pairing; the last match of a pairing is its current entry.

    Promises: :meth:`to_json` / :meth:`from_json` round-trip; :meth:`rows` gives one row
    per pairing with A's wins/draws/losses as first and as second player.
    """

    def __init__(self) -> None:
        self.matches: dict[tuple[str, str], MatchResult] = {}

    def add(self, result: MatchResult) -> None:
        self.matches[(result.a, result.b)] = result

    def get(self, a: str, b: str) -> MatchResult | None:
        return self.matches.get((a, b))

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for (a, b), m in self.matches.items():
            out.append(
                {
                    "a": a,
                    "b": b,
                    "games": m.games,
                    "score": m.score(),
                    "first": [m.as_first.wins, m.as_first.draws, m.as_first.losses],
                    "second": [m.as_second.wins, m.as_second.draws, m.as_second.losses],
                }
            )
        return out

    def to_json(self) -> str:
        return json.dumps(
            {"format": PAYOFF_FORMAT, "matches": [m.to_dict() for m in self.matches.values()]}
        )

    @classmethod
    def from_json(cls, text: str) -> PayoffTable:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"payoff table is not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != PAYOFF_FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"payoff table format must be {PAYOFF_FORMAT!r}, got {got!r}")
        table = cls()
        for d in data.get("matches", []):
            table.add(MatchResult.from_dict(d))
        return table


class Arena:
    """Plays named players on one game, keeping the payoff table and the ratings.

    Promises: every match goes through :func:`play_match` on the seed given, updates
    :attr:`payoff` and :attr:`ratings` (in game order), and is reproducible.
    """

    def __init__(
        self,
        game: TwoPlayerGame | str,
        games: int = 40,
        opening_plies: int = 2,
        ratings: Ratings | None = None,
        payoff: PayoffTable | None = None,
    ) -> None:
        self.game = load_game(game) if isinstance(game, str) else game
        self.games = int(games)
        self.opening_plies = int(opening_plies)
        self.ratings = ratings or Ratings()
        self.payoff = payoff or PayoffTable()

    def match(self, a: str, pa: Player, b: str, pb: Player, seed: int) -> MatchResult:
        result = play_match(
            self.game, pa, pb, self.games, seed, names=(a, b), opening_plies=self.opening_plies
        )
        self.payoff.add(result)
        self.ratings.record(a, b, result.outcomes)
        logger.info(
            "%s vs %s: %d-%d-%d (score %.3f)",
            a,
            b,
            result.wins,
            result.draws,
            result.losses,
            result.score(),
        )
        return result

    def challenge(
        self,
        candidate: str,
        player: Player,
        champion: tuple[str, Player] | None,
        pool: Sequence[tuple[str, Player]] = (),
        seed: int = 0,
        threshold: float = 0.55,
    ) -> GateResult:
        """Play ``candidate`` against the champion (gated) and each pool member (rated).

        With no champion yet the candidate passes (it becomes the first champion)."""
        self.ratings.add(candidate)
        for i, (name, opponent) in enumerate(pool):
            if champion is None or name != champion[0]:
                self.match(candidate, player, name, opponent, seed + 1000 * (i + 1))
        if champion is None:
            return GateResult(True, None, 0, threshold=threshold, reason="no champion yet")
        result = self.match(candidate, player, champion[0], champion[1], seed)
        return gate(result, threshold)


__all__ = [
    "PAYOFF_FORMAT",
    "Arena",
    "GateResult",
    "MatchResult",
    "PayoffTable",
    "SideRecord",
    "gate",
    "gate_by_return",
    "openings",
    "pfsp_weights",
    "play_match",
    "policy_player",
]
