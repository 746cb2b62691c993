"""Evaluation protocols that can show a great agent: what a game counts, over fixed seeds.

A protocol plays ``games`` greedy games on the seeds ``seed + i`` through
:func:`learner.evaluation.play_greedy` (batched boards where the env has a batched
core) with a step cap far above any training episode, and reports what the game
counts rather than the shaped training return:

* **Tetris** (placement or per-move): lines cleared per game — mean, median, min, max —
  placements per game, and how many games the cap stopped (``capped_games``: their
  lines are a lower bound). The default cap is 1,000,000 steps (placements).
* **Snake**: apples eaten per game — mean, median, min, max — the share of games that
  filled the board (``fill_share``; the env's ``info["win"]``), steps per apple (all
  steps over all apples, and the median of the per-game figure), games ended by
  starvation, and games the cap stopped.
* **GoPiGo** (simulated or real): the share of episodes that reach the time limit
  without a bump (``bump_free_share``: an episode ends early only on a bump), and the
  return per episode (10 per metre driven forward, -5 for the bump).
* anything else: the return per game (mean, median, min, max).

``python bench/agent_eval.py RUN_DIR`` runs the protocol of a run's env on its final
policy; :func:`run_protocol` is the function behind it (and behind the tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from actors.envs import env_section
from learner.evaluation import REACHED_LIMIT, Episodes, eval_step_limit, play_greedy

#: Step cap of a protocol game unless told otherwise (the issue's "at least 1M placements").
DEFAULT_MAX_STEPS = 1_000_000
#: Games per protocol unless told otherwise.
DEFAULT_GAMES = 20


def protocol_name(env_cfg: Any) -> str:
    """``tetris``, ``snake``, ``gopigo`` or ``return``, from the env id."""
    env_id = str(env_section(env_cfg).id).lower()
    if "tetris" in env_id:
        return "tetris"
    if "snake" in env_id:
        return "snake"
    if "gopigo" in env_id:
        return "gopigo"
    return "return"


def _stats(values: np.ndarray, unit: str) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {
        f"mean_{unit}": float(v.mean()),
        f"median_{unit}": float(np.median(v)),
        f"min_{unit}": float(v.min()),
        f"max_{unit}": float(v.max()),
    }


def tetris_figures(rec: Episodes) -> dict[str, Any]:
    """Lines per game (mean/median/min/max, and each game's), placements per game, capped games."""
    lines = rec.scores("lines")
    return {
        "unit": "lines",
        **_stats(lines, "lines"),
        "lines_per_game": [int(x) for x in lines],
        "placements_per_game": [int(x) for x in rec.lengths],
        "capped_games": int(rec.capped.sum()),
        "lines_per_placement": float(lines.sum() / max(1, int(rec.lengths.sum()))),
    }


def snake_figures(rec: Episodes) -> dict[str, Any]:
    """Apples per game, the share of games that filled the board, steps per apple."""
    apples = rec.scores("apples")
    wins = rec.totals.get("win", np.zeros_like(apples)) > 0
    starved = rec.totals.get("starved", np.zeros_like(apples)) > 0
    eaten = np.maximum(apples, 1.0)
    return {
        "unit": "apples",
        **_stats(apples, "apples"),
        "apples_per_game": [int(x) for x in apples],
        "fill_share": float(wins.mean()),
        "filled_games": int(wins.sum()),
        "steps_per_apple": float(rec.lengths.sum() / max(1.0, float(apples.sum()))),
        "median_steps_per_apple": float(np.median(rec.lengths / eaten)),
        "starved_games": int(starved.sum()),
        "capped_games": int(rec.capped.sum()),
        "steps_per_game": [int(x) for x in rec.lengths],
    }


def gopigo_figures(rec: Episodes) -> dict[str, Any]:
    """The share of episodes that ran to the time limit (never bumped), and the returns."""
    bumped = rec.totals.get("bumped", np.zeros(len(rec.returns))) > 0
    return {
        "unit": "return",
        **_stats(rec.returns, "return"),
        "bump_free_share": float(rec.scores(REACHED_LIMIT).mean()),
        "bumped_episodes": int(bumped.sum()),
        "capped_games": int(rec.capped.sum()),
        "steps_per_game": [int(x) for x in rec.lengths],
        "returns_per_game": [round(float(x), 3) for x in rec.returns],
    }


def return_figures(rec: Episodes) -> dict[str, Any]:
    """The return per game (mean/median/min/max), for envs that count nothing else."""
    return {
        "unit": "return",
        **_stats(rec.returns, "return"),
        "capped_games": int(rec.capped.sum()),
    }


FIGURES: dict[str, Callable[[Episodes], dict[str, Any]]] = {
    "tetris": tetris_figures,
    "snake": snake_figures,
    "gopigo": gopigo_figures,
    "return": return_figures,
}


def run_protocol(
    act: Callable[[Any], np.ndarray],
    env_cfg: Any,
    games: int = DEFAULT_GAMES,
    seed: int | None = None,
    max_steps: int | None = None,
    *,
    batched: bool = True,
) -> dict[str, Any]:
    """Play the env's protocol with ``act`` (batched observations in, actions out).

    ``seed`` defaults to the env section's ``eval_seed``; ``max_steps`` to
    :data:`DEFAULT_MAX_STEPS` for the games (Tetris, Snake) and to the env's own
    evaluation limit for the rest (the robot's time limit is what its protocol counts
    on). Returns one JSON-able dict:
    ``protocol``, ``games``, ``seed``, ``max_steps``, ``wall_s``, ``steps_per_s``,
    ``mean_return`` and the protocol's figures (see the module docstring).
    """
    env = env_section(env_cfg)
    first = int(env.eval_seed) if seed is None else int(seed)
    name = protocol_name(env)
    if max_steps is None:
        limit = DEFAULT_MAX_STEPS if name in ("tetris", "snake") else eval_step_limit(env)
    else:
        limit = int(max_steps)
    rec = play_greedy(act, env, int(games), first, limit, batched=batched)
    steps = int(rec.lengths.sum())
    return {
        "protocol": name,
        "env_id": str(env.id),
        "games": int(games),
        "seed": first,
        "max_steps": limit,
        "wall_s": round(rec.wall_s, 3),
        "steps": steps,
        "steps_per_s": round(steps / max(rec.wall_s, 1e-9), 1),
        "mean_return": float(rec.returns.mean()),
        **FIGURES[name](rec),
    }


__all__ = [
    "DEFAULT_GAMES",
    "DEFAULT_MAX_STEPS",
    "FIGURES",
    "gopigo_figures",
    "protocol_name",
    "return_figures",
    "run_protocol",
    "snake_figures",
    "tetris_figures",
]
