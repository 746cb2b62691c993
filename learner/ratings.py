"""Ratings of players (weight versions) through OpenSkill, kept as JSON.

OpenSkill's Plackett-Luce model (Weng & Lin 2011, the open Bayesian cousin of
TrueSkill) keeps a ``mu`` and a ``sigma`` per player; the conservative ``ordinal``
(``mu - 3 sigma``) is what tables sort by. Every game of a
:class:`~learner.arena.MatchResult` is one 1-v-1 update, applied in the match's
game order, so the same matches give the same ratings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openskill.models import PlackettLuce

logger = logging.getLogger(__name__)

RATINGS_FORMAT = "fsrl-ratings/1"


@dataclass(frozen=True)
class Rating:
    """One player's rating: ``mu``, ``sigma``, ``ordinal = mu - 3 sigma`` and games rated."""

    name: str
    mu: float
    sigma: float
    games: int

    @property
    def ordinal(self) -> float:
        return self.mu - 3.0 * self.sigma

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mu": self.mu,
            "sigma": self.sigma,
            "ordinal": self.ordinal,
            "games": self.games,
        }


class Ratings:
    """A rating per player name, updated game by game, saved and loaded as JSON.

    Promises: a new name starts at the model's prior (mu 25, sigma 25/3); updating
    with the same outcomes in the same order gives the same numbers; :meth:`to_json`
    and :meth:`from_json` round-trip exactly (no pickle).
    """

    def __init__(self) -> None:
        self.model = PlackettLuce()
        self._ratings: dict[str, Any] = {}
        self._games: dict[str, int] = {}

    def _get(self, name: str) -> Any:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a rated player needs a non-empty name, got {name!r}")
        if name not in self._ratings:
            self._ratings[name] = self.model.rating(name=name)
            self._games[name] = 0
        return self._ratings[name]

    def add(self, name: str) -> Rating:
        """Make sure ``name`` is rated (at the prior if new); returns its rating."""
        self._get(name)
        return self[name]

    def record_game(self, a: str, b: str, outcome: float) -> None:
        """One game of ``a`` against ``b``: ``outcome`` +1 (a won), 0 (draw), −1 (b won)."""
        if outcome not in (-1, 0, 1):
            raise ValueError(f"outcome must be +1, 0 or -1 from {a!r}'s side, got {outcome!r}")
        if a == b:
            raise ValueError(f"a player cannot be rated against itself ({a!r})")
        ra, rb = self._get(a), self._get(b)
        ranks: list[float] = {1: [0.0, 1.0], 0: [0.0, 0.0], -1: [1.0, 0.0]}[int(outcome)]
        [[na], [nb]] = self.model.rate([[ra], [rb]], ranks=ranks)
        self._ratings[a], self._ratings[b] = na, nb
        self._games[a] += 1
        self._games[b] += 1

    def record(self, a: str, b: str, outcomes: Iterable[float]) -> None:
        """Every game of a match, in order (outcomes from ``a``'s side)."""
        for outcome in outcomes:
            self.record_game(a, b, outcome)

    def __contains__(self, name: object) -> bool:
        return name in self._ratings

    def __getitem__(self, name: str) -> Rating:
        if name not in self._ratings:
            raise KeyError(f"no rating for {name!r} (rated: {sorted(self._ratings)})")
        r = self._ratings[name]
        return Rating(name, float(r.mu), float(r.sigma), self._games[name])

    def table(self) -> list[Rating]:
        """Every rating, best ``ordinal`` first (ties: name)."""
        return sorted((self[n] for n in self._ratings), key=lambda r: (-r.ordinal, r.name))

    def to_json(self) -> str:
        players = {n: {"mu": r.mu, "sigma": r.sigma, "games": r.games} for n, r in self.items()}
        return json.dumps({"format": RATINGS_FORMAT, "model": "PlackettLuce", "players": players})

    def items(self) -> list[tuple[str, Rating]]:
        return [(n, self[n]) for n in self._ratings]

    @classmethod
    def from_json(cls, text: str) -> Ratings:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"ratings are not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != RATINGS_FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"ratings format must be {RATINGS_FORMAT!r}, got {got!r}")
        out = cls()
        for name, p in data.get("players", {}).items():
            try:
                mu, sigma, games = float(p["mu"]), float(p["sigma"]), int(p["games"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"rating of {name!r} is malformed ({p!r}): {exc}") from exc
            out._ratings[name] = out.model.create_rating([mu, sigma], name=name)
            out._games[name] = games
        return out

    def save(self, path: str | Path) -> None:
        """Write the JSON next to the run's other files (replacing it atomically)."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> Ratings:
        return cls.from_json(Path(path).read_text())


__all__ = ["RATINGS_FORMAT", "Rating", "Ratings"]
