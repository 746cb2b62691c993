"""Which Q-network architecture an observation space gets, and what an export's metadata
says about its network — without importing torch.

The actors choose their (numpy or torch) Q-function with this, and
:mod:`agents.dqn.networks` builds the torch modules for the same names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import gymnasium as gym

#: The architectures of :mod:`agents.dqn.networks`.
ARCHS = ("mlp_dueling", "cnn_dueling", "candidate_scorer")
#: Observation key of the valid-action mask (nonzero = valid).
MASK_KEY = "action_mask"
#: Observation key of the per-action candidate features (``candidate_scorer``).
CANDIDATES_KEY = "candidate_features"


def resolve_arch(arch: str, obs_space: gym.Space) -> str:
    """The concrete architecture for ``arch`` (``auto`` is decided by the observation space)."""
    if ":" in arch:  # the user's own QNetwork subclass, "package.module:Name"
        return arch
    if arch != "auto":
        if arch not in ARCHS:
            raise ValueError(f"model.arch={arch!r} is unknown: must be one of {ARCHS} or 'auto'")
        return arch
    if isinstance(obs_space, gym.spaces.Dict) and CANDIDATES_KEY in obs_space.spaces:
        return "candidate_scorer"
    if isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 3:
        return "cnn_dueling"
    return "mlp_dueling"


#: Image axes a ``cnn_dueling`` observation may have (``model.cnn_layout``).
CNN_LAYOUTS = ("chw", "hwc", "hw")


def resolve_cnn_layout(layout: str, shape: tuple[int, ...]) -> str:
    """The image axes of an observation of ``shape`` (``auto``: ``hw`` for 2-D; ``hwc`` when
    the last axis has at most 4 entries and the first more, e.g. RGB ``[210, 160, 3]``;
    else ``chw``, e.g. stacked frames ``[4, 84, 84]``)."""
    shape = tuple(int(x) for x in shape)
    if layout == "auto":
        if len(shape) == 2:
            return "hw"
        if len(shape) == 3 and shape[-1] <= 4 < shape[0]:
            return "hwc"
        return "chw"
    if layout not in CNN_LAYOUTS:
        raise ValueError(
            f"model.cnn_layout={layout!r} is unknown: must be auto or one of {CNN_LAYOUTS}"
        )
    if len(shape) != len(layout):
        raise ValueError(
            f"model.cnn_layout={layout!r} does not fit an observation of shape {shape}"
        )
    return layout


def model_config_from_metadata(metadata: Mapping[str, str]) -> dict[str, Any]:
    """The ``model`` config section that rebuilds the exported network."""

    def val(key: str, default: Any) -> Any:
        raw = metadata.get(key)
        if raw is None:
            return default
        return raw if key in ("arch", "cnn_layout") else json.loads(raw)  # plain strings

    return {
        "arch": val("arch", "mlp_dueling"),
        "hidden_sizes": val("hidden_sizes", [64, 64]),
        "head_hidden_size": val("head_hidden_size", 0),
        "cnn_channels": val("cnn_channels", [32, 64]),
        "cnn_kernel_sizes": val("cnn_kernel_sizes", [3, 3]),
        "cnn_strides": val("cnn_strides", [1, 1]),
        "input_scale": val("input_scale", 1.0),
        "cnn_layout": val("cnn_layout", "auto"),
    }


__all__ = [
    "ARCHS",
    "CANDIDATES_KEY",
    "CNN_LAYOUTS",
    "MASK_KEY",
    "model_config_from_metadata",
    "resolve_arch",
    "resolve_cnn_layout",
]
