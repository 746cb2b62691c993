"""On-device inference: a numpy forward pass of the learner's exported Q-network.

Follows the export convention of ``learner/models.py`` (``export_for_edge``) for
``mlp_dueling``: ``x = obs.reshape(-1) * input_scale``; every ``torso.{i}`` Linear is
followed by ReLU; the ``value.{j}`` and ``advantage.{j}`` heads have ReLU between
their layers and none after the last; ``q = v + a - mean(a)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

SUPPORTED_ARCHS = ("mlp_dueling",)


class PolicyError(ValueError):
    """Weights or metadata that do not make a usable network (the message names what)."""


def _layers(tensors: Mapping[str, np.ndarray], prefix: str) -> list[tuple[np.ndarray, np.ndarray]]:
    layers: list[tuple[np.ndarray, np.ndarray]] = []
    i = 0
    while f"{prefix}.{i}.weight" in tensors:
        w = np.asarray(tensors[f"{prefix}.{i}.weight"], dtype=np.float32)
        b_name = f"{prefix}.{i}.bias"
        if b_name not in tensors:
            raise PolicyError(f"missing tensor {b_name!r}")
        b = np.asarray(tensors[b_name], dtype=np.float32)
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise PolicyError(f"{prefix}.{i}: weight {w.shape} and bias {b.shape} do not fit")
        if layers and layers[-1][0].shape[0] != w.shape[1]:
            raise PolicyError(
                f"{prefix}.{i}: takes {w.shape[1]} inputs but the previous layer gives "
                f"{layers[-1][0].shape[0]}"
            )
        layers.append((w, b))
        i += 1
    if not layers:
        raise PolicyError(f"no '{prefix}.0.weight' tensor: not an mlp_dueling export")
    return layers


def _meta(metadata: Mapping[str, str], key: str, default: object) -> object:
    raw = metadata.get(key)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # plain strings (arch, activation) are stored without JSON quotes


class NumpyPolicy:
    """A dueling MLP Q-network evaluated with numpy; ``act(obs)`` is the greedy action.

    Promises: construction validates every name and shape (a bad export raises
    PolicyError and nothing half-built is kept); outputs are float32 Q-values of
    length ``num_actions``.
    """

    def __init__(self, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> None:
        arch = metadata.get("arch", "")
        if arch not in SUPPORTED_ARCHS:
            raise PolicyError(f"arch {arch!r} is not supported on the edge: {SUPPORTED_ARCHS}")
        if _meta(metadata, "activation", "relu") != "relu":
            raise PolicyError(f"activation {metadata.get('activation')!r} is not relu")
        self.arch = arch
        try:
            self.input_scale = float(_meta(metadata, "input_scale", 1.0))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise PolicyError(f"metadata input_scale={metadata.get('input_scale')!r}") from exc
        self.torso = _layers(tensors, "torso")
        self.value = _layers(tensors, "value")
        self.advantage = _layers(tensors, "advantage")
        hidden = self.torso[-1][0].shape[0]
        for name, head in (("value", self.value), ("advantage", self.advantage)):
            if head[0][0].shape[1] != hidden:
                raise PolicyError(
                    f"{name}.0 takes {head[0][0].shape[1]} inputs, torso gives {hidden}"
                )
        if self.value[-1][0].shape[0] != 1:
            raise PolicyError(f"value head ends with {self.value[-1][0].shape[0]} outputs, not 1")
        self.num_actions = int(self.advantage[-1][0].shape[0])
        declared = _meta(metadata, "num_actions", self.num_actions)
        if not isinstance(declared, int) or declared != self.num_actions:
            raise PolicyError(
                f"metadata num_actions={declared} but advantage gives {self.num_actions}"
            )
        self.obs_dim = int(self.torso[0][0].shape[1])
        shape = _meta(metadata, "obs_shape", [self.obs_dim])
        if not isinstance(shape, list) or int(np.prod(shape)) != self.obs_dim:
            raise PolicyError(f"metadata obs_shape={shape!r} does not hold {self.obs_dim} values")
        self.obs_shape = tuple(int(d) for d in shape)
        known = {
            f"{p}.{i}.{k}"
            for p, layers in (
                ("torso", self.torso),
                ("value", self.value),
                ("advantage", self.advantage),
            )
            for i in range(len(layers))
            for k in ("weight", "bias")
        }
        extra = sorted(set(tensors) - known)
        if extra:
            raise PolicyError(f"unexpected tensors for mlp_dueling: {extra}")
        q = self.q_values(np.zeros(self.obs_dim, dtype=np.float32))
        if not np.all(np.isfinite(q)):
            raise PolicyError("the network gives non-finite Q-values for a zero observation")

    @staticmethod
    def _run(
        layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray, relu_last: bool
    ) -> np.ndarray:
        for i, (w, b) in enumerate(layers):
            x = x @ w.T + b
            if relu_last or i < len(layers) - 1:
                np.maximum(x, 0.0, out=x)
        return x

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values for one observation ``[obs_dim]`` or a batch ``[B, obs_dim]``."""
        x = np.asarray(obs, dtype=np.float32)
        single = x.shape == self.obs_shape or x.ndim == 1
        x = x.reshape(1, -1) if single else x.reshape(x.shape[0], -1)
        if x.shape[1] != self.obs_dim:
            raise PolicyError(
                f"observation has {x.shape[1]} values, the network takes {self.obs_dim}"
            )
        if self.input_scale != 1.0:
            x = x * np.float32(self.input_scale)
        h = self._run(self.torso, x, relu_last=True)
        v = self._run(self.value, h, relu_last=False)
        a = self._run(self.advantage, h, relu_last=False)
        q = v + a - a.mean(axis=1, keepdims=True)
        return q[0] if single else q

    def act(self, obs: np.ndarray) -> int:
        return int(np.argmax(self.q_values(obs)))


def load_policy(
    tensors: Mapping[str, np.ndarray],
    metadata: Mapping[str, str],
    obs_dim: int | None = None,
    num_actions: int | None = None,
) -> NumpyPolicy:
    """Build and check a policy; ``obs_dim``/``num_actions`` must match the robot's task if given."""
    policy = NumpyPolicy(tensors, metadata)
    if obs_dim is not None and policy.obs_dim != obs_dim:
        raise PolicyError(
            f"network takes {policy.obs_dim} observation values, the task gives {obs_dim}"
        )
    if num_actions is not None and policy.num_actions != num_actions:
        raise PolicyError(f"network has {policy.num_actions} actions, the task has {num_actions}")
    return policy


def policy_summary(policy: NumpyPolicy) -> dict[str, object]:
    return {"arch": policy.arch, "obs_dim": policy.obs_dim, "num_actions": policy.num_actions}
