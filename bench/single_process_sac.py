"""Our own single-process SAC on Pendulum-v1 with CleanRL's documented hyper-parameters.

The peer of ``python -m learner.main experiment=sac_pendulum`` in bench/sac_pendulum.py:
one process, one env, a numpy ring buffer, a 256-256 tanh-Gaussian actor and twin
256-256 soft Q critics, the settings of CleanRL's ``sac_continuous_action.py`` (``Args``
there and docs.cleanrl.dev/rl-algorithms/sac): buffer 1e6, gamma 0.99, tau 0.005,
batch 256, learning_starts 5e3 (uniform random actions until then), policy_lr 3e-4,
q_lr 1e-3, policy_frequency 2 (and that many actor steps at once), target every update,
autotuned alpha from 1 with target entropy -|A| (its lr = q_lr), log-std in [-5, 2]; one
update per env step. Written for fsrl; no code taken from CleanRL, and none from
``agents/sac`` (the peer must not share our bugs).

Measured: wall-clock seconds from start until a periodic greedy evaluation (tanh of
the mean; ``--eval-episodes`` episodes on fixed seeds) reaches a mean return >= -200,
with a cap; ``wall_s`` includes the evaluations, ``train_wall_s`` leaves them out.

    python bench/single_process_sac.py --seeds 1 2 3 --json /tmp/sac_peer.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


@dataclass
class Hyper:
    """CleanRL's ``sac_continuous_action.py`` defaults."""

    total_timesteps: int = 1_000_000
    buffer_size: int = 1_000_000
    gamma: float = 0.99
    tau: float = 0.005
    batch_size: int = 256
    learning_starts: int = 5_000
    policy_lr: float = 3e-4
    q_lr: float = 1e-3
    policy_frequency: int = 2
    target_network_frequency: int = 1
    autotune: bool = True
    hidden: int = 256
    log_std_min: float = -5.0
    log_std_max: float = 2.0


def mlp(inp: int, out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inp, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, out),
    )


class Actor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hp: Hyper, low: np.ndarray, high: np.ndarray):
        super().__init__()
        self.body = mlp(obs_dim, 2 * act_dim, hp.hidden)
        self.act_dim = act_dim
        self.lo, self.hi = hp.log_std_min, hp.log_std_max
        self.register_buffer("scale", torch.as_tensor((high - low) / 2.0, dtype=torch.float32))
        self.register_buffer("bias", torch.as_tensor((high + low) / 2.0, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, raw = self.body(obs).split(self.act_dim, dim=1)
        return mu, self.lo + 0.5 * (self.hi - self.lo) * (torch.tanh(raw) + 1.0)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_std = self(obs)
        eps = torch.randn_like(mu)
        u = mu + log_std.exp() * eps
        y = torch.tanh(u)
        logp = -0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
        logp = logp - torch.log(self.scale * (1 - y.pow(2)) + 1e-6)
        return y * self.scale + self.bias, logp.sum(1)

    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        mu, _ = self(obs)
        return torch.tanh(mu) * self.scale + self.bias


def evaluate(actor: Actor, env_id: str, episodes: int, seed: int) -> float:
    """Mean greedy return over ``episodes`` episodes on seeds ``seed + i``."""
    env = gym.make(env_id)
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            with torch.no_grad():
                action = actor.greedy(torch.as_tensor(obs[None], dtype=torch.float32))[0].numpy()
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def run(
    seed: int,
    hp: Hyper,
    target_return: float = -200.0,
    eval_interval_steps: int = 1_000,
    eval_episodes: int = 10,
    max_wall_s: float = 1_200.0,
    env_id: str = "Pendulum-v1",
) -> dict:
    """Train until the greedy eval reaches ``target_return``; return timings and the trace."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = gym.make(env_id)
    env.action_space.seed(seed)
    obs_dim = int(np.prod(env.observation_space.shape))
    act_dim = int(np.prod(env.action_space.shape))
    low = np.asarray(env.action_space.low, np.float32)
    high = np.asarray(env.action_space.high, np.float32)
    actor = Actor(obs_dim, act_dim, hp, low, high)
    q1, q2 = mlp(obs_dim + act_dim, 1, hp.hidden), mlp(obs_dim + act_dim, 1, hp.hidden)
    q1_t, q2_t = mlp(obs_dim + act_dim, 1, hp.hidden), mlp(obs_dim + act_dim, 1, hp.hidden)
    q1_t.load_state_dict(q1.state_dict())
    q2_t.load_state_dict(q2.state_dict())
    q_params = list(q1.parameters()) + list(q2.parameters())
    q_opt = torch.optim.Adam(q_params, lr=hp.q_lr)
    pi_opt = torch.optim.Adam(actor.parameters(), lr=hp.policy_lr)
    log_alpha = torch.zeros(1, requires_grad=True)
    a_opt = torch.optim.Adam([log_alpha], lr=hp.q_lr)
    target_entropy = -float(act_dim)

    size = min(hp.buffer_size, hp.total_timesteps)
    b_obs = np.zeros((size, obs_dim), np.float32)
    b_next = np.zeros((size, obs_dim), np.float32)
    b_act = np.zeros((size, act_dim), np.float32)
    b_rew = np.zeros(size, np.float32)
    b_term = np.zeros(size, np.float32)
    filled = 0

    def q_min(net1: nn.Module, net2: nn.Module, o: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        x = torch.cat([o, a], 1)
        return torch.min(net1(x), net2(x))[:, 0]

    start = time.monotonic()
    eval_s = 0.0
    obs, _ = env.reset(seed=seed)
    trace = []
    solved_at_s = solved_train_s = solved_step = None
    step = 0
    for step in range(1, hp.total_timesteps + 1):
        if step <= hp.learning_starts:
            action = env.action_space.sample()
        else:
            with torch.no_grad():
                action = actor.sample(torch.as_tensor(obs[None], dtype=torch.float32))[0][0].numpy()
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
            idx = rng.integers(0, filled, hp.batch_size)
            o, a = torch.as_tensor(b_obs[idx]), torch.as_tensor(b_act[idx])
            o2 = torch.as_tensor(b_next[idx])
            alpha = log_alpha.detach().exp()
            with torch.no_grad():
                a2, logp2 = actor.sample(o2)
                y = torch.as_tensor(b_rew[idx]) + hp.gamma * (
                    1.0 - torch.as_tensor(b_term[idx])
                ) * (q_min(q1_t, q2_t, o2, a2) - alpha * logp2)
            x = torch.cat([o, a], 1)
            q_loss = F.mse_loss(q1(x)[:, 0], y) + F.mse_loss(q2(x)[:, 0], y)
            q_opt.zero_grad()
            q_loss.backward()
            q_opt.step()
            if step % hp.policy_frequency == 0:
                for _ in range(hp.policy_frequency):
                    pi, logp = actor.sample(o)
                    pi_loss = (log_alpha.detach().exp() * logp - q_min(q1, q2, o, pi)).mean()
                    pi_opt.zero_grad()
                    pi_loss.backward()
                    pi_opt.step()
                    if hp.autotune:
                        with torch.no_grad():
                            _, logp = actor.sample(o)
                        a_loss = (-log_alpha.exp() * (logp + target_entropy)).mean()
                        a_opt.zero_grad()
                        a_loss.backward()
                        a_opt.step()
            if step % hp.target_network_frequency == 0:
                with torch.no_grad():
                    for net, tgt in ((q1, q1_t), (q2, q2_t)):
                        for p, tp in zip(net.parameters(), tgt.parameters(), strict=True):
                            tp.lerp_(p, hp.tau)

        if step % eval_interval_steps == 0:
            t0 = time.monotonic()
            mean = evaluate(actor, env_id, eval_episodes, seed=1_000_000)
            eval_s += time.monotonic() - t0
            elapsed = time.monotonic() - start
            trace.append({"step": step, "wall_s": round(elapsed, 2), "eval_mean": mean})
            print(
                f"  seed {seed} step {step:>7d} t={elapsed:7.1f}s eval mean {mean:7.1f}", flush=True
            )
            if mean >= target_return:
                solved_at_s, solved_train_s, solved_step = elapsed, elapsed - eval_s, step
                break
            if elapsed >= max_wall_s:
                break
    env.close()
    elapsed = time.monotonic() - start
    return {
        "seed": seed,
        "solved": solved_at_s is not None,
        "wall_s": solved_at_s if solved_at_s is not None else elapsed,
        "train_wall_s": solved_train_s if solved_train_s is not None else elapsed - eval_s,
        "env_steps": solved_step if solved_step is not None else step,
        "trace": trace,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--target-return", type=float, default=-200.0)
    parser.add_argument("--eval-interval-steps", type=int, default=1_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--max-wall-s", type=float, default=1_200.0)
    parser.add_argument("--json", type=str, default=None, help="write the figures here")
    args = parser.parse_args()

    hp = Hyper()
    runs = [
        run(
            s,
            hp,
            args.target_return,
            args.eval_interval_steps,
            args.eval_episodes,
            max_wall_s=args.max_wall_s,
        )
        for s in args.seeds
    ]
    result = {
        "baseline_wallclock_s": statistics.median(r["wall_s"] for r in runs),
        "baseline_train_wallclock_s": statistics.median(r["train_wall_s"] for r in runs),
        "baseline_env_steps_to_solve": statistics.median(r["env_steps"] for r in runs),
        "baseline_solved_runs": sum(r["solved"] for r in runs),
        "baseline_runs": len(runs),
        "baseline_target_return": args.target_return,
        "baseline_per_seed": [{k: v for k, v in r.items() if k != "trace"} for r in runs],
        "baseline_traces": [r["trace"] for r in runs],
        "hyper": asdict(hp),
    }
    print()
    print(f"{'seed':>6} {'solved':>7} {'wall_s':>9} {'train_s':>9} {'env_steps':>10}")
    for r in runs:
        print(
            f"{r['seed']:>6} {r['solved']!s:>7} {r['wall_s']:>9.1f} {r['train_wall_s']:>9.1f} "
            f"{r['env_steps']:>10d}"
        )
    print(
        f"{'median':>6} {'':>7} {result['baseline_wallclock_s']:>9.1f} "
        f"{result['baseline_train_wallclock_s']:>9.1f} {result['baseline_env_steps_to_solve']:>10.0f}"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
