"""``load_policy(path)``: a trained policy from disk, as a plain callable.

::

    from learner.policy_io import load_policy

    policy = load_policy("runs/2026-12-01/00-36-55")   # or a checkpoint, weights, .onnx, .pt
    action = policy(obs)                                # one observation -> one action
    actions = policy(batch)                             # [B, ...] -> B actions

What ``path`` may be (:func:`learner.policy_paths.policy_kind` tells them apart, by
content where it can):

* a **run directory** (``runs/<date>/<time>/``): the checkpoint its ``summary.json`` names
  (the final one), else the newest under ``checkpoints/``;
* a **checkpoint** (``ckpt-*/``, its ``state.safetensors`` or ``state.json``, or a folder of
  checkpoints: the newest): the learner's state and the run's ``config.yaml``;
* a **weights file**: safetensors of a published version (the blob of
  :mod:`robot_edge.weights`, e.g. ``WeightStore.fetch_blob``'s bytes) or any safetensors
  file of an agent's export; the env is its metadata's ``env_id`` unless ``env`` is given;
* an **exported file**: ``.onnx`` (through onnxruntime, the ``export`` extra) or TorchScript
  ``.pt``, as ``fsrl export`` writes them (:mod:`learner.policy_formats`).

Run dirs, checkpoints and weights go through the agent contract: a checkpoint restores the
agent's learner (:meth:`~agents.core.AgentLearner.load_state`) and acts with its
:meth:`~agents.core.AgentLearner.greedy`; a weights file acts through
:meth:`~agents.core.Agent.evaluation_policy` (the leaderboard's path). DQN acts greedily,
SAC with its deterministic mean. Anything else raises :class:`PolicyLoadError` naming the path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml

import conf
from actors.envs import probe_spaces
from actors.spec import build_agent
from agents import Agent, AgentError, AgentLearner, resolve_agent
from conf.sections import EnvConfig
from learner.checkpoint import load_checkpoint
from learner.policy_formats import InputSpec, as_arrays, read_onnx, read_torchscript
from learner.policy_paths import KINDS, PolicyLoadError, policy_kind
from replay.weights import WeightStore
from robot_edge.weights import WeightFormatError, decode_weights

logger = logging.getLogger(__name__)


#: The kinds of source :func:`load_policy` reads.
class Policy:
    """A deterministic policy: numpy observations in, actions out.

    Promises: ``policy(obs)`` of one observation returns one action — an ``int`` for a
    discrete action space, an array of the action's shape otherwise; of a batch ``[B, ...]``
    (for a Dict observation, a dict of such arrays) an array of ``B`` actions. An observation
    of another shape raises ``ValueError`` naming both shapes. ``kind`` and ``source`` say
    where it came from; ``env`` is the env section it was trained on (None if unknown).
    """

    def __init__(
        self,
        act: Callable[[Any], np.ndarray],
        obs_shapes: Mapping[str, tuple[int, ...]],
        discrete: bool,
        kind: str,
        source: str,
        env: EnvConfig | None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._act = act
        self.obs_shapes = {k: tuple(int(d) for d in v) for k, v in obs_shapes.items()}
        self.discrete = bool(discrete)
        self.kind = kind
        self.source = source
        self.env = env
        self.metadata = dict(metadata or {})

    def __repr__(self) -> str:
        return f"Policy(kind={self.kind!r}, source={self.source!r}, discrete={self.discrete})"

    def __call__(self, obs: Any) -> Any:
        batch, single = self._batch(obs)
        actions = np.asarray(self._act(batch))
        if not single:
            return actions
        return int(actions[0]) if self.discrete else actions[0]

    def _batch(self, obs: Any) -> tuple[Any, bool]:
        keys = list(self.obs_shapes)
        if keys == [""]:
            if isinstance(obs, Mapping):
                raise ValueError(f"this policy takes an array observation, got keys {list(obs)}")
            arr, shape = np.asarray(obs), self.obs_shapes[""]
            if arr.shape == shape:
                return arr[None], True
            if arr.shape[1:] == shape:
                return arr, False
            raise ValueError(
                f"observation of shape {arr.shape} is neither {shape} nor [B, *{shape}]"
            )
        if not isinstance(obs, Mapping) or set(keys) - set(obs):
            got = list(obs) if isinstance(obs, Mapping) else type(obs).__name__
            raise ValueError(f"this policy takes a dict observation with keys {keys}, got {got}")
        arrays = {k: np.asarray(obs[k]) for k in keys}
        first, shape = arrays[keys[0]], self.obs_shapes[keys[0]]
        if first.shape == shape:
            return {k: a[None] for k, a in arrays.items()}, True
        if first.shape[1:] == shape:
            return arrays, False
        raise ValueError(
            f"observation {keys[0]!r} of shape {first.shape} is neither {shape} nor [B, *{shape}]"
        )


def obs_shapes(space: gym.Space) -> dict[str, tuple[int, ...]]:
    """``{"": shape}`` for an array observation, ``{key: shape}`` for a Dict one."""
    if isinstance(space, gym.spaces.Dict):
        return {k: tuple(s.shape or ()) for k, s in sorted(space.spaces.items())}
    return {"": tuple(space.shape or ())}


@dataclass
class AgentSource:
    """A policy held as its agent's networks (a run dir, checkpoint, weights file or stored
    version): what :func:`load_policy` and ``fsrl export`` build on."""

    kind: str
    source: str
    agent: Agent
    env: EnvConfig
    state: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None  # a checkpoint's
    weights: tuple[dict[str, np.ndarray], dict[str, str]] | None = None  # an export's
    info: dict[str, Any] = field(default_factory=dict)  # tag, version, ... for metadata

    def learner(self) -> AgentLearner:
        """The agent's learner (CPU) holding this source's weights."""
        learner = self.agent.learner("cpu", 0)
        try:
            if self.state is not None:
                learner.load_state(*self.state)
            elif self.weights is not None:
                learner.load_export(*self.weights)
        except (ValueError, RuntimeError, KeyError) as exc:
            raise PolicyLoadError(
                f"{self.source}: its weights do not fit the {self.agent.name} networks for "
                f"env {self.env.id!r}: {exc}"
            ) from exc
        return learner

    def policy(self) -> Policy:
        """Greedy: the learner's for a checkpoint, the agent's evaluation policy for weights."""
        if self.weights is not None:
            try:
                act = self.agent.evaluation_policy(*self.weights)
            except (ValueError, RuntimeError, KeyError) as exc:
                raise PolicyLoadError(
                    f"{self.source}: cannot act with these weights: {exc}"
                ) from exc
        else:
            act = self.learner().greedy()
        space = self.agent.observation_space
        discrete = isinstance(self.agent.action_space, gym.spaces.Discrete)
        return Policy(act, obs_shapes(space), discrete, self.kind, self.source, self.env, self.info)


def env_section(env: str | EnvConfig | Mapping[str, Any] | None) -> EnvConfig | None:
    """An env override as the typed section: an id, a mapping, or a section."""
    if env is None or isinstance(env, EnvConfig):
        return env
    if isinstance(env, str):
        return EnvConfig(id=env)
    return conf.as_section(EnvConfig, dict(env))


def load_agent(
    path: str | Path, env: str | EnvConfig | Mapping[str, Any] | None = None
) -> AgentSource:
    """The agent and weights of a run dir, checkpoint or weights file (not an exported
    file: it holds no agent). ``env`` overrides the env the policy was trained on."""
    kind, where = policy_kind(path)
    override = env_section(env)
    if kind in ("onnx", "torchscript"):
        raise PolicyLoadError(
            f"{path} is an exported {kind} file: it holds a graph, not an agent's weights "
            "(export from a run directory, checkpoint or weights file)"
        )
    if kind == "weights":
        try:
            tensors, meta = decode_weights(where.read_bytes())
        except WeightFormatError as exc:
            raise PolicyLoadError(f"{where}: not an fsrl weights file: {exc}") from exc
        return agent_from_weights(tensors, meta, str(where), override)
    return _agent_from_checkpoint(kind, where, str(path), override)


def _agent_from_checkpoint(
    kind: str, where: Path, source: str, override: EnvConfig | None
) -> AgentSource:
    config_file = where / "config.yaml"
    try:
        ckpt = load_checkpoint(where, "cpu")
        plain = yaml.safe_load(config_file.read_text())
        cfg = conf.from_container(plain)
    except (OSError, ValueError, KeyError, yaml.YAMLError) as exc:
        raise PolicyLoadError(f"{source}: checkpoint {where} cannot be read: {exc}") from exc
    if override is not None:
        cfg.env = override
    try:
        agent = build_agent(cfg)
    except (AgentError, ValueError) as exc:
        raise PolicyLoadError(f"{source}: cannot build its agent ({cfg.algo.name}): {exc}") from exc
    counters = ckpt.counters
    info = {
        "tag": counters.get("tag"),
        "learner_updates": counters.get("updates"),
        "env_steps": counters.get("env_steps"),
        "published_version": counters.get("published_version"),
        "checkpoint": str(ckpt.path),
    }
    state = (ckpt.tensors, ckpt.optimizer)
    return AgentSource(kind, source, agent, cfg.env, state=state, info=info)


def agent_from_weights(
    tensors: dict[str, np.ndarray], meta: dict[str, str], source: str, env: EnvConfig | None
) -> AgentSource:
    """The agent that published these weights (``agent`` in the metadata, DQN by default),
    sized by the metadata, on ``env`` or the metadata's ``env_id``."""
    if env is None:
        if not meta.get("env_id"):
            raise PolicyLoadError(
                f"{source}: its metadata names no env_id; pass the env it was trained on "
                "(load_policy(path, env='CartPole-v1'), or env_id=... on the command line)"
            )
        env = EnvConfig(id=meta["env_id"])
    try:
        spaces = probe_spaces(env)
        agent = resolve_agent(meta.get("agent", "dqn")).for_export(meta, *spaces)
    except (AgentError, ValueError) as exc:
        raise PolicyLoadError(f"{source}: cannot build its agent on env {env.id!r}: {exc}") from exc
    keys = ("tag", "env_id", "learner_updates", "env_steps")
    info: dict[str, Any] = {k: meta[k] for k in keys if k in meta}
    return AgentSource("weights", source, agent, env, weights=(tensors, meta), info=info)


def load_version(
    redis_url: str, namespace: str, tag: str, version: str | int = "latest",
    env: str | EnvConfig | Mapping[str, Any] | None = None,
) -> AgentSource:  # fmt: skip
    """A stored version of ``tag`` (``latest``, ``champion`` or a number) as an agent source."""
    with WeightStore(redis_url, namespace) as store:
        if str(version) == "champion":
            number = store.champion_version(tag)
            if number is None:
                raise PolicyLoadError(f"tag {tag!r} in namespace {namespace!r} has no champion")
        else:
            number = None if str(version) == "latest" else int(version)
        v, tensors, meta = store.fetch(tag, number)
    source = f"{tag} version {v} ({namespace})"
    loaded = agent_from_weights(tensors, dict(meta), source, env_section(env))
    loaded.kind = "store"
    loaded.info["version"] = v
    return loaded


def _env_of(cfg: Any) -> EnvConfig | None:
    return EnvConfig(id=cfg.env_id, kwargs=dict(cfg.env_kwargs or {})) if cfg.env_id else None


def source_of(cfg: Any) -> AgentSource:
    """The agent source a play/export config (:class:`conf.tools.PolicySourceConfig`) names:
    ``path``, or ``tag`` (and ``version``) in the store at ``redis_url``."""
    if cfg.tag is not None:
        return load_version(cfg.redis_url, cfg.namespace, cfg.tag, cfg.version, _env_of(cfg))
    return load_agent(cfg.path, _env_of(cfg))


def policy_of(cfg: Any) -> Policy:
    """The policy a play config names (any path :func:`load_policy` reads, or a stored version)."""
    if cfg.tag is not None:
        return source_of(cfg).policy()
    return load_policy(cfg.path, _env_of(cfg))


def load_policy(path: str | Path, env: str | EnvConfig | Mapping[str, Any] | None = None) -> Policy:
    """The greedy policy stored at ``path`` (see the module docstring for what it may be).

    ``env`` (an id, an ``env`` section or a mapping) replaces the env the policy was trained
    on (its observation space must fit the network). Raises :class:`PolicyLoadError` naming
    ``path`` when it holds no policy fsrl can load.
    """
    kind, where = policy_kind(path)
    if kind in ("onnx", "torchscript"):
        return _exported_policy(kind, where, env_section(env))
    return load_agent(path, env).policy()


def _exported_policy(kind: str, path: Path, env: EnvConfig | None) -> Policy:
    try:
        run, meta = read_onnx(path) if kind == "onnx" else read_torchscript(path)
    except ValueError as exc:
        raise PolicyLoadError(str(exc)) from exc
    inputs = [InputSpec.from_json(s) for s in meta["inputs"]]
    q_values = meta.get("output") == "q_values"

    def act(obs: Any) -> np.ndarray:
        out = run(as_arrays(obs, inputs))
        return out.argmax(axis=1) if q_values else out

    shapes = {s.key: s.shape for s in inputs}
    if env is None and isinstance(meta.get("env"), dict):
        env = conf.as_section(EnvConfig, meta["env"])
    return Policy(act, shapes, q_values, kind, str(path), env, meta)


__all__ = [
    "KINDS",
    "AgentSource",
    "Policy",
    "PolicyLoadError",
    "agent_from_weights",
    "env_section",
    "load_agent",
    "load_policy",
    "load_version",
    "obs_shapes",
    "policy_kind",
    "policy_of",
    "source_of",
]
