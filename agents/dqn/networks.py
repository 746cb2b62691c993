"""Q-networks for fsrl's DQN and their export format for the edge.

:func:`build_q_network` returns an ``nn.Module`` whose ``forward`` takes a batch — a
``Tensor`` or a ``dict[str, Tensor]`` keyed like the observation space — and returns
Q-values ``[B, A]``. When the observation carries ``action_mask`` (``[B, A]``, nonzero
= valid), invalid actions get ``-inf``, so ``argmax`` picks valid actions only and a
target ``max`` runs over valid next actions.

Architectures (``model.arch``):

* ``mlp_dueling`` — Box observation, flattened (a Dict observation: its keys other
  than ``action_mask`` flattened and concatenated in sorted key order); a ReLU torso,
  value and advantage heads, ``Q = V + A - mean(A)``.
* ``cnn_dueling`` — an image (uint8 or float; scaled by ``input_scale``, e.g. 1/255):
  ``[C, H, W]`` (stacked frames ``[4, 84, 84]``), channels-last ``[H, W, C]`` (RGB
  ``[210, 160, 3]``) or one gray ``[H, W]`` (``model.cnn_layout``, auto-detected), moved to
  ``[C, H, W]`` inside the network; ReLU conv layers, then the same dueling MLP. The
  Nature-DQN torso for 84×84 Atari is channels ``[32, 64, 64]``, kernels ``[8, 4, 3]``,
  strides ``[4, 2, 1]``, ``hidden_sizes [512]`` (``experiment=atari``).
* ``candidate_scorer`` — Dict observation with ``candidate_features [A, F]`` float32
  and ``action_mask [A]``; one shared MLP scores each candidate: ``Q_i = f(x_i)``.
* ``auto`` — picked from the observation space by :func:`resolve_arch`.

Export for the edge (:func:`export_for_edge`): tensors are the module's own
``state_dict`` as float32 numpy arrays, named

* ``torso.{i}.weight`` ``[out, in]`` and ``torso.{i}.bias`` ``[out]`` — i-th Linear of the
  torso, each followed by ReLU (``candidate_scorer``: the scorer's layers, applied
  to every candidate row);
* ``value.{j}.*`` and ``advantage.{j}.*`` — the heads' Linear layers, ReLU between
  them and none after the last (``mlp_dueling``/``cnn_dueling``); the last layer of
  ``value`` has 1 output, of ``advantage`` ``num_actions``;
* ``conv.{k}.weight`` ``[out_c, in_c, kh, kw]``, ``conv.{k}.bias`` — ``cnn_dueling`` only,
  stride ``cnn_strides[k]``, no padding, each followed by ReLU, then flattened in C,H,W
  order into the torso;
* ``head.weight`` ``[1, last]``, ``head.bias`` — ``candidate_scorer``'s score layer.

``metadata`` (``dict[str, str]``, JSON-encoded values) holds ``arch``, ``num_actions``,
``obs_shape``/``obs_keys``, ``hidden_sizes``, ``head_hidden_size``, ``input_scale``,
``activation`` (``relu``) and the CNN lists — everything needed to rebuild the
network without torch (``robot_edge`` does a numpy forward pass of ``mlp_dueling``):
``x = obs.reshape(-1) * input_scale; for each torso layer: x = relu(W @ x + b)``; the
heads likewise; ``q = v + a - a.mean()``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from agents.dqn.archs import (
    ARCHS,
    CANDIDATES_KEY,
    MASK_KEY,
    model_config_from_metadata,
    resolve_arch,
    resolve_cnn_layout,
)
from agents.registry import load_object
from conf import as_section
from conf.sections import ModelConfig

logger = logging.getLogger(__name__)

Obs = Tensor | Mapping[str, Tensor]


def _mlp(sizes: Sequence[int]) -> nn.ModuleList:
    return nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def _run(layers: nn.ModuleList, x: Tensor, relu_last: bool) -> Tensor:
    for i, layer in enumerate(layers):
        x = layer(x)
        if relu_last or i < len(layers) - 1:
            x = torch.relu(x)
    return x


def _flat_keys(obs_space: gym.Space) -> list[str]:
    if isinstance(obs_space, gym.spaces.Dict):
        return sorted(k for k in obs_space.spaces if k != MASK_KEY)
    return []


def _flat_dim(obs_space: gym.Space) -> int:
    if isinstance(obs_space, gym.spaces.Dict):
        return sum(int(np.prod(obs_space.spaces[k].shape or ())) for k in _flat_keys(obs_space))
    if obs_space.shape is None:
        raise ValueError(f"observation space {obs_space} has no shape")
    return int(np.prod(obs_space.shape))


class QNetwork(nn.Module):
    """Base of fsrl's Q-networks: ``forward(obs) -> Q [B, A]`` with action masking.

    Your own network (``model.arch=package.module:Name``) subclasses it: its constructor
    takes ``(observation_space, num_actions, model)`` (the typed ``model`` section), calls
    ``super().__init__(num_actions, model.input_scale)`` and implements :meth:`q_values`.
    Actors then run it with torch; ``export`` publishes its ``state_dict``.
    """

    arch: str = ""

    def __init__(self, num_actions: int, input_scale: float) -> None:
        super().__init__()
        self.num_actions = int(num_actions)
        self.input_scale = float(input_scale)
        self.meta: dict[str, Any] = {}

    def q_values(self, obs: Obs) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, obs: Obs) -> Tensor:
        q = self.q_values(obs)
        if isinstance(obs, Mapping) and MASK_KEY in obs:
            mask = obs[MASK_KEY].to(q.device).bool()
            q = q.masked_fill(~mask, float("-inf"))
        return q

    def _scaled(self, x: Tensor) -> Tensor:
        x = x.float()
        return x * self.input_scale if self.input_scale != 1.0 else x


class MLPDuelingQ(QNetwork):
    """Flattened observation → ReLU torso → dueling heads ``Q = V + A - mean(A)``."""

    arch = "mlp_dueling"

    def __init__(
        self,
        obs_space: gym.Space,
        num_actions: int,
        hidden_sizes: Sequence[int],
        head_hidden_size: int = 0,
        input_scale: float = 1.0,
    ) -> None:
        super().__init__(num_actions, input_scale)
        self.obs_keys = _flat_keys(obs_space)
        in_dim = _flat_dim(obs_space)
        hidden = [int(h) for h in hidden_sizes]
        self.torso = _mlp([in_dim, *hidden])
        head = [head_hidden_size] if head_hidden_size else []
        self.value = _mlp([hidden[-1], *head, 1])
        self.advantage = _mlp([hidden[-1], *head, num_actions])
        self.meta = {
            "obs_shape": [in_dim] if self.obs_keys else list(obs_space.shape or ()),
            "obs_keys": self.obs_keys,
            "hidden_sizes": hidden,
            "head_hidden_size": int(head_hidden_size),
        }

    def features(self, obs: Obs) -> Tensor:
        if isinstance(obs, Mapping):
            parts = [obs[k].flatten(1).float() for k in self.obs_keys]
            x = torch.cat(parts, dim=1)
        else:
            x = obs.flatten(1)
        return _run(self.torso, self._scaled(x), relu_last=True)

    def dueling(self, h: Tensor) -> Tensor:
        v = _run(self.value, h, relu_last=False)
        a = _run(self.advantage, h, relu_last=False)
        return v + a - a.mean(dim=1, keepdim=True)

    def q_values(self, obs: Obs) -> Tensor:
        return self.dueling(self.features(obs))


class CNNDuelingQ(MLPDuelingQ):
    """An image (``[C, H, W]``, ``[H, W, C]`` or ``[H, W]``) → ReLU convs → flatten → dueling MLP."""

    arch = "cnn_dueling"

    def __init__(
        self,
        obs_space: gym.Space,
        num_actions: int,
        channels: Sequence[int],
        kernel_sizes: Sequence[int],
        strides: Sequence[int],
        hidden_sizes: Sequence[int],
        head_hidden_size: int = 0,
        input_scale: float = 1.0,
        layout: str = "auto",
    ) -> None:
        if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) not in (2, 3):
            raise ValueError(
                f"cnn_dueling needs an image Box observation ([C, H, W], [H, W, C] or [H, W]), "
                f"got {obs_space}"
            )
        self.layout = resolve_cnn_layout(layout, tuple(obs_space.shape))
        shape = [int(x) for x in obs_space.shape]
        if self.layout == "hwc":
            c, h, w = shape[2], shape[0], shape[1]
        elif self.layout == "hw":
            c, h, w = 1, shape[0], shape[1]
        else:
            c, h, w = shape
        convs = []
        in_c = c
        for out_c, k, s in zip(channels, kernel_sizes, strides, strict=True):
            convs.append(nn.Conv2d(in_c, int(out_c), int(k), int(s)))
            h, w = (h - int(k)) // int(s) + 1, (w - int(k)) // int(s) + 1
            if h <= 0 or w <= 0:
                raise ValueError(
                    f"cnn_dueling: image {tuple(obs_space.shape)} ({self.layout}) too small for "
                    f"kernels {list(kernel_sizes)} / strides {list(strides)}"
                )
            in_c = int(out_c)
        flat_space = gym.spaces.Box(-np.inf, np.inf, (in_c * h * w,), np.float32)
        super().__init__(flat_space, num_actions, hidden_sizes, head_hidden_size, input_scale)
        self.conv = nn.ModuleList(convs)
        self.meta.update(
            obs_shape=[int(x) for x in obs_space.shape],
            cnn_channels=[int(x) for x in channels],
            cnn_kernel_sizes=[int(x) for x in kernel_sizes],
            cnn_strides=[int(x) for x in strides],
            cnn_layout=self.layout,
        )

    def q_values(self, obs: Obs) -> Tensor:
        x = obs["obs"] if isinstance(obs, Mapping) else obs
        if self.layout == "hwc":
            x = x.permute(0, 3, 1, 2)
        elif self.layout == "hw":
            x = x.unsqueeze(1)
        x = self._scaled(x)
        for conv in self.conv:
            x = torch.relu(conv(x))
        h = _run(self.torso, x.flatten(1), relu_last=True)
        return self.dueling(h)


class CandidateScorerQ(QNetwork):
    """Scores each candidate row of ``candidate_features [B, A, F]`` with one shared MLP."""

    arch = "candidate_scorer"

    def __init__(
        self,
        obs_space: gym.Space,
        num_actions: int,
        hidden_sizes: Sequence[int],
        input_scale: float = 1.0,
    ) -> None:
        super().__init__(num_actions, input_scale)
        if not isinstance(obs_space, gym.spaces.Dict) or CANDIDATES_KEY not in obs_space.spaces:
            raise ValueError(
                f"candidate_scorer needs a Dict observation with {CANDIDATES_KEY!r}, got {obs_space}"
            )
        shape = obs_space.spaces[CANDIDATES_KEY].shape
        if shape is None or len(shape) != 2 or int(shape[0]) != num_actions:
            raise ValueError(
                f"candidate_scorer: {CANDIDATES_KEY} must be [num_actions={num_actions}, F], got {shape}"
            )
        feat = int(shape[1])
        hidden = [int(h) for h in hidden_sizes]
        self.torso = _mlp([feat, *hidden])
        self.head = nn.Linear(hidden[-1], 1)
        self.meta = {"feature_dim": feat, "hidden_sizes": hidden, "obs_keys": [CANDIDATES_KEY]}

    def q_values(self, obs: Obs) -> Tensor:
        if not isinstance(obs, Mapping):
            raise TypeError("candidate_scorer takes a dict batch with 'candidate_features'")
        x = self._scaled(obs[CANDIDATES_KEY])  # [B, A, F]
        h = _run(self.torso, x, relu_last=True)
        return self.head(h).squeeze(-1)


def build_q_network(model_cfg: Any, obs_space: gym.Space, num_actions: int) -> QNetwork:
    """Build the Q-network ``model_cfg`` (a ModelConfig or dict) names for this env.

    ``forward`` takes a Tensor or dict of Tensors ``[B, ...]`` and returns Q ``[B, A]``.
    """
    model = as_section(ModelConfig, model_cfg)
    arch = resolve_arch(str(model.arch), obs_space)
    if ":" in arch:  # the user's own network, found on the Python path
        cls = load_object(arch, "model.arch")
        if not (isinstance(cls, type) and issubclass(cls, QNetwork)):
            raise ValueError(
                f"model.arch={arch!r} is not a subclass of agents.dqn.networks.QNetwork"
            )
        net: QNetwork = cls(obs_space, num_actions, model)  # type: ignore[call-arg,arg-type]
        net.arch = arch
        return net
    hidden = list(model.hidden_sizes)
    head_hidden = int(model.head_hidden_size or 0)
    scale = float(model.input_scale)
    if arch == "mlp_dueling":
        return MLPDuelingQ(obs_space, num_actions, hidden, head_hidden, scale)
    if arch == "cnn_dueling":
        return CNNDuelingQ(
            obs_space,
            num_actions,
            list(model.cnn_channels),
            list(model.cnn_kernel_sizes),
            list(model.cnn_strides),
            hidden,
            head_hidden,
            scale,
            str(model.cnn_layout),
        )
    return CandidateScorerQ(obs_space, num_actions, hidden, scale)


def export_for_edge(model: QNetwork) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The model's tensors (float32 numpy, names in the module docstring) and metadata.

    Metadata values are JSON strings; it is everything needed to rebuild the network
    without torch, and what :func:`build_from_export` reads back.
    """
    tensors = {
        name: t.detach().to("cpu", torch.float32).contiguous().numpy().copy()
        for name, t in model.state_dict().items()
    }
    meta: dict[str, Any] = {
        "arch": model.arch,
        "num_actions": model.num_actions,
        "input_scale": model.input_scale,
        "activation": "relu",
        "format": "fsrl-q/1",
        **model.meta,
    }
    return tensors, {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}


def load_tensors(model: nn.Module, tensors: Mapping[str, np.ndarray]) -> None:
    """Copy exported/fetched tensors into ``model`` (names and shapes must match exactly)."""
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}
    missing = set(model.state_dict()) - set(state)
    extra = set(state) - set(model.state_dict())
    if missing or extra:
        raise ValueError(
            f"weights do not fit the network: missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    model.load_state_dict(state, strict=True)


def obs_to_tensor(obs: Any, device: torch.device | str = "cpu") -> Obs:
    """A numpy batch (array or dict of arrays, leading dim B) as torch tensors on ``device``."""
    if isinstance(obs, Mapping):
        return {k: torch.as_tensor(np.asarray(v), device=device) for k, v in obs.items()}
    return torch.as_tensor(np.asarray(obs), device=device)


__all__ = [
    "ARCHS",
    "CANDIDATES_KEY",
    "MASK_KEY",
    "CNNDuelingQ",
    "CandidateScorerQ",
    "MLPDuelingQ",
    "QNetwork",
    "build_q_network",
    "export_for_edge",
    "load_tensors",
    "model_config_from_metadata",
    "obs_to_tensor",
    "resolve_arch",
]
