"""Prototype: how strong does a negamax self-play DQN get on Connect Four in minutes?

One process, one core (``torch.set_num_threads(1)``), no Ray or Redis: the question
is whether a *value learner* can reach the issue's targets (≥ 99% against random,
≥ 80% as first and ≥ 50% as second player against depth-4 alpha-beta) at all, and how
fast, before the lead builds self-play actors on the agent contract.

Method (negamax DQN on canonical boards):

* ``Q(s, a)`` is the value, for the player to move in ``s``, of playing ``a``. After
  ``a`` the board ``s'`` is seen from the opponent (canonical), so the target is
  ``r`` when the move ends the game (+1 win, 0 draw) and otherwise
  ``-γ Q_target(s', argmax_a' Q(s', a'))`` (double DQN over legal moves only).
* Self-play on ``--boards`` batched boards (our numpy bitboards): every move of both
  players is a transition from the mover's side, plus its mirror image (columns
  reversed). Side B of a game is the current network (ε-greedy) or, with probability
  ``--pool-share``, a frozen snapshot from the opponent pool (one snapshot added every
  ``--snapshot-every`` updates, the last ``--pool-size`` kept).
* At the end, the same network with two plies of lookahead (:func:`search_player`)
  against the same opponents: does a little search over the learned value help?
* Evaluation every ``--eval-every-s`` seconds with the arena (``learner.arena``): the
  greedy network against random play and against depth-4 alpha-beta, on fixed seeds
  with paired random openings (2 plies), as first and as second player.

    python bench/selfplay_c4.py --minutes 10 --json out/selfplay_c4.json
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs.games import ConnectFour, RandomPlayer  # noqa: E402
from envs.games.connect_four import bitboards_from_obs  # noqa: E402
from envs.games.connect_four_search import AlphaBetaPlayer  # noqa: E402
from learner.arena import play_match  # noqa: E402

logger = logging.getLogger("selfplay_c4")
GAME = ConnectFour()


class QNet(nn.Module):
    """Canonical board [2, 6, 7] → Q for the 7 columns (for the player to move), in [-1, 1].

    ``arch="mlp"``: two ReLU layers of ``hidden``; ``"cnn"``: two 3×3 conv layers of
    ``channels`` (padding 1), then one ReLU layer of ``hidden``."""

    def __init__(self, arch: str = "mlp", channels: int = 32, hidden: int = 256) -> None:
        super().__init__()
        if arch == "mlp":
            self.body: nn.Module = nn.Sequential(
                nn.Flatten(), nn.Linear(84, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
            )
        elif arch == "cnn":
            self.body = nn.Sequential(
                nn.Conv2d(2, channels, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(channels, channels, 3, padding=1),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(channels * 42, hidden),
                nn.ReLU(),
            )
        else:
            raise ValueError(f"--arch must be mlp or cnn, got {arch!r}")
        self.out = nn.Linear(hidden, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.out(self.body(x.float())))


def masked_argmax(q: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.argmax(np.where(mask, q, -np.inf), axis=1)


@torch.no_grad()
def q_values(net: nn.Module, obs: np.ndarray) -> np.ndarray:
    return net(torch.from_numpy(obs)).numpy()


def greedy_player(net: nn.Module):
    def play(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return masked_argmax(q_values(net, obs), mask)

    return play


def search_player(net: nn.Module | None):
    """Two plies of lookahead over the learned value: for each move a (a win is taken at
    once), the opponent's best reply b (a win for it scores -1), then our greedy value
    max_c Q(s_ab, c) (our move again, so no sign flip); play argmax_a min_b.
    ``net=None`` scores every unfinished leaf 0: the search alone, as a baseline
    (ties go to the lowest column)."""

    def play(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        states = bitboards_from_obs(obs)
        out = np.empty(len(states), dtype=np.int64)
        for i, root in enumerate(states):
            moves = np.flatnonzero(mask[i])
            after_a = GAME.apply_unchecked(np.repeat(root[None], len(moves), 0), moves)
            won = GAME.status(after_a)[0] & (GAME.status(after_a)[1] < 0)
            if won.any():
                out[i] = moves[np.flatnonzero(won)[0]]
                continue
            legal_b = GAME.legal(after_a)
            ia, ib = np.nonzero(legal_b)
            after_b = GAME.apply_unchecked(after_a[ia], ib)
            term_b, val_b = GAME.status(after_b)
            if net is None:
                mine = np.zeros(len(after_b))
            else:
                q = q_values(net, GAME.observe(after_b))
                mine = np.where(GAME.legal(after_b), q, -np.inf).max(axis=1)
            # a finished game after b: val_b is ours (we are to move): -1 lost, 0 draw
            leaf = np.where(term_b, val_b, mine)
            worst = np.full(len(moves), np.inf)
            np.minimum.at(worst, ia, leaf)
            full = ~legal_b.any(axis=1)  # a fills the board: a draw
            worst[full] = 0.0
            out[i] = moves[int(np.argmax(worst))]
        return out

    return play


class Replay:
    """A numpy ring of (obs, action, reward, done, next_obs, next_mask)."""

    def __init__(self, capacity: int) -> None:
        self.obs = np.zeros((capacity, 2, 6, 7), np.uint8)
        self.next_obs = np.zeros_like(self.obs)
        self.action = np.zeros(capacity, np.int64)
        self.reward = np.zeros(capacity, np.float32)
        self.done = np.zeros(capacity, np.float32)
        self.next_mask = np.zeros((capacity, 7), bool)
        self.capacity, self.size, self.pos = capacity, 0, 0

    def add(self, obs, action, reward, done, next_obs, next_mask) -> None:
        n = len(action)
        idx = (self.pos + np.arange(n)) % self.capacity
        self.obs[idx], self.action[idx], self.reward[idx] = obs, action, reward
        self.done[idx], self.next_obs[idx], self.next_mask[idx] = done, next_obs, next_mask
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, rng: np.random.Generator, batch: int):
        i = rng.integers(0, self.size, batch)
        return (
            self.obs[i],
            self.action[i],
            self.reward[i],
            self.done[i],
            self.next_obs[i],
            self.next_mask[i],
        )


def evaluate(net: nn.Module, games: int, seed: int) -> dict[str, float]:
    net.eval()
    me = greedy_player(net)
    vs_random = play_match(GAME, me, RandomPlayer(), games, seed, names=("dqn", "random"))
    vs_ab = play_match(GAME, me, AlphaBetaPlayer(4), games, seed + 1, names=("dqn", "ab4"))
    net.train()

    def rate(side) -> float:
        return side.wins / side.games

    return {
        "vs_random_win_rate": vs_random.wins / vs_random.games,
        "vs_random_first": rate(vs_random.as_first),
        "vs_random_second": rate(vs_random.as_second),
        "vs_ab4_first_win_rate": rate(vs_ab.as_first),
        "vs_ab4_second_win_rate": rate(vs_ab.as_second),
        "vs_ab4_score": vs_ab.score(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--arch", default="mlp", help="mlp (default) or cnn")
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--boards", type=int, default=64)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--updates-per-ply", type=int, default=1)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--capacity", type=int, default=300_000)
    p.add_argument("--target-every", type=int, default=1000)
    p.add_argument("--eps-start", type=float, default=0.5)
    p.add_argument("--eps-end", type=float, default=0.05)
    p.add_argument("--pool-share", type=float, default=0.3)
    p.add_argument("--pool-size", type=int, default=10)
    p.add_argument("--snapshot-every", type=int, default=2000)
    p.add_argument("--eval-every-s", type=float, default=60.0)
    p.add_argument("--eval-games", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    net = QNet(args.arch, args.channels, args.hidden)
    target = copy.deepcopy(net)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    replay = Replay(args.capacity)
    pool: list[nn.Module] = []
    n = args.boards
    state = GAME.initial(n)
    # Per board: the side of the learning network (0: it moves on even plies, 1: odd) and
    # who plays the other side: -1 the current network too, k pool snapshot k.
    ply = np.zeros(n, np.int64)
    side = rng.integers(0, 2, n)
    opp = np.full(n, -1)
    t0 = time.monotonic()
    budget = args.minutes * 60.0
    next_eval = 0.0
    updates = moves = games = 0
    curve = []
    while True:
        elapsed = time.monotonic() - t0
        if elapsed >= next_eval or elapsed >= budget:
            t_eval = time.monotonic()
            row = {
                "elapsed_s": round(elapsed, 1),
                "updates": updates,
                "moves": moves,
                "games": games,
            }
            row.update(evaluate(net, args.eval_games, 10_000))
            row["eval_s"] = round(time.monotonic() - t_eval, 1)
            curve.append(row)
            logger.info("%s", row)
            t0 += time.monotonic() - t_eval  # evaluation time is not training time
            next_eval = (time.monotonic() - t0) + args.eval_every_s
            if elapsed >= budget:
                break
        frac = min(1.0, elapsed / (0.6 * budget))
        eps = args.eps_start + frac * (args.eps_end - args.eps_start)
        obs = GAME.observe(state)
        mask = GAME.legal(state)
        action = masked_argmax(q_values(net, obs), mask)
        pooled = np.flatnonzero((opp >= 0) & (ply % 2 != side))
        for k in np.unique(opp[pooled]):
            rows = pooled[opp[pooled] == k]
            action[rows] = masked_argmax(q_values(pool[k], obs[rows]), mask[rows])
        explore = rng.random(n) < eps
        rand = masked_argmax(rng.random(mask.shape), mask)
        action = np.where(explore, rand, action)
        nxt = GAME.apply_unchecked(state, action)
        terminal, value = GAME.status(nxt)
        reward = (-value).astype(np.float32)  # value is the next player's: negate for the mover
        next_obs = GAME.observe(nxt)
        next_mask = GAME.legal(nxt)
        done = terminal.astype(np.float32)
        replay.add(obs, action, reward, done, next_obs, next_mask)
        replay.add(
            obs[..., ::-1], 6 - action, reward, done, next_obs[..., ::-1], next_mask[:, ::-1]
        )
        moves += n
        state = nxt
        ply += 1
        if terminal.any():
            ended = np.flatnonzero(terminal)
            games += ended.size
            state[ended] = 0
            ply[ended] = 0
            side[ended] = rng.integers(0, 2, ended.size)
            use_pool = (rng.random(ended.size) < args.pool_share) & (len(pool) > 0)
            opp[ended] = np.where(use_pool, rng.integers(0, max(1, len(pool)), ended.size), -1)
        if replay.size < 5_000:
            continue
        for _ in range(args.updates_per_ply):
            o, a, r, d, o2, m2 = replay.sample(rng, args.batch)
            o_t, o2_t = torch.from_numpy(o), torch.from_numpy(o2)
            with torch.no_grad():
                q2 = net(o2_t).masked_fill(~torch.from_numpy(m2), -1e9)
                a2 = q2.argmax(dim=1, keepdim=True)
                v2 = target(o2_t).gather(1, a2).squeeze(1)
                y = torch.from_numpy(r) - args.gamma * (1 - torch.from_numpy(d)) * v2
            q = net(o_t).gather(1, torch.from_numpy(a)[:, None]).squeeze(1)
            loss = nn.functional.smooth_l1_loss(q, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            updates += 1
            if updates % args.target_every == 0:
                target.load_state_dict(net.state_dict())
            if updates % args.snapshot_every == 0:
                snap = copy.deepcopy(net).eval()
                pool.append(snap)
                if len(pool) > args.pool_size:
                    pool.pop(0)
                    opp[opp == 0] = -1
                    opp[opp > 0] -= 1
    net.eval()
    final_search: dict[str, float] = {}
    for label, searcher in (("", search_player(net)), ("no_value_", search_player(None))):
        for name, opponent in (("random", RandomPlayer()), ("ab4", AlphaBetaPlayer(4))):
            m = play_match(GAME, searcher, opponent, args.eval_games, 10_000, names=("s", name))
            final_search[f"{label}vs_{name}_first_win_rate"] = m.as_first.wins / m.as_first.games
            final_search[f"{label}vs_{name}_second_win_rate"] = m.as_second.wins / m.as_second.games
            final_search[f"{label}vs_{name}_score"] = m.score()
    logger.info("2-ply search over the learned value (no_value_: over 0): %s", final_search)
    out = {
        "minutes": args.minutes,
        "final_with_2ply_search": final_search,
        "updates": updates,
        "moves": moves,
        "games": games,
        "final": curve[-1],
        "best_vs_ab4_score": max(c["vs_ab4_score"] for c in curve),
        "curve": curve,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out["final"], indent=1))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sys.exit(main())
