"""Steps per second of fsrl's Tetris and Snake next to their peers, in one process.

Peers (the ``bench`` extra): ``tetris-gymnasium`` (per-move env and its
``GroupedActionsObservations`` placement wrapper) and ``gym-snake``. Every figure is the
median of ``--repeats`` timed windows of ``--seconds``; each round times every case once,
a peer right before the cases compared with it, and a ratio is the median over rounds of
ours / peer within the round, so both sides see the same machine load. All agents play uniformly random
(legal, where a mask exists) actions, drawn the same way for us and the peer.
Single envs come from ``gym.make`` (with the wrappers it adds); the ``_raw`` per-move
rows time the env classes alone (``.unwrapped``), ours and the peer's alike.

    python bench/env_steps.py                       # table
    python bench/env_steps.py --json out/envs.json  # + the same figures as JSON
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import gymnasium as gym  # noqa: E402

import envs.snake  # noqa: E402
import envs.tetris  # noqa: E402

logger = logging.getLogger(__name__)

Stepper = Callable[[], int]  # runs one step (or one batched step), returns env steps taken


def _rate(step: Stepper, seconds: float) -> float:
    for _ in range(3):  # warm-up
        step()
    n = 0
    t0 = time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        for _ in range(8):
            n += step()
    return n / elapsed


def masked_random_stepper(env: gym.Env) -> Stepper:
    """Step ``env`` with uniformly random legal actions from ``info["action_mask"]``,
    resetting at episode ends. Ours and the peer's placement envs run through this same
    closure, so both sides pay the same driver cost."""
    rng = np.random.default_rng(0)
    state = {"info": env.reset(seed=0)[1]}

    def step() -> int:
        legal = np.flatnonzero(state["info"]["action_mask"])
        _, _, term, trunc, state["info"] = env.step(int(legal[rng.integers(legal.size)]))
        if term or trunc:
            state["info"] = env.reset()[1]
        return 1

    return step


# ------------------------------------------------------------------ our envs
def ours_single_placement(features: bool) -> Stepper:
    env = gym.make("fsrl/TetrisPlacement-v0", candidate_features=features)
    return masked_random_stepper(env)


def ours_batched_placement(num_envs: int, features: bool) -> Stepper:
    vec = envs.tetris.make_vector(
        "fsrl/TetrisPlacement-v0", num_envs=num_envs, seed=0, candidate_features=features
    )
    rng = np.random.default_rng(0)
    state = {"info": vec.reset()[1]}

    def step() -> int:
        mask = state["info"]["action_mask"]
        actions = np.argmax(rng.random(mask.shape) * mask, axis=1)  # uniform among legal
        state["info"] = vec.step(actions)[4]
        return num_envs

    return step


def ours_single(env_id: str, num_actions: int, raw: bool = False) -> Stepper:
    """``gym.make`` (TimeLimit, OrderEnforcing, PassiveEnvChecker) or, with ``raw``,
    the env class alone."""
    env = gym.make(env_id)
    if raw:
        env = env.unwrapped
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, num_actions, 4096).tolist()
    state = {"i": 0}

    def step() -> int:
        state["i"] = (state["i"] + 1) % len(actions)
        _, _, term, trunc, _ = env.step(actions[state["i"]])
        if term or trunc:
            env.reset()
        return 1

    return step


def ours_batched(env_id: str, num_envs: int, num_actions: int) -> Stepper:
    vec = envs.tetris.make_vector(env_id, num_envs=num_envs, seed=0)
    vec.reset()
    rng = np.random.default_rng(0)
    pool = [rng.integers(0, num_actions, num_envs) for _ in range(16)]
    state = {"i": 0}

    def step() -> int:
        state["i"] = (state["i"] + 1) % len(pool)
        vec.step(pool[state["i"]])
        return num_envs

    return step


# ------------------------------------------------------------------ peers
def peer_tetris_moves(raw: bool = False) -> Stepper:
    """``gym.make`` (OrderEnforcing, PassiveEnvChecker) or, with ``raw``, the class."""
    import tetris_gymnasium.envs  # noqa: F401  (registers the id)

    env = gym.make("tetris_gymnasium/Tetris")
    if raw:
        env = env.unwrapped
    env.reset(seed=0)
    num_actions = int(getattr(env.action_space, "n", 8))
    actions = np.random.default_rng(0).integers(0, num_actions, 4096).tolist()
    state = {"i": 0}

    def step() -> int:
        state["i"] = (state["i"] + 1) % len(actions)
        _, _, term, trunc, _ = env.step(actions[state["i"]])
        if term or trunc:
            env.reset()
        return 1

    return step


def peer_tetris_grouped() -> Stepper:
    from tetris_gymnasium.wrappers.grouped import GroupedActionsObservations

    env = GroupedActionsObservations(gym.make("tetris_gymnasium/Tetris"))
    return masked_random_stepper(env)


def peer_snake() -> Stepper:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from gym_snake.envs.snake_env import SnakeEnv

    env = SnakeEnv(dim=10)
    np.random.seed(0)  # gym-snake draws from numpy's global generator
    env.reset()
    actions = np.random.default_rng(0).integers(0, 4, 4096).tolist()
    state = {"i": 0}

    def step() -> int:
        state["i"] = (state["i"] + 1) % len(actions)
        _, _, done, _ = env.step(actions[state["i"]])
        if done:
            env.reset()
        return 1

    return step


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one window")
    parser.add_argument("--repeats", type=int, default=3, help="windows per figure (median)")
    parser.add_argument("--tetris-batch", type=int, default=1024, help="boards per batched step")
    parser.add_argument("--snake-batch", type=int, default=4096, help="boards per batched step")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.repeats < 1:
        parser.error(
            f"--seconds must be > 0 and --repeats >= 1 (got {args.seconds}, {args.repeats})"
        )

    tb, sb = args.tetris_batch, args.snake_batch
    # Each peer comes right before the cases compared with it, so that a round's
    # windows of ours and of the peer are close in time (same machine load).
    cases: dict[str, Callable[[], Stepper]] = {
        "peer_tetris_gymnasium_grouped": peer_tetris_grouped,
        "tetris_placement_single": lambda: ours_single_placement(False),
        "tetris_placement_features_single": lambda: ours_single_placement(True),
        "tetris_placement_batched": lambda: ours_batched_placement(tb, False),
        "tetris_placement_features_batched": lambda: ours_batched_placement(tb, True),
        "peer_tetris_gymnasium_moves": peer_tetris_moves,
        "tetris_moves_single": lambda: ours_single("fsrl/Tetris-v0", 7),
        "tetris_moves_batched": lambda: ours_batched("fsrl/Tetris-v0", tb, 7),
        "peer_tetris_gymnasium_moves_raw": lambda: peer_tetris_moves(raw=True),
        "tetris_moves_single_raw": lambda: ours_single("fsrl/Tetris-v0", 7, raw=True),
        "peer_gym_snake": peer_snake,
        "snake_single": lambda: ours_single("fsrl/Snake-v0", 4),
        "snake_batched": lambda: ours_batched("fsrl/Snake-v0", sb, 4),
    }
    steppers: dict[str, Stepper] = {}
    errors: dict[str, str] = {}
    for name, build in cases.items():
        try:
            steppers[name] = build()
        except Exception as exc:  # a peer that cannot be installed or run is reported
            errors[name] = f"{type(exc).__name__}: {exc}"
            logger.warning("cannot run %s: %s", name, errors[name])
    samples: dict[str, list[float]] = {name: [] for name in steppers}
    for _ in range(args.repeats):
        for name, step in steppers.items():  # interleaved: all see the same load
            samples[name].append(_rate(step, args.seconds))
    med = {name: statistics.median(v) for name, v in samples.items()}

    out: dict[str, object] = {}
    for name, value in med.items():
        out[f"{name}_steps_per_s"] = round(value, 1)

    def ratio(key: str, ours: str, peer: str) -> None:
        """Median over rounds of (ours / peer) measured in the same round."""
        if ours in samples and peer in samples:
            per_round = [a / b for a, b in zip(samples[ours], samples[peer], strict=True)]
            out[key] = round(statistics.median(per_round), 2)

    ratio(
        "tetris_placement_vs_peer_ratio", "tetris_placement_single", "peer_tetris_gymnasium_grouped"
    )
    ratio(
        "tetris_placement_features_vs_peer_ratio",
        "tetris_placement_features_single",
        "peer_tetris_gymnasium_grouped",
    )
    ratio(
        "tetris_placement_batched_vs_peer_ratio",
        "tetris_placement_batched",
        "peer_tetris_gymnasium_grouped",
    )
    ratio("tetris_moves_vs_peer_ratio", "tetris_moves_single", "peer_tetris_gymnasium_moves")
    ratio(
        "tetris_moves_raw_vs_peer_raw_ratio",
        "tetris_moves_single_raw",
        "peer_tetris_gymnasium_moves_raw",
    )
    ratio(
        "tetris_moves_batched_vs_peer_ratio", "tetris_moves_batched", "peer_tetris_gymnasium_moves"
    )
    ratio("snake_vs_peer_ratio", "snake_single", "peer_gym_snake")
    ratio("snake_batched_vs_peer_ratio", "snake_batched", "peer_gym_snake")
    out["tetris_batch"] = tb
    out["snake_batch"] = sb
    out["seconds_per_window"] = args.seconds
    out["repeats"] = args.repeats
    out["cpu_count"] = os.cpu_count()
    out["load_avg_1m"] = round(os.getloadavg()[0], 2)
    for name, err in errors.items():
        out[f"{name}_error"] = err

    width = max(len(n) for n in cases) + 2
    print(f"{'case':<{width}} {'steps/s (median)':>18}  {'min':>12}  {'max':>12}")
    for name in cases:
        if name in samples:
            v = samples[name]
            print(f"{name:<{width}} {med[name]:>18,.0f}  {min(v):>12,.0f}  {max(v):>12,.0f}")
        else:
            print(f"{name:<{width}} {'not run':>18}  {errors[name]}")
    print()
    for key, ratio_value in out.items():
        if key.endswith("_ratio"):
            print(f"{key:<45} {ratio_value!s:>8}x")
    print(
        f"(batch: tetris {tb}, snake {sb}; {args.repeats} x {args.seconds}s windows; "
        f"load avg {out['load_avg_1m']} on {out['cpu_count']} cpus)"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
