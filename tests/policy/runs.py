"""Run directories as ``learner.main`` leaves them, without Ray or Redis: the real learner
takes a few real updates from transitions of the real env, then writes its checkpoint with
the real checkpoint code (``Learner.checkpoint``) and a ``summary.json`` naming it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import conf
from actors.envs import make_single_env
from actors.spec import build_agent
from learner.learner import Learner

#: The configs of the two families: DQN on CartPole, SAC on Pendulum (small networks).
PRESETS = {
    "dqn": ["experiment=smoke", "model.hidden_sizes=[32,32]"],
    "sac": ["experiment=sac_pendulum", "algo.hidden_sizes=[32,32]"],
    # Dict observations with an action mask (masked actions: -inf Q-values)
    "dqn_connect_four": ["env=connect_four", "model.hidden_sizes=[32]"],
}


def transitions(env_cfg: Any, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` one-step transitions of random play in the real env (replay column names)."""
    env = make_single_env(env_cfg)
    env.action_space.seed(seed)
    rows: dict[str, list[Any]] = {
        k: [] for k in ("obs", "action", "reward", "discount", "next_obs")
    }
    obs, _ = env.reset(seed=seed)
    for _ in range(n):
        action = env.action_space.sample()
        nxt, reward, terminated, truncated, _ = env.step(action)
        for key, value in (("obs", obs), ("action", action), ("reward", reward),
                           ("discount", 0.0 if terminated else 0.99), ("next_obs", nxt)):  # fmt: skip
            rows[key].append(value)
        obs = env.reset()[0] if terminated or truncated else nxt
    env.close()
    out: dict[str, np.ndarray] = {}
    for key, values in rows.items():
        if isinstance(values[0], dict):  # Dict observations: the replay's obs/<key> columns
            out.update({f"{key}/{k}": np.stack([v[k] for v in values]) for k in values[0]})
        else:
            out[key] = np.asarray(values)
    out["reward"] = out["reward"].astype(np.float32)
    out["discount"] = out["discount"].astype(np.float32)
    return out


def observations(env_cfg: Any, n: int, seed: int) -> Any:
    """``n`` observations the env really produces (random play): an array, or a dict of them."""
    batch = transitions(env_cfg, n, seed)
    if "obs" in batch:
        return batch["obs"]
    return {k[len("obs/") :]: v for k, v in batch.items() if k.startswith("obs/")}


def write_run(run_dir: Path, algo: str, updates: int = 3, seed: int = 0) -> Path:
    """A finished run's directory for ``algo`` (``dqn`` or ``sac``); returns its checkpoint."""
    cfg = conf.load_config([*PRESETS[algo], f"seed={seed}"])
    agent = build_agent(cfg)
    plain = conf.to_container(cfg)
    tag = conf.default_model_tag(cfg.env.id, agent.tag_suffix())
    learner = Learner(cfg, agent, None, None, tag, run_dir, plain)
    batch = transitions(cfg.env, 64, seed)
    for _ in range(updates):
        learner.algo.update(learner.algo.prepare(batch, np.ones(64, np.float32)))
    learner.counters.updates = learner.algo.updates
    ckpt = learner.checkpoint()
    summary = {"env_id": cfg.env.id, "agent": agent.name, "model_tag": tag, "checkpoint": str(ckpt)}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return ckpt
