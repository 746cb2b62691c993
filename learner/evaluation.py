"""Greedy evaluation on fixed seeds, for any agent.

:func:`play_greedy` plays ``episodes`` episodes at once (seeds ``seed, seed+1, …``) with
batched calls of the agent's greedy policy (``AgentLearner.greedy``) and returns an
:class:`Episodes` record: returns, lengths, whether the step cap stopped an episode,
and what the env counted (each numeric ``info`` value at the episode's last step:
Tetris ``lines``/``pieces``, Snake ``apples``/``win``). Envs with a batched game core
(fsrl's Tetris and Snake: their vector env exposes ``game``) are played as one batch of
boards in which only the unfinished ones are stepped, so a long Tetris game costs a
batched candidate-feature call per placement instead of one per board; board i is
seeded ``seed + i`` exactly as a single env's ``reset(seed=seed + i)``, so both paths
play the same games. Other envs get one ``gymnasium.make`` env per episode.

The step cap is :func:`eval_step_limit`: ``env.eval_max_episode_steps``, else the
training limit (``env.max_episode_steps``, else the registered one). ``env.eval_metric``
says what an episode scores (:meth:`Episodes.scores`): its return, or an ``info`` total.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from actors.envs import (
    env_section,
    has_own_vector_env,
    make_single_env,
    make_vector_env,
    spec_of,
)

#: The score of an episode that ran to the step limit (1) or ended before it (0): for the
#: robot, whose episodes end early only on a bump, the bump-free share.
REACHED_LIMIT = "reached_limit"
#: A loop guard for envs with no step limit at all (none registered, none configured).
UNLIMITED_GUARD_STEPS = 1_000_000


def stack_observations(observations: list[Any]) -> Any:
    """A batch from single observations (arrays, or dicts of arrays)."""
    first = observations[0]
    if isinstance(first, Mapping):
        return {k: np.stack([np.asarray(o[k]) for o in observations]) for k in first}
    return np.stack([np.asarray(o) for o in observations])


def eval_step_limit(env_cfg: Any) -> int | None:
    """Steps after which an evaluation episode is cut: ``env.eval_max_episode_steps``, else
    ``env.max_episode_steps``, else the id's registered ``max_episode_steps`` (None: none)."""
    env = env_section(env_cfg)
    if env.eval_max_episode_steps is not None:
        return int(env.eval_max_episode_steps)
    if env.max_episode_steps is not None:
        return int(env.max_episode_steps)
    registered = spec_of(env).max_episode_steps
    return None if registered is None else int(registered)


@dataclass
class Episodes:
    """What ``n`` evaluation episodes did (episode i was seeded ``seed + i``).

    ``totals[key][i]`` is ``info[key]`` at episode i's last step, for every ``info`` value
    that is a number (episode totals such as Tetris ``lines``, Snake ``apples``/``win``).
    ``capped[i]``: the step cap ended it (neither a termination nor the env's own
    truncation came first).
    """

    returns: np.ndarray
    lengths: np.ndarray
    capped: np.ndarray
    totals: dict[str, np.ndarray] = field(default_factory=dict)
    wall_s: float = 0.0
    step_limit: int | None = None

    def scores(self, metric: str = "return") -> np.ndarray:
        """Per-episode score: the return, :data:`REACHED_LIMIT` (1 for an episode the step
        limit ended, else 0) or ``totals[metric]`` (ValueError naming the keys)."""
        if metric == "return":
            return self.returns
        if metric == REACHED_LIMIT:
            return self.capped.astype(np.float64)
        if metric not in self.totals:
            raise ValueError(
                f"env.eval_metric={metric!r} is not a number the env reports in info at an "
                f"episode's end; it reports {sorted(self.totals)} (or use 'return' or "
                f"{REACHED_LIMIT!r})"
            )
        return self.totals[metric].astype(np.float64)

    def summary(self, metric: str = "return") -> dict[str, float]:
        """mean / median / min / max of ``metric`` per episode, as floats."""
        s = self.scores(metric)
        return {
            f"mean_{metric}": float(np.mean(s)),
            f"median_{metric}": float(np.median(s)),
            f"min_{metric}": float(np.min(s)),
            f"max_{metric}": float(np.max(s)),
        }


def _numeric_items(info: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in info.items():
        if k.startswith("_"):
            continue
        arr = np.asarray(v)
        if arr.ndim == 0 and (arr.dtype.kind in "biuf"):
            out[k] = float(arr)
    return out


def _batched_game(env_cfg: Any, episodes: int) -> tuple[Any, Any] | None:
    """(vector env, its game) when the id's vector env is one of fsrl's batched games."""
    if not has_own_vector_env(env_cfg):
        return None
    vec = make_vector_env(env_cfg, episodes)
    game = getattr(vec.unwrapped, "game", None)
    if game is None or not all(hasattr(game, m) for m in ("observe", "step", "check_actions")):
        vec.close()
        return None
    return vec, game


def _take_rows(obs: Any, keep: np.ndarray) -> Any:
    if isinstance(obs, Mapping):
        return {k: v[keep] for k, v in obs.items()}
    return obs[keep]


def _play_batched(
    act: Callable[[Any], np.ndarray], vec: Any, game: Any, episodes: int, seed: int, limit: int
) -> Episodes:
    vec.reset(seed=seed)
    returns = np.zeros(episodes, dtype=np.float64)
    lengths = np.zeros(episodes, dtype=np.int64)
    capped = np.zeros(episodes, dtype=bool)
    totals: dict[str, np.ndarray] = {}
    live = np.arange(episodes, dtype=np.int64)
    obs = game.observe(live)
    while live.size:
        actions = game.check_actions(np.asarray(act(obs)).reshape(live.size), live.size)
        reward, terminated, info = game.step(live, actions)
        returns[live] += reward
        lengths[live] += 1
        cut = (lengths[live] >= limit) & ~terminated
        done = terminated | cut
        if done.any():
            ended = live[done]
            capped[ended] = cut[done]
            for key, val in info.items():
                val = np.asarray(val)
                if val.ndim == 1 and val.dtype.kind in "biuf":
                    totals.setdefault(key, np.zeros(episodes, dtype=np.float64))[ended] = val[done]
            live = live[~done]
            if not live.size:
                break
            obs = game.observe(live)
        else:
            obs = game.observe(live)
    return Episodes(returns, lengths, capped, totals)


def _play_single(
    act: Callable[[Any], np.ndarray], env_cfg: Any, episodes: int, seed: int, limit: int | None
) -> Episodes:
    section = dataclasses.replace(env_section(env_cfg), max_episode_steps=limit)
    envs = [make_single_env(section) for _ in range(episodes)]
    returns = np.zeros(episodes, dtype=np.float64)
    lengths = np.zeros(episodes, dtype=np.int64)
    capped = np.zeros(episodes, dtype=bool)
    totals: dict[str, np.ndarray] = {}
    guard = UNLIMITED_GUARD_STEPS if limit is None else limit
    try:
        obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
        active = list(range(episodes))
        while active:
            actions = np.asarray(act(stack_observations([obs[i] for i in active])))
            still = []
            for i, a in zip(active, actions, strict=True):
                o, r, terminated, truncated, info = envs[i].step(a.item() if a.ndim == 0 else a)
                returns[i] += float(r)
                lengths[i] += 1
                obs[i] = o
                at_cap = lengths[i] >= guard and not terminated
                if terminated or truncated or at_cap:
                    capped[i] = at_cap
                    for key, val in _numeric_items(info).items():
                        totals.setdefault(key, np.zeros(episodes, dtype=np.float64))[i] = val
                else:
                    still.append(i)
            active = still
        return Episodes(returns, lengths, capped, totals)
    finally:
        for env in envs:
            env.close()


def play_greedy(
    act: Callable[[Any], np.ndarray],
    env_cfg: Any,
    episodes: int,
    seed: int,
    max_steps: int | None = None,
    *,
    batched: bool = True,
) -> Episodes:
    """Play ``episodes`` episodes (seeds ``seed + i``) with ``act`` until each ends or
    reaches ``max_steps`` (default :func:`eval_step_limit`); see :class:`Episodes`.
    ``batched=False`` plays one ``gymnasium.make`` env per episode even where the env has
    a batched core (the same games: the tests compare both)."""
    if int(episodes) < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes!r}")
    limit = eval_step_limit(env_cfg) if max_steps is None else int(max_steps)
    if limit is not None and limit < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps!r}")
    started = time.perf_counter()
    found = _batched_game(env_cfg, int(episodes)) if batched else None
    if found is not None:
        vec, game = found
        try:
            rec = _play_batched(
                act, vec, game, int(episodes), int(seed), limit or UNLIMITED_GUARD_STEPS
            )
        finally:
            vec.close()
    else:
        rec = _play_single(act, env_cfg, int(episodes), int(seed), limit)
    rec.wall_s = time.perf_counter() - started
    rec.step_limit = limit
    return rec


def evaluate_greedy(
    act: Callable[[Any], np.ndarray],
    env_cfg: Any,
    episodes: int,
    seed: int,
    max_steps: int | None = None,
) -> np.ndarray:
    """Returns of ``episodes`` episodes with seeds ``seed + i`` (order kept)."""
    return play_greedy(act, env_cfg, episodes, seed, max_steps).returns


__all__ = [
    "REACHED_LIMIT",
    "Episodes",
    "eval_step_limit",
    "evaluate_greedy",
    "play_greedy",
    "stack_observations",
]
