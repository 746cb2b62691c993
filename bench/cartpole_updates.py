"""Learner updates to solve CartPole: a one-process stand-in of the Ape-X pipeline, for tuning.

The pipeline's CartPole wall-clock on the 2-core box is bounded by the learner, so
what a setting costs is the number of updates it needs before a greedy evaluation
reaches 475. This script counts that number without Ray, Redis or timing noise: the
same :class:`agents.dqn.learner.DQN`, n-step folder (:mod:`actors.nstep`), ε ladder and actor
priorities as the pipeline, a numpy sum-tree replay with the sampler's weights, and a
numpy CartPole (Gymnasium's equations) for the 16 actor envs; evaluation uses
Gymnasium's CartPole-v1 on the launcher's fixed seeds (3-episode screen, then 20).

What it models of the pipeline: ``--spu`` env steps per update (the rate limiter's
``batch / samples_per_insert``), actors on weights ``--pub`` updates old, and the
prefetcher drawing ``--group`` batches per sampler call, split every group-th draw
(``--contiguous`` splits in slices, as the prefetcher did before ``eb11711``).

    python bench/cartpole_updates.py --seeds 1 2 3 4 5 6 7 8 9 10 11 12 --lr 4e-3 --tui 25
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from actors.nstep import NStepFolder
from agents.dqn.exploration import epsilon_ladder
from agents.dqn.learner import DQN, TorchBatch
from conf.schema import DQNConfig, EnvConfig, ModelConfig
from learner.evaluation import evaluate_greedy
from replay.sumtree import SumTree


class VecCartPole:
    """``n`` CartPole-v1 envs stepped together in numpy (Gymnasium's Euler equations,
    termination at |x| > 2.4 or |θ| > 12°, truncation at 500 steps, reset on the spot)."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n, self.rng = n, rng
        self.state = rng.uniform(-0.05, 0.05, (n, 4))
        self.t = np.zeros(n, dtype=np.int64)

    def obs(self) -> np.ndarray:
        return self.state.astype(np.float32)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, ...]:
        """(next_obs, reward, terminated, truncated, obs to act on next)."""
        x, x_dot, th, th_dot = self.state.T
        force = np.where(action == 1, 10.0, -10.0)
        cos, sin = np.cos(th), np.sin(th)
        temp = (force + 0.05 * th_dot**2 * sin) / 1.1
        th_acc = (9.8 * sin - cos * temp) / (0.5 * (4.0 / 3.0 - 0.1 * cos**2 / 1.1))
        x_acc = temp - 0.05 * th_acc * cos / 1.1
        x, x_dot = x + 0.02 * x_dot, x_dot + 0.02 * x_acc
        th, th_dot = th + 0.02 * th_dot, th_dot + 0.02 * th_acc
        self.state = np.stack([x, x_dot, th, th_dot], 1)
        self.t += 1
        terminated = (np.abs(x) > 2.4) | (np.abs(th) > 12 * 2 * np.pi / 360)
        truncated = (self.t >= 500) & ~terminated
        next_obs = self.obs()
        done = terminated | truncated
        if done.any():
            self.state[done] = self.rng.uniform(-0.05, 0.05, (int(done.sum()), 4))
            self.t[done] = 0
        return next_obs, np.ones(self.n), terminated, truncated, self.obs()


def updates_to_solve(seed: int, a: argparse.Namespace) -> dict[str, Any]:
    """Train until the greedy evaluation solves CartPole; the updates (None: not by the cap)."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    model = ModelConfig(arch="mlp_dueling", hidden_sizes=[int(h) for h in a.hidden.split(",")])
    algo = DQNConfig(lr=a.lr, batch_size=a.batch, target_update_interval_updates=a.tui, n_step=a.n)
    env_cfg = EnvConfig(id="CartPole-v1")
    obs_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    dqn = DQN(model, algo, obs_space, 2, torch.device("cpu"), seed=seed)
    actor = copy.deepcopy(dqn.online).eval()
    envs = VecCartPole(a.envs, np.random.default_rng(seed + 99))
    obs = envs.obs()
    eps = epsilon_ladder(a.envs, 0.4, 7.0)
    folder = NStepFolder(a.envs, a.n, algo.gamma)
    cap = a.capacity
    store = {
        "obs": np.zeros((cap, 4), np.float32),
        "next_obs": np.zeros((cap, 4), np.float32),
        "action": np.zeros(cap, np.int64),
        "reward": np.zeros(cap, np.float32),
        "discount": np.zeros(cap, np.float32),
    }
    tree, size, head, env_steps, owed = SumTree(cap), 0, 0, 0, 0.0
    ready: list[tuple[np.ndarray, np.ndarray]] = []

    def q(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.as_tensor(x, dtype=torch.float32)).numpy()

    while dqn.updates < a.max_updates:
        owed += a.spu / a.envs
        while owed >= 1.0 or size < 1000:  # the pipeline's min_size_to_sample
            act = q(actor, obs).argmax(1)
            explore = rng.random(a.envs) < eps
            act = np.where(explore, rng.integers(0, 2, a.envs), act)
            next_obs, reward, term, trunc, after = envs.step(act)
            env_steps += a.envs
            owed = max(0.0, owed - 1.0)
            tr = folder.step(obs, act, reward, term, trunc, next_obs)
            obs = after
            k = len(tr["action"])
            if k:  # actor-side initial priorities |r + d max Q(s') - Q(s, a)|
                d = tr["discount"].astype(np.float32)
                r = tr["reward"].astype(np.float32)
                q_sa = q(actor, tr["obs"])[np.arange(k), tr["action"]]
                td = r + d * q(actor, tr["next_obs"]).max(1) - q_sa
                pos = (head + np.arange(k)) % cap
                for key in store:
                    store[key][pos] = tr[key]
                tree.update(pos, (np.abs(td) + 1e-3 + 1e-6) ** 0.6)
                head, size = (head + k) % cap, min(cap, size + k)
        if not ready:
            draws = tree.sample(a.batch * a.group, rng)
            for g in range(a.group):
                part = (
                    slice(g * a.batch, (g + 1) * a.batch)
                    if a.contiguous
                    else slice(g, None, a.group)
                )
                p = draws[part]
                ready.append((p, (tree.min() / tree.get(p)) ** 0.4))
        pos, w = ready.pop(0)
        batch = {key: col[pos] for key, col in store.items()}
        priorities, _ = dqn.update(TorchBatch.from_numpy(batch, w, torch.device("cpu")))
        tree.update(pos, (priorities + 1e-6) ** 0.6)
        if dqn.updates % a.pub == 0:
            actor.load_state_dict(dqn.online.state_dict())
        if dqn.updates % a.eval_every == 0:
            seed0 = env_cfg.eval_seed
            screen = evaluate_greedy(dqn.greedy(), env_cfg, 3, seed0).mean()
            if screen >= 475 and evaluate_greedy(dqn.greedy(), env_cfg, 20, seed0).mean() >= 475:
                return {"seed": seed, "updates": dqn.updates, "env_steps": env_steps}
    return {"seed": seed, "updates": None, "env_steps": env_steps}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--tui", type=int, default=25, help="updates between target copies")
    p.add_argument("--n", type=int, default=3, help="n-step")
    p.add_argument("--hidden", default="128,128")
    p.add_argument("--envs", type=int, default=16, help="actor envs (the ε ladder's slots)")
    p.add_argument("--spu", type=float, default=16.0, help="env steps per update")
    p.add_argument("--pub", type=int, default=50, help="updates between actor weight syncs")
    p.add_argument("--group", type=int, default=1, help="batches per sampler call")
    p.add_argument("--contiguous", action="store_true", help="split a call's draws in slices")
    p.add_argument("--capacity", type=int, default=100_000)
    p.add_argument("--eval-every", dest="eval_every", type=int, default=250)
    p.add_argument("--max-updates", dest="max_updates", type=int, default=16_000)
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args()
    runs = [updates_to_solve(seed, a) for seed in a.seeds]
    capped = [r["updates"] if r["updates"] is not None else a.max_updates for r in runs]
    print(f"{'seed':>6} {'updates':>9} {'env steps':>11}")
    for r in runs:
        print(f"{r['seed']:>6} {str(r['updates']):>9} {r['env_steps']:>11,}")
    result = {
        "settings": {k: v for k, v in vars(a).items() if k != "json"},
        "cartpole_updates_to_solve_median": statistics.median(capped),
        "cartpole_solved_runs": sum(r["updates"] is not None for r in runs),
        "cartpole_runs": len(runs),
        "per_seed": runs,
    }
    print(
        f"median updates to solve (unsolved counted at the cap): {result['cartpole_updates_to_solve_median']}"
    )
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
