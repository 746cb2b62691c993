"""Which Q-network architecture an observation space gets — without importing torch.

The actors choose their (numpy or torch) Q-function with this, and
:mod:`agents.dqn.networks` builds the torch modules for the same names.
"""

from __future__ import annotations

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


__all__ = ["ARCHS", "CANDIDATES_KEY", "MASK_KEY", "resolve_arch"]
