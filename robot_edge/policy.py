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


def _floats(metadata: Mapping[str, str], key: str, size: int, default: float) -> np.ndarray:
    raw = _meta(metadata, key, [default] * size)
    try:
        values = np.asarray(raw, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"metadata {key}={metadata.get(key)!r} is not a list of numbers") from exc
    if values.size == 1 and size != 1:
        values = np.full(size, values[0], dtype=np.float32)
    if values.shape != (size,) or not np.all(np.isfinite(values)):
        raise PolicyError(f"metadata {key}={metadata.get(key)!r}: need {size} finite numbers")
    return values


class GaussianPolicy:
    """A tanh-squashed Gaussian policy MLP (``mlp_gaussian``, SAC's actor) run with numpy.

    Tensors: ``torso.{i}.weight [out, in]`` / ``.bias`` (each Linear followed by ReLU),
    heads ``mean.{j}.*`` and ``log_std.{j}.*`` (ReLU between their layers, none after the
    last, ``action_dim`` outputs). Metadata: ``arch`` = ``mlp_gaussian``, ``obs_shape``,
    ``input_scale`` (1), ``action_dim``, ``action_scale`` / ``action_bias`` (JSON lists),
    ``log_std_min`` / ``log_std_max`` (-5 / 2)::

        h = torso(obs * input_scale); mu = mean(h)
        log_std = log_std_min + (log_std_max - log_std_min) * (tanh(log_std(h)) + 1) / 2
        act = tanh(mu) * action_scale + action_bias
        sample = tanh(mu + exp(log_std) * N(0, 1)) * action_scale + action_bias

    Promises: construction validates every name and shape (PolicyError otherwise);
    :meth:`act` and :meth:`sample` give float32 actions inside ``bias ± |scale|``,
    ``[action_dim]`` for one observation or ``[B, action_dim]`` for a batch.
    """

    arch = "mlp_gaussian"

    def __init__(self, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> None:
        arch = metadata.get("arch", "")
        if arch != self.arch:
            raise PolicyError(f"arch {arch!r} is not {self.arch!r}")
        if _meta(metadata, "activation", "relu") != "relu":
            raise PolicyError(f"activation {metadata.get('activation')!r} is not relu")
        try:
            self.input_scale = float(_meta(metadata, "input_scale", 1.0))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise PolicyError(f"metadata input_scale={metadata.get('input_scale')!r}") from exc
        self.torso = _layers(tensors, "torso")
        self.mean = _layers(tensors, "mean")
        self.log_std = _layers(tensors, "log_std") if "log_std.0.weight" in tensors else None
        hidden = self.torso[-1][0].shape[0]
        self.action_dim = int(self.mean[-1][0].shape[0])
        for name, head in (("mean", self.mean), ("log_std", self.log_std)):
            if head is None:
                continue
            if head[0][0].shape[1] != hidden:
                raise PolicyError(
                    f"{name}.0 takes {head[0][0].shape[1]} inputs, torso gives {hidden}"
                )
            if head[-1][0].shape[0] != self.action_dim:
                raise PolicyError(
                    f"{name} head gives {head[-1][0].shape[0]} outputs, mean gives {self.action_dim}"
                )
        declared = _meta(metadata, "action_dim", self.action_dim)
        if type(declared) is not int or declared != self.action_dim:
            raise PolicyError(
                f"metadata action_dim={declared} but the mean head gives {self.action_dim}"
            )
        self.action_scale = _floats(metadata, "action_scale", self.action_dim, 1.0)
        self.action_bias = _floats(metadata, "action_bias", self.action_dim, 0.0)
        bounds = _floats(metadata, "log_std_min", 1, -5.0), _floats(metadata, "log_std_max", 1, 2.0)
        self.log_std_min, self.log_std_max = float(bounds[0][0]), float(bounds[1][0])
        if not self.log_std_min < self.log_std_max:
            raise PolicyError(
                f"log_std_min={self.log_std_min} is not below log_std_max={self.log_std_max}"
            )
        self.obs_dim = int(self.torso[0][0].shape[1])
        shape = _meta(metadata, "obs_shape", [self.obs_dim])
        if not isinstance(shape, list) or int(np.prod(shape)) != self.obs_dim:
            raise PolicyError(f"metadata obs_shape={shape!r} does not hold {self.obs_dim} values")
        self.obs_shape = tuple(int(d) for d in shape)
        heads = [("torso", self.torso), ("mean", self.mean)]
        if self.log_std is not None:
            heads.append(("log_std", self.log_std))
        known = {
            f"{p}.{i}.{k}"
            for p, layers in heads
            for i in range(len(layers))
            for k in ("weight", "bias")
        }
        extra = sorted(set(tensors) - known)
        if extra:
            raise PolicyError(f"unexpected tensors for mlp_gaussian: {extra}")
        if not np.all(np.isfinite(self.mean_action(np.zeros(self.obs_dim, dtype=np.float32)))):
            raise PolicyError("the network gives non-finite means for a zero observation")

    def _torso(self, obs: np.ndarray) -> tuple[np.ndarray, bool]:
        x = np.asarray(obs, dtype=np.float32)
        single = x.shape == self.obs_shape or x.ndim == 1
        x = x.reshape(1, -1) if single else x.reshape(x.shape[0], -1)
        if x.shape[1] != self.obs_dim:
            raise PolicyError(
                f"observation has {x.shape[1]} values, the network takes {self.obs_dim}"
            )
        if self.input_scale != 1.0:
            x = x * np.float32(self.input_scale)
        return NumpyPolicy._run(self.torso, x, relu_last=True), single

    def _squash(self, u: np.ndarray) -> np.ndarray:
        return (np.tanh(u) * self.action_scale + self.action_bias).astype(np.float32, copy=False)

    def mean_action(self, obs: np.ndarray) -> np.ndarray:
        """The Gaussian's mean before squashing, ``[action_dim]`` or ``[B, action_dim]``."""
        h, single = self._torso(obs)
        mu = NumpyPolicy._run(self.mean, h, relu_last=False)
        return mu[0] if single else mu

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic action ``tanh(mean) * action_scale + action_bias``."""
        return self._squash(self.mean_action(obs))

    def sample(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A behaviour action ``tanh(mean + std * N(0, 1)) * action_scale + action_bias``."""
        if self.log_std is None:
            raise PolicyError("this export has no log_std head: it can act, not sample")
        h, single = self._torso(obs)
        mu = NumpyPolicy._run(self.mean, h, relu_last=False)
        raw = np.tanh(NumpyPolicy._run(self.log_std, h, relu_last=False))
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (raw + 1.0)
        u = mu + np.exp(log_std) * rng.standard_normal(mu.shape).astype(np.float32)
        out = self._squash(u)
        return out[0] if single else out
