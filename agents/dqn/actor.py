"""The DQN actor's Q-function: numpy for ``mlp_dueling``, torch (imported lazily) for the rest.

An actor only runs small forward passes (a batch of ``envs_per_actor`` observations to
act, a chunk of transitions for initial priorities), so for the default dueling MLP it
evaluates the learner's exported weights with numpy (:class:`NumpyDuelingPolicy`, the
forward pass of :class:`robot_edge.policy.NumpyPolicy`) and never imports torch, which
saves each actor process about a second of CPU at start-up. ``cnn_dueling`` and
``candidate_scorer`` run the learner's own torch module (:class:`TorchPolicy`).

Both follow :class:`ActorPolicy`: ``q_values(obs)`` on a batch as the vector env returns
it, ``load(tensors, metadata)`` with the weight store's tensors (names and shapes of
``agents.dqn.networks.export_for_edge``), and ``ensure_weights()`` for the seeded initial
network an actor acts with before any version is published.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from gymnasium import spaces

from agents.dqn.archs import MASK_KEY, resolve_arch
from conf import as_section
from conf.sections import ModelConfig
from robot_edge.policy import NumpyPolicy

logger = logging.getLogger(__name__)


class QFunction(Protocol):
    """What the DQN actor policy needs from its Q-function copy.

    * ``q_values(obs)`` — Q-values ``[B, A]`` (float32) for a batch: an array ``[B, ...]``
      or a dict of arrays keyed like the observation space; where ``obs["action_mask"]``
      is 0 the value is ``-inf`` (like ``agents.dqn.networks.QNetwork.forward``).
    * ``load(tensors, metadata)`` — act with these weights from now on; raises
      ``ValueError`` naming the tensor or value that does not fit, and then keeps the
      weights it had.
    * ``ensure_weights()`` — when nothing was loaded yet, take the seeded initial network
      (``agents.dqn.networks.build_q_network`` after ``torch.manual_seed(seed)``).
    """

    arch: str

    def q_values(self, obs: Any) -> np.ndarray: ...

    def load(
        self, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None
    ) -> None: ...

    def ensure_weights(self) -> None: ...


def _masked(q: np.ndarray, obs: Any) -> np.ndarray:
    if isinstance(obs, Mapping) and MASK_KEY in obs:
        q = np.where(np.asarray(obs[MASK_KEY]).astype(bool), q, np.float32(-np.inf))
    return q


def _seeded_network(model_cfg: Any, obs_space: spaces.Space, num_actions: int, seed: int) -> Any:
    """The learner's network for ``model_cfg``, initialised after ``torch.manual_seed(seed)``."""
    import torch

    from agents.dqn.networks import build_q_network

    torch.manual_seed(seed)
    net = build_q_network(model_cfg, obs_space, num_actions)
    net.eval()
    return net


class NumpyDuelingPolicy:
    """``mlp_dueling`` evaluated with numpy; never imports torch once weights are loaded.

    Promises: the same Q-values as ``agents.dqn.networks.MLPDuelingQ`` for the same weights
    (float32; a Dict observation is flattened like ``MLPDuelingQ.features``: keys other
    than ``action_mask`` in sorted order, each flattened, concatenated; then
    ``input_scale`` of ``model_cfg``); :meth:`load` accepts exactly the tensors whose
    names and shapes the configured network has (``hidden_sizes``, ``head_hidden_size``,
    the env's observation size and action count) and raises ``ValueError`` otherwise,
    keeping the previous weights.
    """

    arch = "mlp_dueling"

    def __init__(
        self,
        model_cfg: Mapping[str, Any],
        obs_space: spaces.Space,
        num_actions: int,
        seed: int,
    ) -> None:
        self._numpy_policy_cls = NumpyPolicy
        self.model_cfg = as_section(ModelConfig, dict(model_cfg))
        self.obs_space = obs_space
        self.num_actions = int(num_actions)
        self.seed = int(seed)
        self.input_scale = float(self.model_cfg.input_scale)
        if isinstance(obs_space, spaces.Dict):
            self.obs_keys = sorted(k for k in obs_space.spaces if k != MASK_KEY)
            sizes = [int(np.prod(obs_space.spaces[k].shape or ())) for k in self.obs_keys]
            self.obs_dim = int(sum(sizes))
        else:
            if obs_space.shape is None:
                raise ValueError(f"observation space {obs_space} has no shape")
            self.obs_keys = []
            self.obs_dim = int(np.prod(obs_space.shape))
        hidden = [int(h) for h in self.model_cfg.hidden_sizes]
        if not hidden:
            raise ValueError("model.hidden_sizes is empty: mlp_dueling needs a torso layer")
        head = int(self.model_cfg.head_hidden_size or 0)
        self.expected_shapes = _dueling_shapes(self.obs_dim, hidden, head, self.num_actions)
        self._net: Any = None  # a robot_edge.policy.NumpyPolicy once weights are loaded

    @property
    def loaded(self) -> bool:
        return self._net is not None

    def features(self, obs: Any) -> np.ndarray:
        """The network's input ``[B, obs_dim]`` float32 (before ``input_scale``)."""
        if isinstance(obs, Mapping):
            if not self.obs_keys:
                raise ValueError(
                    f"a dict observation {sorted(obs)} for a network built for a Box observation"
                )
            parts = [np.asarray(obs[k]) for k in self.obs_keys]
            batch = len(parts[0])
            x = np.concatenate([p.reshape(batch, -1).astype(np.float32) for p in parts], axis=1)
        else:
            arr = np.asarray(obs)
            x = arr.reshape(len(arr), -1).astype(np.float32, copy=False)
        if x.shape[1] != self.obs_dim:
            raise ValueError(
                f"observation batch has {x.shape[1]} values per row, the network takes {self.obs_dim}"
            )
        return x

    def q_values(self, obs: Any) -> np.ndarray:
        if self._net is None:
            raise RuntimeError("NumpyDuelingPolicy has no weights: call load() or ensure_weights()")
        x = self.features(obs)
        q = np.asarray(self._net.q_values(x), dtype=np.float32).reshape(len(x), self.num_actions)
        return _masked(q, obs)

    def load(self, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None) -> None:
        meta = dict(metadata or {})
        arch = meta.get("arch", self.arch)
        if arch != self.arch:
            raise ValueError(f"weights are for arch {arch!r}, this actor runs {self.arch!r}")
        check_shapes(tensors, self.expected_shapes)
        if "input_scale" in meta:
            declared = _json_float(meta, "input_scale")
            if declared != self.input_scale:
                raise ValueError(
                    f"weights were trained with input_scale={declared}, this actor's "
                    f"model.input_scale={self.input_scale}"
                )
        if "obs_keys" in meta:
            keys = json.loads(meta["obs_keys"])
            if keys != self.obs_keys:
                raise ValueError(
                    f"weights take observation keys {keys}, the env gives {self.obs_keys}"
                )
        # The shapes are ours now; NumpyPolicy reads the forward pass from the names.
        meta.update(
            arch=self.arch,
            input_scale=json.dumps(self.input_scale),
            num_actions=json.dumps(self.num_actions),
            obs_shape=json.dumps([self.obs_dim]),
        )
        self._net = self._numpy_policy_cls(tensors, meta)  # PolicyError is a ValueError

    def ensure_weights(self) -> None:
        if self._net is not None:
            return
        from agents.dqn.networks import export_for_edge

        net = _seeded_network(self.model_cfg, self.obs_space, self.num_actions, self.seed)
        self.load(*export_for_edge(net))
        logger.debug("acting with the seeded initial network (seed %d)", self.seed)


def _dueling_shapes(
    obs_dim: int, hidden: Sequence[int], head: int, num_actions: int
) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of ``agents.dqn.networks.MLPDuelingQ`` (its ``state_dict``)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def linear_stack(prefix: str, sizes: Sequence[int]) -> None:
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
            shapes[f"{prefix}.{i}.weight"] = (b, a)
            shapes[f"{prefix}.{i}.bias"] = (b,)

    linear_stack("torso", [obs_dim, *hidden])
    heads = [head] if head else []
    linear_stack("value", [hidden[-1], *heads, 1])
    linear_stack("advantage", [hidden[-1], *heads, num_actions])
    return shapes


def check_shapes(
    tensors: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]]
) -> None:
    """Raise ``ValueError`` unless ``tensors`` has exactly the ``expected`` names and shapes.

    The message names every missing and unexpected tensor and every shape that differs.
    """
    problems = []
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing:
        problems.append(f"missing {missing}")
    if extra:
        problems.append(f"unexpected {extra}")
    for name in sorted(set(expected) & set(tensors)):
        got = tuple(np.shape(tensors[name]))
        if got != tuple(expected[name]):
            problems.append(f"{name} is {list(got)}, the network needs {list(expected[name])}")
    if problems:
        raise ValueError("weights do not fit the network: " + "; ".join(problems))


def _json_float(meta: Mapping[str, str], key: str) -> float:
    try:
        return float(json.loads(meta[key]))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata {key}={meta[key]!r} is not a number") from exc


class TorchPolicy:
    """The learner's torch module (``cnn_dueling``, ``candidate_scorer``) on the actor's CPU.

    Promises: exactly ``agents.dqn.networks.build_q_network(model_cfg, ...)`` seeded with
    ``torch.manual_seed(seed)`` at construction, evaluated under ``torch.no_grad()`` with
    ``torch_threads`` intra-op threads; :meth:`load` is ``agents.dqn.networks.load_tensors``
    (a misfit raises ``ValueError`` and leaves the weights as they were).
    """

    def __init__(
        self,
        model_cfg: Mapping[str, Any],
        obs_space: spaces.Space,
        num_actions: int,
        seed: int,
        torch_threads: int = 1,
    ) -> None:
        import torch

        self._torch = torch
        torch.set_num_threads(int(torch_threads))
        self._net = _seeded_network(model_cfg, obs_space, num_actions, seed)
        self.arch = str(self._net.arch)

    def q_values(self, obs: Any) -> np.ndarray:
        from agents.dqn.networks import obs_to_tensor

        with self._torch.no_grad():
            return self._net(obs_to_tensor(obs)).numpy()

    def load(self, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None) -> None:
        from agents.dqn.networks import load_tensors

        arch = (metadata or {}).get("arch", self.arch)
        if arch != self.arch:
            raise ValueError(f"weights are for arch {arch!r}, this actor runs {self.arch!r}")
        # check every shape first: load_state_dict copies the fitting tensors before it
        # complains about the others, which would leave a half-loaded network
        check_shapes(tensors, {k: tuple(v.shape) for k, v in self._net.state_dict().items()})
        try:
            load_tensors(self._net, tensors)
        except RuntimeError as exc:  # torch's shape mismatch message names the tensor
            raise ValueError(str(exc)) from exc

    def ensure_weights(self) -> None:
        """The seeded network is built at construction: nothing to do."""


def make_actor_policy(
    model_cfg: Mapping[str, Any],
    obs_space: spaces.Space,
    num_actions: int,
    seed: int,
    torch_threads: int = 1,
) -> QFunction:
    """The policy for ``model_cfg["arch"]`` (``auto`` resolved from ``obs_space``).

    ``mlp_dueling`` → :class:`NumpyDuelingPolicy` (no torch until :meth:`ensure_weights`
    needs the seeded initial network); anything else → :class:`TorchPolicy`.
    """
    model = as_section(ModelConfig, dict(model_cfg))
    arch = resolve_arch(str(model.arch), obs_space)
    cfg = {**model.__dict__, "arch": arch}
    if arch == "mlp_dueling":
        return NumpyDuelingPolicy(cfg, obs_space, num_actions, seed)
    return TorchPolicy(cfg, obs_space, num_actions, seed, torch_threads)


__all__ = [
    "QFunction",
    "NumpyDuelingPolicy",
    "TorchPolicy",
    "check_shapes",
    "make_actor_policy",
]
