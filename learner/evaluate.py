"""Greedy evaluation on fixed seeds, and ``python -m learner.evaluate``: a leaderboard of
the stored versions of ``model.tag``.

``evaluate_policy`` plays ``episodes`` episodes at once (one env per episode, seeds
``seed, seed+1, …``) with batched greedy forward passes, so a CartPole evaluation
of 20 full episodes costs well under a second of CPU.

CLI::

    python -m learner.evaluate model.tag=CartPole-v1-mlp_dueling replay.redis_url=redis://host:6379/0
    python -m learner.evaluate ... +versions=[3,7] env.eval_episodes=50
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.dqn.networks import QNetwork, build_q_network, load_tensors, model_config_from_metadata

logger = logging.getLogger(__name__)


def _get(cfg: Any, name: str, default: Any = None) -> Any:
    if isinstance(cfg, Mapping):
        return cfg.get(name, default)
    return getattr(cfg, name, default)


def make_env(env_cfg: Any, render_mode: str | None = None) -> gym.Env:
    """``gymnasium.make`` for an ``env`` config section ("module:Id" imports the module)."""
    if render_mode is None:  # the actors package owns env creation ("module:Id", kwargs)
        from actors.envs import make_single_env

        plain = env_cfg if isinstance(env_cfg, Mapping) else dataclasses.asdict(env_cfg)
        return make_single_env(plain)
    kwargs = dict(_get(env_cfg, "kwargs", {}) or {})
    steps = _get(env_cfg, "max_episode_steps")
    if steps:
        kwargs["max_episode_steps"] = int(steps)
    if render_mode:
        kwargs["render_mode"] = render_mode
    env_id = str(_get(env_cfg, "id"))
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as exc:
        raise ValueError(f"env.id={env_id!r} cannot be made: {exc}") from exc


def env_spaces(env_cfg: Any) -> tuple[gym.Space, int]:
    """The observation space and number of actions of the configured env."""
    env = make_env(env_cfg)
    try:
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise ValueError(
                f"env.id={_get(env_cfg, 'id')!r} has action space {env.action_space}; DQN needs Discrete"
            )
        return env.observation_space, int(env.action_space.n)
    finally:
        env.close()


def _stack(observations: list[Any]) -> Any:
    first = observations[0]
    if isinstance(first, Mapping):
        return {k: np.stack([np.asarray(o[k]) for o in observations]) for k in first}
    return np.stack([np.asarray(o) for o in observations])


def _to_torch(obs: Any, device: torch.device) -> Any:
    if isinstance(obs, Mapping):
        return {k: torch.as_tensor(v, device=device) for k, v in obs.items()}
    return torch.as_tensor(obs, device=device)


@torch.no_grad()
def evaluate_policy(
    model: QNetwork,
    env_cfg: Any,
    episodes: int,
    seed: int,
    device: torch.device | str = "cpu",
    max_steps: int = 1_000_000,
) -> np.ndarray:
    """Greedy returns of ``episodes`` episodes with seeds ``seed + i`` (order kept)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    envs = [make_env(env_cfg) for _ in range(episodes)]
    try:
        obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
        returns = np.zeros(episodes, dtype=np.float64)
        active = list(range(episodes))
        steps = 0
        while active and steps < max_steps:
            q = model(_to_torch(_stack([obs[i] for i in active]), device))
            actions = q.argmax(dim=1).cpu().numpy()
            still = []
            for i, a in zip(active, actions, strict=True):
                o, r, terminated, truncated, _ = envs[i].step(int(a))
                returns[i] += float(r)
                obs[i] = o
                if not (terminated or truncated):
                    still.append(i)
            active = still
            steps += 1
        return returns
    finally:
        for env in envs:
            env.close()
        model.train(was_training)


def leaderboard(
    store: Any,
    tag: str,
    env_cfg: Any,
    episodes: int,
    seed: int,
    versions: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Evaluate stored versions of ``tag`` on the same seeds; best mean first."""
    obs_space, num_actions = env_spaces(env_cfg)
    rows = []
    for version in versions or store.versions(tag):
        v, tensors, meta = store.fetch(tag, version)
        model = build_q_network(model_config_from_metadata(meta), obs_space, num_actions)
        load_tensors(model, tensors)
        returns = evaluate_policy(model, env_cfg, episodes, seed)
        rows.append(
            {
                "version": v,
                "mean_return": float(returns.mean()),
                "std_return": float(returns.std()),
                "min_return": float(returns.min()),
                "episodes": episodes,
            }
        )
    rows.sort(key=lambda r: (-r["mean_return"], -r["version"]))
    return rows


def main(argv: list[str] | None = None) -> int:
    """CLI: print the leaderboard of ``model.tag`` (Hydra-style overrides as arguments)."""
    from rich.console import Console
    from rich.table import Table

    import conf
    from conf.cli import exit_if_help
    from replay.weights import WeightStore

    args = list(sys.argv[1:] if argv is None else argv)
    exit_if_help(
        args,
        "python -m learner.evaluate model.tag=TAG replay.redis_url=URL [+versions=[3,7]] [OVERRIDES...]",
        "Evaluate stored versions of model.tag greedily on fixed seeds and print a leaderboard.",
    )
    versions = None
    rest = []
    for a in args:
        if a.startswith("+versions="):
            versions = [int(x) for x in a.split("=", 1)[1].strip("[]").split(",") if x]
        else:
            rest.append(a)
    cfg = conf.load_config(rest)
    logging.basicConfig(level=cfg.logging.level)
    if cfg.replay.redis_url is None:
        raise SystemExit(
            "learner.evaluate needs replay.redis_url=redis://host:port/db (the store holding "
            "the versions; a run's embedded Redis lives only as long as the run)"
        )
    store = WeightStore(cfg.replay.redis_url, cfg.replay.namespace or "default")
    tag = cfg.model.tag
    if tag is None:
        tags = store.tags()
        if len(tags) != 1:
            raise SystemExit(f"pass model.tag=<one of {tags}>")
        tag = tags[0]
    rows = leaderboard(store, tag, cfg.env, cfg.env.eval_episodes, cfg.env.eval_seed, versions)
    table = Table(
        title=f"{tag} on {cfg.env.id}: {cfg.env.eval_episodes} episodes, seeds {cfg.env.eval_seed}+"
    )
    for col in ("rank", "version", "mean", "std", "min"):
        table.add_column(col, justify="right")
    for rank, r in enumerate(rows, 1):
        table.add_row(
            str(rank),
            str(r["version"]),
            f"{r['mean_return']:.2f}",
            f"{r['std_return']:.2f}",
            f"{r['min_return']:.2f}",
        )
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
