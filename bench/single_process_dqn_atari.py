"""Our own single-process DQN on Atari with CleanRL's documented ``dqn_atari.py`` settings:
the peer of ``python -m learner.main experiment=atari`` in ``bench/atari.py``.

CleanRL's ``dqn_atari.py`` (its ``Args`` and docs.cleanrl.dev/rl-algorithms/dqn): the
Nature CNN (conv 32 8x8/4, 64 4x4/2, 64 3x3/1, dense 512, pixels / 255), Adam lr 1e-4,
batch 32, gamma 0.99, buffer 1,000,000, train every 4 env steps, a hard target copy every
1,000 env steps, learning_starts 80,000, epsilon 1 -> 0.01 over 10 % of 10M steps, one
env, MSE TD loss on 1-step targets. Written for fsrl; no code taken from CleanRL.

What this script changes, for a throughput measurement on a 24 GiB, 2-core machine:

* ``--buffer-size`` (default 20,000, not 1,000,000): CleanRL's buffer keeps obs and
  next_obs stacks (56 KB a transition) — a million would take 56 GB;
* ``--learning-starts`` (default 2,000, not 80,000): a shortened warm-up;
* the measured window runs at CleanRL's final epsilon (0.01), the regime of 90 % of its
  10M-step run, so nearly every step runs the network (during the ramp most steps are
  random and skip it);
* the env is the one ``experiment=atari`` builds (Gymnasium's AtariPreprocessing with
  EpisodicLife, ClipReward and FrameStackObservation(4) on ``ALE/<Game>-v5``,
  ``frameskip=1``), where CleanRL uses SB3's wrappers (the same steps) on the
  ``NoFrameskip-v4`` ids: both sides step the same emulator the same way.

Measured: env steps/s and updates/s over ``--window-s`` seconds after the warm-up.

    python bench/single_process_dqn_atari.py --window-s 60 --json /tmp/peer.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import conf  # noqa: E402
from actors.envs import make_single_env  # noqa: E402


@dataclass
class Hyper:
    """CleanRL's ``dqn_atari.py`` settings; buffer and warm-up scaled down (module docstring)."""

    learning_rate: float = 1e-4
    buffer_size: int = 20_000  # CleanRL: 1,000,000
    gamma: float = 0.99
    target_network_frequency: int = 1_000
    batch_size: int = 32
    end_e: float = 0.01
    learning_starts: int = 2_000  # CleanRL: 80,000
    train_frequency: int = 4


def nature_cnn(num_actions: int) -> nn.Module:
    """Mnih et al. (2015): three ReLU convs, a 512-wide dense layer, one output per action."""
    return nn.Sequential(
        nn.Conv2d(4, 32, 8, stride=4),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3136, 512),
        nn.ReLU(),
        nn.Linear(512, num_actions),
    )


def q_of(net: nn.Module, obs: np.ndarray) -> torch.Tensor:
    return net(torch.as_tensor(obs).float() / 255.0)


def run(env_id: str, hp: Hyper, window_s: float, seed: int = 1, threads: int = 0) -> dict:
    """Warm up for ``learning_starts`` steps, then train for ``window_s`` seconds."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = conf.load_config(["experiment=atari", f"env.id={env_id}"])
    env = make_single_env(cfg.env, training=True)
    env.action_space.seed(seed)
    num_actions = int(env.action_space.n)  # type: ignore[attr-defined]
    q, target = nature_cnn(num_actions), nature_cnn(num_actions)
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=hp.learning_rate)

    size = hp.buffer_size
    shape = env.observation_space.shape or ()
    b_obs = np.zeros((size, *shape), np.uint8)
    b_next = np.zeros((size, *shape), np.uint8)
    b_act = np.zeros(size, np.int64)
    b_rew = np.zeros(size, np.float32)
    b_term = np.zeros(size, np.float32)
    filled = 0
    obs, _ = env.reset(seed=seed)
    step = updates = 0
    window_start = window_steps = window_updates = None
    started = time.monotonic()
    while True:
        step += 1
        warm = step <= hp.learning_starts
        if warm or rng.random() < hp.end_e:
            action = int(env.action_space.sample())
        else:
            with torch.no_grad():
                action = int(q_of(q, obs[None]).argmax(1).item())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        i = (step - 1) % size
        b_obs[i], b_next[i], b_act[i], b_rew[i], b_term[i] = (
            obs, next_obs, action, reward, terminated,
        )  # fmt: skip
        filled = min(filled + 1, size)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
        if warm:
            continue
        if window_start is None:
            window_start, window_steps, window_updates = time.monotonic(), step, updates
        if step % hp.train_frequency == 0:
            idx = rng.integers(0, filled, hp.batch_size)
            with torch.no_grad():
                nxt = q_of(target, b_next[idx]).max(1).values
                y = torch.as_tensor(b_rew[idx]) + hp.gamma * nxt * (
                    1.0 - torch.as_tensor(b_term[idx])
                )
            pred = q_of(q, b_obs[idx]).gather(1, torch.as_tensor(b_act[idx])[:, None])[:, 0]
            loss = nn.functional.mse_loss(pred, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            updates += 1
        if step % hp.target_network_frequency == 0:
            target.load_state_dict(q.state_dict())
        if time.monotonic() - window_start >= window_s:
            break
    elapsed = time.monotonic() - window_start
    env.close()
    assert window_steps is not None and window_updates is not None
    return {
        "env_id": env_id,
        "env_steps_per_s": (step - window_steps) / elapsed,
        "updates_per_s": (updates - window_updates) / elapsed,
        "window_s": round(elapsed, 2),
        "warmup_s": round(window_start - started, 2),
        "torch_threads": torch.get_num_threads(),
        "hyper": asdict(hp),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env-id", default="ALE/Pong-v5")
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--buffer-size", type=int, default=Hyper.buffer_size)
    parser.add_argument("--learning-starts", type=int, default=Hyper.learning_starts)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", type=str, default=None, help="write the figures here")
    args = parser.parse_args()
    hp = Hyper(buffer_size=args.buffer_size, learning_starts=args.learning_starts)
    result = run(args.env_id, hp, args.window_s, threads=args.threads)
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
