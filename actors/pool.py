"""A self-play actor's opponent pool: past versions, and how often each is drawn.

Promises: :class:`OpponentPool` keeps at most ``size`` past versions (the newest; a
version joins when it is at least ``interval_versions`` newer than the newest member),
each as a greedy player built by the agent from the version's own weights; it draws an
opponent by :func:`pfsp_weights` over the current version's running score against
each member (or uniformly), and forgets nothing else. :func:`pfsp_weights` is
AlphaStar's prioritised fictitious self-play weighting.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

WEIGHTINGS = ("pfsp", "uniform")


def pfsp_weights(
    scores: Mapping[str, float], power: float = 2.0, floor: float = 0.02
) -> dict[str, float]:
    """Prioritised fictitious self-play (AlphaStar): the chance of drawing each pool
    opponent, ∝ ``(1 - score) ** power`` where ``score`` is the learner's score against
    it (NaN or missing: 0.5), at least ``floor`` before normalising; sums to 1."""
    if not scores:
        raise ValueError("pfsp_weights needs at least one opponent")
    if power < 0 or not 0.0 <= floor < 1.0:
        raise ValueError(f"power must be >= 0 and floor in [0, 1), got {power!r}, {floor!r}")
    raw = {}
    for name, score in scores.items():
        x = 0.5 if score is None or not math.isfinite(score) else min(1.0, max(0.0, score))
        raw[name] = max(floor, (1.0 - x) ** power)
    total = sum(raw.values())
    return {name: w / total for name, w in raw.items()}


@dataclass
class PoolMember:
    """One past version: its player, and the current version's running score against it."""

    version: int
    player: Callable[[Any], np.ndarray]
    score: float = 0.5  # exponential moving average of (win 1, draw ½, loss 0); prior ½
    games: int = 0


class OpponentPool:
    """Past versions to play against (see the module doc).

    ``make_player(tensors, metadata)`` turns a version's weights into a greedy policy on
    the game's Dict observations (``agents.core.Agent.evaluation_policy``); ``score_rate``
    is the step of the running score per game (recent games count most, since the
    current version keeps changing).
    """

    def __init__(
        self,
        make_player: Callable[[Any, Any], Callable[[Any], np.ndarray]],
        size: int,
        interval_versions: int,
        weighting: str = "pfsp",
        pfsp_power: float = 2.0,
        score_rate: float = 0.05,
    ) -> None:
        if size < 1 or interval_versions < 1:
            raise ValueError(
                f"pool size and interval_versions must be >= 1, got {size!r}, {interval_versions!r}"
            )
        if weighting not in WEIGHTINGS:
            raise ValueError(f"pool weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        self.make_player = make_player
        self.size = int(size)
        self.interval = int(interval_versions)
        self.weighting = weighting
        self.power = float(pfsp_power)
        self.rate = float(score_rate)
        self.members: list[PoolMember] = []

    def __len__(self) -> int:
        return len(self.members)

    def offer(self, version: int, tensors: Any, metadata: Any) -> bool:
        """Add ``version`` if it is ``interval_versions`` past the newest member; True if added."""
        if version < 0 or (self.members and version < self.members[-1].version + self.interval):
            return False
        try:
            player = self.make_player(tensors, metadata)
        except (ValueError, RuntimeError) as exc:  # a misfit version never plays
            logger.warning("version %d not added to the opponent pool: %s", version, exc)
            return False
        self.members.append(PoolMember(int(version), player))
        if len(self.members) > self.size:
            self.members.pop(0)
        return True

    def weights(self) -> np.ndarray:
        """The chance of drawing each member, in member order."""
        if self.weighting == "uniform":
            return np.full(len(self.members), 1.0 / len(self.members))
        w = pfsp_weights({str(m.version): m.score for m in self.members}, self.power)
        return np.array([w[str(m.version)] for m in self.members])

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` member versions drawn by :meth:`weights`."""
        versions = np.array([m.version for m in self.members], dtype=np.int64)
        return rng.choice(versions, size=n, p=self.weights())

    def member(self, version: int) -> PoolMember | None:
        for m in self.members:
            if m.version == version:
                return m
        return None

    def record(self, version: int, outcome: float) -> None:
        """A finished game of the current version against member ``version`` (+1/0/−1)."""
        m = self.member(version)
        if m is None:  # it left the pool while the game was played
            return
        m.games += 1
        m.score += self.rate * ((outcome + 1.0) / 2.0 - m.score)

    def summary(self) -> dict[str, dict[str, float]]:
        w = self.weights() if self.members else np.zeros(0)
        return {
            str(m.version): {"score": m.score, "games": m.games, "weight": float(p)}
            for m, p in zip(self.members, w, strict=False)
        }


__all__ = ["WEIGHTINGS", "OpponentPool", "PoolMember", "pfsp_weights"]
