"""Our own single-process DQN on CartPole-v1 with CleanRL's documented hyper-parameters.

The peer of ``python -m learner.main`` in the pipeline benchmark: one process, one
env, a numpy ring buffer, a 120-84 ReLU MLP, MSE TD loss, Adam, a hard target copy —
the settings of CleanRL's ``dqn.py`` for CartPole (``Args`` there and
docs.cleanrl.dev/rl-algorithms/dqn): lr 2.5e-4, buffer 10k, gamma 0.99, tau 1.0,
target every 500 steps, batch 128, epsilon 1 -> 0.05 over 50% of 500k steps,
learning_starts 10k, train_frequency 10. Written for fsrl; no code taken from CleanRL.

Measured: wall-clock seconds from start until a periodic greedy evaluation (20
episodes on fixed seeds) reaches a mean return >= 475, with a cap.

    python bench/single_process_dqn.py --seeds 1 2 3 --json /tmp/baseline.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn


@dataclass
class Hyper:
    """CleanRL's CartPole DQN settings (the defaults of its ``dqn.py``)."""

    total_timesteps: int = 500_000
    learning_rate: float = 2.5e-4
    buffer_size: int = 10_000
    gamma: float = 0.99
    tau: float = 1.0
    target_network_frequency: int = 500
    batch_size: int = 128
    start_e: float = 1.0
    end_e: float = 0.05
    exploration_fraction: float = 0.5
    learning_starts: int = 10_000
    train_frequency: int = 10


def q_network(obs_dim: int, num_actions: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(obs_dim, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, num_actions),
    )


def evaluate(net: nn.Module, env_id: str, episodes: int, seed: int) -> float:
    """Mean greedy return over ``episodes`` episodes on seeds ``seed + i``."""
    env = gym.make(env_id)
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            with torch.no_grad():
                action = int(net(torch.as_tensor(obs[None], dtype=torch.float32)).argmax(1).item())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def run(
    seed: int,
    hp: Hyper,
    target_return: float = 475.0,
    eval_interval_steps: int = 10_000,
    eval_episodes: int = 20,
    max_wall_s: float = 1_200.0,
    env_id: str = "CartPole-v1",
) -> dict:
    """Train until the greedy eval reaches ``target_return``; return timings and the trace."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = gym.make(env_id)
    obs_dim = int(np.prod(env.observation_space.shape))
    num_actions = int(env.action_space.n)
    env.action_space.seed(seed)
    q, target = q_network(obs_dim, num_actions), q_network(obs_dim, num_actions)
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=hp.learning_rate)

    size = hp.buffer_size
    b_obs = np.zeros((size, obs_dim), np.float32)
    b_next = np.zeros((size, obs_dim), np.float32)
    b_act = np.zeros(size, np.int64)
    b_rew = np.zeros(size, np.float32)
    b_term = np.zeros(size, np.float32)
    filled = 0

    start = time.monotonic()
    obs, _ = env.reset(seed=seed)
    explore_steps = hp.exploration_fraction * hp.total_timesteps
    trace = []
    solved_at_s = None
    solved_step = None
    step = 0
    for step in range(1, hp.total_timesteps + 1):
        eps = max(hp.end_e, hp.start_e + (hp.end_e - hp.start_e) * (step - 1) / explore_steps)
        if rng.random() < eps:
            action = int(env.action_space.sample())
        else:
            with torch.no_grad():
                action = int(q(torch.as_tensor(obs[None])).argmax(1).item())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        i = (step - 1) % size
        # Truncation bootstraps: the stored next_obs is the real final state, term=0.
        b_obs[i], b_next[i], b_act[i], b_rew[i], b_term[i] = (
            obs,
            next_obs,
            action,
            reward,
            terminated,
        )
        filled = min(filled + 1, size)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()

        if step > hp.learning_starts:
            if step % hp.train_frequency == 0:
                idx = rng.integers(0, filled, hp.batch_size)
                with torch.no_grad():
                    nxt = target(torch.as_tensor(b_next[idx])).max(1).values
                    y = torch.as_tensor(b_rew[idx]) + hp.gamma * nxt * (
                        1.0 - torch.as_tensor(b_term[idx])
                    )
                pred = q(torch.as_tensor(b_obs[idx])).gather(
                    1, torch.as_tensor(b_act[idx])[:, None]
                )[:, 0]
                loss = nn.functional.mse_loss(pred, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            if step % hp.target_network_frequency == 0:
                for tp, qp in zip(target.parameters(), q.parameters(), strict=True):
                    tp.data.copy_(hp.tau * qp.data + (1.0 - hp.tau) * tp.data)

        if step % eval_interval_steps == 0:
            mean = evaluate(q, env_id, eval_episodes, seed=1_000_000)
            elapsed = time.monotonic() - start
            trace.append({"step": step, "wall_s": round(elapsed, 2), "eval_mean": mean})
            print(
                f"  seed {seed} step {step:>7d} t={elapsed:7.1f}s eval mean {mean:6.1f}", flush=True
            )
            if mean >= target_return:
                solved_at_s, solved_step = elapsed, step
                break
            if elapsed >= max_wall_s:
                break
    env.close()
    return {
        "seed": seed,
        "solved": solved_at_s is not None,
        "wall_s": solved_at_s if solved_at_s is not None else time.monotonic() - start,
        "env_steps": solved_step if solved_step is not None else step,
        "trace": trace,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--target-return", type=float, default=475.0)
    parser.add_argument("--eval-interval-steps", type=int, default=10_000)
    parser.add_argument("--max-wall-s", type=float, default=1_200.0)
    parser.add_argument("--json", type=str, default=None, help="write the figures here")
    args = parser.parse_args()

    hp = Hyper()
    runs = [
        run(s, hp, args.target_return, args.eval_interval_steps, max_wall_s=args.max_wall_s)
        for s in args.seeds
    ]
    solved = [r for r in runs if r["solved"]]
    result = {
        "baseline_wallclock_s": statistics.median(r["wall_s"] for r in runs),
        "baseline_env_steps_to_solve": statistics.median(r["env_steps"] for r in runs),
        "baseline_solved_runs": len(solved),
        "baseline_runs": len(runs),
        "baseline_target_return": args.target_return,
        "baseline_per_seed": [{k: v for k, v in r.items() if k != "trace"} for r in runs],
        "baseline_traces": [r["trace"] for r in runs],
        "hyper": asdict(hp),
    }
    print()
    print(f"{'seed':>6} {'solved':>7} {'wall_s':>9} {'env_steps':>10}")
    for r in runs:
        print(f"{r['seed']:>6} {r['solved']!s:>7} {r['wall_s']:>9.1f} {r['env_steps']:>10d}")
    print(
        f"{'median':>6} {'':>7} {result['baseline_wallclock_s']:>9.1f} {result['baseline_env_steps_to_solve']:>10.0f}"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
