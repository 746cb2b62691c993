"""Promotion gates and opponent weights: the decisions made from arena results.

:func:`gate` — a candidate becomes champion only with a score (wins + ½ draws) / games
≥ ``threshold`` (0.55) against the current champion; :func:`gate_by_return` — the
single-agent variant on evaluation returns; :func:`pfsp_weights` (from
:mod:`actors.pool`, where self-play actors use it) — how often to draw each pool
opponent (towards those the learner still loses to).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from actors.pool import pfsp_weights


@dataclass(frozen=True)
class GateResult:
    """Whether a candidate may become champion, and the evidence.

    ``win_rate`` is the candidate's score against the champion (two-player games;
    None for :func:`gate_by_return`); ``games`` the games behind it.
    """

    passed: bool
    win_rate: float | None
    games: int
    threshold: float | None = None
    candidate_return: float | None = None
    champion_return: float | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gate(
    candidate_vs_champion_results: Any,
    threshold: float = 0.55,
    draw_weight: float = 0.5,
) -> GateResult:
    """Pass when the candidate's score (wins + ``draw_weight`` × draws) / games against
    the champion is ≥ ``threshold``. Takes a :class:`~learner.arena.MatchResult` (the
    candidate as A) or the game outcomes (+1/0/−1) from the candidate's side."""
    if not (isinstance(threshold, int | float) and 0.0 < threshold <= 1.0):
        raise ValueError(f"gate threshold must lie in (0, 1], got {threshold!r}")
    if not 0.0 <= draw_weight <= 1.0:
        raise ValueError(f"draw_weight must lie in [0, 1], got {draw_weight!r}")
    if hasattr(candidate_vs_champion_results, "outcomes"):  # a learner.arena.MatchResult
        outcomes = np.asarray(candidate_vs_champion_results.outcomes, dtype=np.float64)
    else:
        outcomes = np.asarray(list(candidate_vs_champion_results), dtype=np.float64)
    if outcomes.size == 0:
        raise ValueError("gate needs at least one game against the champion, got none")
    if not np.isin(outcomes, (-1.0, 0.0, 1.0)).all():
        bad = outcomes[~np.isin(outcomes, (-1.0, 0.0, 1.0))][:3].tolist()
        raise ValueError(f"game outcomes must be +1, 0 or -1, got {bad}")
    wins, draws = int((outcomes > 0).sum()), int((outcomes == 0).sum())
    rate = (wins + draw_weight * draws) / outcomes.size
    passed = rate >= threshold - 1e-12
    reason = (
        f"score {rate:.3f} over {outcomes.size} games "
        f"{'>=' if passed else '<'} threshold {threshold:.3f}"
    )
    return GateResult(passed, rate, int(outcomes.size), threshold=float(threshold), reason=reason)


def gate_by_return(
    candidate_mean: float, champion_mean: float | None, margin: float = 0.0
) -> GateResult:
    """Single-agent gate: pass when the candidate's evaluation mean return exceeds the
    champion's by more than ``margin`` (or there is no champion yet)."""
    if not math.isfinite(candidate_mean):
        raise ValueError(f"candidate mean return must be finite, got {candidate_mean!r}")
    if champion_mean is None:
        return GateResult(
            True, None, 0, candidate_return=float(candidate_mean), reason="no champion yet"
        )
    if not math.isfinite(champion_mean):
        raise ValueError(f"champion mean return must be finite or None, got {champion_mean!r}")
    passed = candidate_mean > champion_mean + margin
    reason = (
        f"return {candidate_mean:.3f} {'>' if passed else '<='} champion "
        f"{champion_mean:.3f} + margin {margin:g}"
    )
    return GateResult(
        passed,
        None,
        0,
        candidate_return=float(candidate_mean),
        champion_return=float(champion_mean),
        reason=reason,
    )


__all__ = ["GateResult", "gate", "gate_by_return", "pfsp_weights"]
