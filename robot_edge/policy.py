"""fsrl's one numpy forward pass: the networks the learner exports, run without torch.

The Pi, the actors and the host's relay all evaluate exported weights with this
module. Two families, chosen by ``metadata["arch"]``:

``mlp_dueling`` — a dueling Q-network (DQN), :class:`NumpyPolicy`. Tensors
``torso.{i}.weight [out, in]`` / ``torso.{i}.bias [out]`` (each Linear followed by
ReLU), heads ``value.{j}.*`` (last layer 1 output) and ``advantage.{j}.*`` (last layer
``num_actions`` outputs) with ReLU between their layers and none after the last::

    x = obs.reshape(-1) * input_scale; h = torso(x); q = v(h) + a(h) - mean(a(h))

``mlp_gaussian`` — a tanh-squashed Gaussian policy (SAC's actor), :class:`GaussianPolicy`.
Tensors ``torso.{i}.*`` as above and a ``mean.{j}.*`` head (ReLU between, none after the
last, ``action_dim`` outputs); ``log_std.{j}.*`` may be present and is not used, since
the edge acts deterministically::

    action = tanh(mean(torso(obs * input_scale))) * action_scale + action_bias

Metadata (``dict[str, str]``, values JSON-encoded except ``arch``/``activation``):
``arch``, ``activation`` (``relu``), ``input_scale`` (default 1), ``obs_shape``
(default ``[obs_dim]``); ``num_actions`` for ``mlp_dueling``; ``action_dim``,
``action_scale`` and ``action_bias`` (lists of ``action_dim`` numbers, default 1 and 0)
for ``mlp_gaussian``. :func:`load_policy` builds either from (tensors, metadata).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

SUPPORTED_ARCHS = ("mlp_dueling", "mlp_gaussian")

Layers = list  # list[tuple[np.ndarray, np.ndarray]]: (weight [out, in], bias [out]) per Linear


class PolicyError(ValueError):
    """Weights or metadata that do not make a usable network (the message names what)."""


def mlp_layers(tensors: Mapping[str, np.ndarray], prefix: str, arch: str = "") -> Layers:
    """The Linear layers ``{prefix}.0``, ``{prefix}.1``, … as float32, shapes checked in a chain."""
    layers: Layers = []
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
        raise PolicyError(f"no '{prefix}.0.weight' tensor: not an {arch or 'mlp'} export")
    return layers


def run_mlp(layers: Layers, x: np.ndarray, relu_last: bool) -> np.ndarray:
    """``x [B, in]`` through ``layers`` with ReLU between them (and after the last if asked)."""
    for i, (w, b) in enumerate(layers):
        x = x @ w.T + b
        if relu_last or i < len(layers) - 1:
            np.maximum(x, 0.0, out=x)
    return x


def meta_value(metadata: Mapping[str, str], key: str, default: object) -> object:
    """A metadata value decoded from JSON (plain strings such as ``arch`` stay strings)."""
    raw = metadata.get(key)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _names(prefix: str, layers: Layers) -> set[str]:
    return {f"{prefix}.{i}.{k}" for i in range(len(layers)) for k in ("weight", "bias")}


def _head_fits(name: str, head: Layers, hidden: int) -> None:
    if head[0][0].shape[1] != hidden:
        raise PolicyError(f"{name}.0 takes {head[0][0].shape[1]} inputs, torso gives {hidden}")


def _numbers(metadata: Mapping[str, str], key: str, n: int, default: float) -> np.ndarray:
    value = meta_value(metadata, key, [default] * n)
    try:
        arr = np.asarray(value, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise PolicyError(
            f"metadata {key}={metadata.get(key)!r} is not a list of numbers"
        ) from None
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise PolicyError(f"metadata {key}={metadata.get(key)!r} is not {n} finite numbers")
    return arr


class _MLPPolicy:
    """Shared part of the edge networks: metadata checks, the torso, observation batching."""

    arch = ""

    def __init__(self, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> None:
        arch = metadata.get("arch", "")
        if arch != self.arch:
            raise PolicyError(
                f"arch {arch!r} is not {self.arch!r} (supported on the edge: {SUPPORTED_ARCHS})"
            )
        if meta_value(metadata, "activation", "relu") != "relu":
            raise PolicyError(f"activation {metadata.get('activation')!r} is not relu")
        try:
            self.input_scale = float(meta_value(metadata, "input_scale", 1.0))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise PolicyError(f"metadata input_scale={metadata.get('input_scale')!r}") from None
        self.torso = mlp_layers(tensors, "torso", arch)
        self.hidden = int(self.torso[-1][0].shape[0])
        self.obs_dim = int(self.torso[0][0].shape[1])
        shape = meta_value(metadata, "obs_shape", [self.obs_dim])
        if (
            not isinstance(shape, list)
            or not all(type(d) is int and d > 0 for d in shape)
            or int(np.prod(shape)) != self.obs_dim
        ):
            raise PolicyError(f"metadata obs_shape={shape!r} does not hold {self.obs_dim} values")
        self.obs_shape = tuple(shape)

    def _check_names(self, tensors: Mapping[str, np.ndarray], known: set[str]) -> None:
        extra = sorted(set(tensors) - known)
        if extra:
            raise PolicyError(f"unexpected tensors for {self.arch}: {extra}")

    def _inputs(self, obs: np.ndarray) -> tuple[np.ndarray, bool]:
        x = np.asarray(obs, dtype=np.float32)
        single = x.shape == self.obs_shape or x.ndim == 1
        x = x.reshape(1, -1) if single else x.reshape(x.shape[0], -1)
        if x.shape[1] != self.obs_dim:
            raise PolicyError(
                f"observation has {x.shape[1]} values, the network takes {self.obs_dim}"
            )
        if self.input_scale != 1.0:
            x = x * np.float32(self.input_scale)
        return run_mlp(self.torso, x, relu_last=True), single

    def _finite_at_zero(self, out: np.ndarray, what: str) -> None:
        if not np.all(np.isfinite(out)):
            raise PolicyError(f"the network gives non-finite {what} for a zero observation")


class NumpyPolicy(_MLPPolicy):
    """A dueling MLP Q-network (``mlp_dueling``) evaluated with numpy.

    Promises: construction validates every name and shape (a bad export raises
    PolicyError and nothing half-built is kept); :meth:`q_values` gives float32
    Q-values of length ``num_actions``; :meth:`act` is the greedy action.
    """

    arch = "mlp_dueling"
    continuous = False

    def __init__(self, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> None:
        super().__init__(tensors, metadata)
        self.value = mlp_layers(tensors, "value", self.arch)
        self.advantage = mlp_layers(tensors, "advantage", self.arch)
        _head_fits("value", self.value, self.hidden)
        _head_fits("advantage", self.advantage, self.hidden)
        if self.value[-1][0].shape[0] != 1:
            raise PolicyError(f"value head ends with {self.value[-1][0].shape[0]} outputs, not 1")
        self.num_actions = int(self.advantage[-1][0].shape[0])
        declared = meta_value(metadata, "num_actions", self.num_actions)
        if type(declared) is not int or declared != self.num_actions:
            raise PolicyError(
                f"metadata num_actions={declared} but advantage gives {self.num_actions}"
            )
        self._check_names(
            tensors,
            _names("torso", self.torso)
            | _names("value", self.value)
            | _names("advantage", self.advantage),
        )
        self._finite_at_zero(self.q_values(np.zeros(self.obs_dim, np.float32)), "Q-values")

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values for one observation ``[obs_dim]`` or a batch ``[B, obs_dim]``."""
        h, single = self._inputs(obs)
        v = run_mlp(self.value, h, relu_last=False)
        a = run_mlp(self.advantage, h, relu_last=False)
        q = v + a - a.mean(axis=1, keepdims=True)
        return q[0] if single else q

    def act(self, obs: np.ndarray) -> int:
        """The greedy action of one observation."""
        return int(np.argmax(self.q_values(obs)))


class GaussianPolicy(_MLPPolicy):
    """A tanh-squashed Gaussian policy MLP (``mlp_gaussian``, SAC's actor) run with numpy.

    Promises: construction validates names, shapes and the action scale/bias (PolicyError
    otherwise); :meth:`act` is the deterministic action ``tanh(mean) * scale + bias``,
    float32 ``[action_dim]`` (or ``[B, action_dim]``), always inside
    ``bias ± |scale|``.
    """

    arch = "mlp_gaussian"
    continuous = True

    def __init__(self, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> None:
        super().__init__(tensors, metadata)
        self.mean = mlp_layers(tensors, "mean", self.arch)
        _head_fits("mean", self.mean, self.hidden)
        self.action_dim = int(self.mean[-1][0].shape[0])
        declared = meta_value(metadata, "action_dim", self.action_dim)
        if type(declared) is not int or declared != self.action_dim:
            raise PolicyError(
                f"metadata action_dim={declared} but the mean head gives {self.action_dim}"
            )
        self.action_scale = _numbers(metadata, "action_scale", self.action_dim, 1.0)
        self.action_bias = _numbers(metadata, "action_bias", self.action_dim, 0.0)
        known = _names("torso", self.torso) | _names("mean", self.mean)
        self.log_std: list[tuple[np.ndarray, np.ndarray]] | None = None
        if "log_std.0.weight" in tensors:
            self.log_std = mlp_layers(tensors, "log_std", self.arch)
            _head_fits("log_std", self.log_std, self.hidden)
            known |= _names("log_std", self.log_std)
        low = _numbers(metadata, "log_std_min", 1, -5.0)[0]
        high = _numbers(metadata, "log_std_max", 1, 2.0)[0]
        if not low < high:
            raise PolicyError(f"metadata log_std_min={low} is not below log_std_max={high}")
        self.log_std_min, self.log_std_max = float(low), float(high)
        self._check_names(tensors, known)
        self._finite_at_zero(self.mean_action(np.zeros(self.obs_dim, np.float32)), "means")

    def mean_action(self, obs: np.ndarray) -> np.ndarray:
        """The Gaussian's mean before squashing, ``[action_dim]`` or ``[B, action_dim]``."""
        h, single = self._inputs(obs)
        mu = run_mlp(self.mean, h, relu_last=False)
        return mu[0] if single else mu

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic action: ``tanh(mean) * action_scale + action_bias``."""
        return (np.tanh(self.mean_action(obs)) * self.action_scale + self.action_bias).astype(
            np.float32, copy=False
        )

    def sample(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A behaviour action ``tanh(mean + std * N(0, 1)) * action_scale + action_bias``
        (``log_std`` squashed into ``[log_std_min, log_std_max]`` as SAC trains it)."""
        if self.log_std is None:
            raise PolicyError("this export has no log_std head: it can act, not sample")
        h, single = self._inputs(obs)
        mu = run_mlp(self.mean, h, relu_last=False)
        raw = np.tanh(run_mlp(self.log_std, h, relu_last=False))
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (raw + 1.0)
        u = mu + np.exp(log_std) * rng.standard_normal(mu.shape).astype(np.float32)
        out = (np.tanh(u) * self.action_scale + self.action_bias).astype(np.float32, copy=False)
        return out[0] if single else out


EdgePolicy = _MLPPolicy


def load_policy(
    tensors: Mapping[str, np.ndarray],
    metadata: Mapping[str, str],
    obs_dim: int | None = None,
    num_actions: int | None = None,
    action_dim: int | None = None,
) -> NumpyPolicy | GaussianPolicy:
    """Build and check the network ``metadata["arch"]`` names.

    ``obs_dim`` must match if given; ``num_actions`` (a discrete task) accepts only a
    Q-network with that many actions, ``action_dim`` (a continuous task) only a
    Gaussian policy with that many outputs. PolicyError names what does not fit.
    """
    arch = metadata.get("arch", "")
    if arch not in SUPPORTED_ARCHS:
        raise PolicyError(f"arch {arch!r} is not supported on the edge: {SUPPORTED_ARCHS}")
    policy: NumpyPolicy | GaussianPolicy = (
        NumpyPolicy(tensors, metadata)
        if arch == "mlp_dueling"
        else GaussianPolicy(tensors, metadata)
    )
    if obs_dim is not None and policy.obs_dim != obs_dim:
        raise PolicyError(
            f"network takes {policy.obs_dim} observation values, the task gives {obs_dim}"
        )
    if isinstance(policy, NumpyPolicy):
        if action_dim is not None and num_actions is None:
            raise PolicyError(f"a Q-network ({arch}) cannot drive a continuous task")
        if num_actions is not None and policy.num_actions != num_actions:
            raise PolicyError(
                f"network has {policy.num_actions} actions, the task has {num_actions}"
            )
    elif isinstance(policy, GaussianPolicy):
        if num_actions is not None and action_dim is None:
            raise PolicyError(f"a continuous policy ({arch}) cannot drive a discrete task")
        if action_dim is not None and policy.action_dim != action_dim:
            raise PolicyError(
                f"network gives {policy.action_dim} action values, the task takes {action_dim}"
            )
    return policy


def policy_summary(policy: NumpyPolicy | GaussianPolicy) -> dict[str, object]:
    """Arch, observation size and action size (``num_actions`` or ``action_dim``)."""
    size = policy.num_actions if isinstance(policy, NumpyPolicy) else policy.action_dim
    return {"arch": policy.arch, "obs_dim": policy.obs_dim, "actions": size}


__all__ = [
    "SUPPORTED_ARCHS",
    "EdgePolicy",
    "GaussianPolicy",
    "NumpyPolicy",
    "PolicyError",
    "load_policy",
    "meta_value",
    "mlp_layers",
    "policy_summary",
    "run_mlp",
]
