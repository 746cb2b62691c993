"""Connect Four moves per second: fsrl's batched bitboards next to PettingZoo's.

Peer: PettingZoo's ``classic.connect_four_v3`` (``pip install pettingzoo``), the
AEC env as ``env()`` builds it (with its wrappers) and its ``raw_env``. Every player
plays uniformly random legal moves from the action mask, drawn the same way on both
sides; a finished game is reset and the next one starts. A "move" is one stone on a
board. Every figure is the median of ``--repeats`` windows of ``--seconds``; each
round times every case once, the peer right before our cases, and a ratio is the
median over rounds of ours / peer within the round (same machine load).

Cases: ``core_batched`` (``--batch`` boards per call: legal mask, apply, status,
observe — what a self-play actor does per ply), ``core_single`` (the same with one
board), ``env_single`` (``fsrl/ConnectFour-v0`` through ``gym.make``, agent and random
opponent: two moves per step), and ``alphabeta_d4`` (depth-4 searches per second from
random positions, the bench's strong opponent).

    python bench/games.py                        # table
    python bench/games.py --json out/games.json  # + the same figures as JSON
    python bench/games.py --seconds 0.2 --repeats 1 --depth-games 40  # alpha-beta by depth
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gymnasium as gym  # noqa: E402

import envs.games  # noqa: E402, F401  (registers fsrl/ConnectFour-v0)
from envs.games import ConnectFour  # noqa: E402
from envs.games.connect_four_search import AlphaBetaPlayer  # noqa: E402
from learner.arena import play_match  # noqa: E402

logger = logging.getLogger(__name__)

Stepper = Callable[[], int]  # one call; returns the moves made


def _rate(step: Stepper, seconds: float) -> float:
    for _ in range(3):
        step()
    n = 0
    t0 = time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        n += step()
    return n / elapsed


def core(batch: int) -> Stepper:
    game = ConnectFour()
    rng = np.random.default_rng(0)
    state = game.initial(batch)

    def step() -> int:
        nonlocal state
        legal = game.legal(state)
        game.observe(state)  # what a self-play actor feeds its network
        moves = np.argmax(np.where(legal, rng.random(legal.shape), -1.0), axis=1)
        state = game.apply_unchecked(state, moves)
        terminal, _ = game.status(state)
        if terminal.any():
            state[terminal] = 0
        return batch

    return step


def env_single() -> Stepper:
    env = gym.make("fsrl/ConnectFour-v0", opponent="random")
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=0)
    plies = [info["plies"]]

    def step() -> int:
        nonlocal obs
        action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
        obs, _, terminated, truncated, info = env.step(action)
        made = info["plies"] - plies[0]
        plies[0] = info["plies"]
        if terminated or truncated:
            obs, info = env.reset()
            made += info["plies"]
            plies[0] = info["plies"]
        return made

    return step


def peer_pettingzoo(raw: bool = False) -> Stepper:
    from pettingzoo.classic import connect_four_v3

    env = connect_four_v3.raw_env() if raw else connect_four_v3.env()
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def step() -> int:
        obs, _, terminated, truncated, _ = env.last()
        if terminated or truncated:
            env.reset()
            return 0
        env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        return 1

    return step


def alphabeta(depth: int = 4) -> Stepper:
    game = ConnectFour()
    player = AlphaBetaPlayer(depth)
    rng = np.random.default_rng(0)
    positions = []
    for _ in range(64):  # random mid-game positions (4..16 plies), not finished
        s = game.initial(1)
        for _ in range(int(rng.integers(4, 17))):
            legal = game.legal(s)
            if not legal.any():
                break
            s = game.apply(s, np.array([rng.choice(np.flatnonzero(legal[0]))]))
        if not game.status(s)[0][0]:
            positions.append(s)
    i = [0]

    def step() -> int:
        s = positions[i[0] % len(positions)]
        i[0] += 1
        player(game.observe(s), game.legal(s))
        return 1

    return step


def depth_ladder(games: int, seed: int = 7) -> dict[str, object]:
    """Alpha-beta of depth d against d' on ``games`` arena games (paired 2-ply openings)."""
    game = ConnectFour()
    out: dict[str, object] = {}
    for a, b in ((4, 1), (4, 2), (3, 4), (5, 4), (6, 4)):
        m = play_match(
            game, AlphaBetaPlayer(a), AlphaBetaPlayer(b), games, seed, names=(f"d{a}", f"d{b}")
        )
        out[f"ab_d{a}_vs_d{b}"] = {
            "score": m.score(),
            "first_wdl": [m.as_first.wins, m.as_first.draws, m.as_first.losses],
            "second_wdl": [m.as_second.wins, m.as_second.draws, m.as_second.losses],
        }
        print(f"alpha-beta d{a} vs d{b}: {out[f'ab_d{a}_vs_d{b}']}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one window")
    parser.add_argument("--repeats", type=int, default=3, help="windows per figure (median)")
    parser.add_argument("--batch", type=int, default=1024, help="boards per batched call")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--depth-games", type=int, default=0, help="also play alpha-beta depths (games each)"
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.repeats < 1 or args.batch < 1:
        parser.error(
            f"--seconds must be > 0, --repeats and --batch >= 1 "
            f"(got {args.seconds}, {args.repeats}, {args.batch})"
        )
    cases: dict[str, Callable[[], Stepper]] = {
        "peer_pettingzoo_connect_four_v3": peer_pettingzoo,
        "peer_pettingzoo_connect_four_v3_raw": lambda: peer_pettingzoo(raw=True),
        "core_batched": lambda: core(args.batch),
        "core_single": lambda: core(1),
        "env_single": env_single,
        "alphabeta_d4": alphabeta,
    }
    steppers: dict[str, Stepper] = {}
    errors: dict[str, str] = {}
    for name, build in cases.items():
        try:
            steppers[name] = build()
        except Exception as exc:  # a peer that is not installed is reported, not fatal
            errors[name] = f"{type(exc).__name__}: {exc}"
            logger.warning("cannot run %s: %s", name, errors[name])
    samples: dict[str, list[float]] = {name: [] for name in steppers}
    for _ in range(args.repeats):
        for name, step in steppers.items():
            samples[name].append(_rate(step, args.seconds))
    med = {name: statistics.median(v) for name, v in samples.items()}
    out: dict[str, object] = {f"{n}_moves_per_s": round(v, 1) for n, v in med.items()}

    def ratio(key: str, ours: str, peer: str) -> None:
        if ours in samples and peer in samples:
            per_round = [a / b for a, b in zip(samples[ours], samples[peer], strict=True)]
            out[key] = round(statistics.median(per_round), 2)

    peer, raw = "peer_pettingzoo_connect_four_v3", "peer_pettingzoo_connect_four_v3_raw"
    ratio("core_batched_vs_peer_ratio", "core_batched", peer)
    ratio("core_batched_vs_peer_raw_ratio", "core_batched", raw)
    ratio("core_single_vs_peer_raw_ratio", "core_single", raw)
    ratio("env_single_vs_peer_ratio", "env_single", peer)
    out.update(
        batch=args.batch,
        seconds_per_window=args.seconds,
        repeats=args.repeats,
        cpu_count=os.cpu_count(),
        load_avg_1m=round(os.getloadavg()[0], 2),
    )
    for name, err in errors.items():
        out[f"{name}_error"] = err
    if args.depth_games:
        out["alphabeta_depths"] = depth_ladder(args.depth_games)
    width = max(len(n) for n in cases) + 2
    print(f"{'case':<{width}} {'moves/s (median)':>18}  {'min':>12}  {'max':>12}")
    for name in cases:
        if name in samples:
            v = samples[name]
            print(f"{name:<{width}} {med[name]:>18,.0f}  {min(v):>12,.0f}  {max(v):>12,.0f}")
        else:
            print(f"{name:<{width}} {'not run':>18}  {errors[name]}")
    print()
    for key, value in out.items():
        if key.endswith("_ratio"):
            print(f"{key:<40} {value!s:>8}x")
    print(
        f"(batch {args.batch}; {args.repeats} x {args.seconds}s windows; "
        f"load avg {out['load_avg_1m']} on {out['cpu_count']} cpus)"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
