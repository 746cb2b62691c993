"""SAC's torch networks: the tanh-Gaussian actor and the twin soft Q critics.

The actor's parameter names are the edge's ``mlp_gaussian`` tensor names
(``torso.{i}``, ``mean.0``, ``log_std.0``), so its ``state_dict`` *is* the export.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 - the usual name


def _stack(sizes: list[int]) -> nn.ModuleList:
    return nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))


class GaussianActor(nn.Module):
    """π(a|s): ``a = tanh(u) * scale + bias``, ``u ~ N(μ(s), σ(s))``.

    Promises: :meth:`sample` returns (action, log π(a|s) with the tanh correction,
    deterministic action); ``log σ`` lies in ``[log_std_min, log_std_max]``.
    """

    action_scale: torch.Tensor
    action_bias: torch.Tensor

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden: list[int],
        action_scale: torch.Tensor,
        action_bias: torch.Tensor,
        log_std_min: float,
        log_std_max: float,
    ) -> None:
        super().__init__()
        self.torso = _stack([obs_dim, *hidden])
        self.mean = nn.ModuleList([nn.Linear(hidden[-1], action_dim)])
        self.log_std = nn.ModuleList([nn.Linear(hidden[-1], action_dim)])
        self.register_buffer("action_scale", action_scale.clone().float(), persistent=False)
        self.register_buffer("action_bias", action_bias.clone().float(), persistent=False)
        self.log_std_min = float(log_std_min)
        self.log_std_max = float(log_std_max)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = obs
        for layer in self.torso:
            h = F.relu(layer(h))
        mu = self.mean[0](h)
        raw = torch.tanh(self.log_std[0](h))
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (raw + 1.0)
        return mu, log_std

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, log_std = self(obs)
        std = log_std.exp()
        u = mu + std * torch.randn_like(mu)
        y = torch.tanh(u)
        action = y * self.action_scale + self.action_bias
        # log N(u; μ, σ) − log|d a / d u|, summed over action dimensions.
        log_prob = -0.5 * ((u - mu) / std) ** 2 - log_std - 0.5 * math.log(2.0 * math.pi)
        log_prob = log_prob - torch.log(self.action_scale * (1.0 - y.pow(2)) + 1e-6)
        return action, log_prob.sum(1), torch.tanh(mu) * self.action_scale + self.action_bias

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        mu, _ = self(obs)
        return torch.tanh(mu) * self.action_scale + self.action_bias


class DeterministicActor(nn.Module):
    """The exported policy (``fsrl export``): observations ``[B, *obs_shape]`` of any real
    dtype -> the deterministic action ``tanh(μ(s)) * scale + bias``, ``[B, *action_shape]``."""

    def __init__(self, actor: GaussianActor, obs_dim: int, action_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.actor = actor
        self.obs_dim = int(obs_dim)
        self.action_shape = tuple(int(d) for d in action_shape)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float().reshape(obs.shape[0], self.obs_dim)
        return self.actor.deterministic(x).reshape(obs.shape[0], *self.action_shape)


class TwinQ(nn.Module):
    """Two independent soft Q critics ``Q_k(s, a)`` (ReLU MLPs on ``[s, a]``)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: list[int]) -> None:
        super().__init__()
        sizes = [obs_dim + action_dim, *hidden, 1]
        self.q1 = _stack(sizes)
        self.q2 = _stack(sizes)

    @staticmethod
    def _run(layers: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(layers):
            x = layer(x)
            if i < len(layers) - 1:
                x = F.relu(x)
        return x[:, 0]

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, action], dim=1)
        return self._run(self.q1, x), self._run(self.q2, x)


__all__ = ["DeterministicActor", "GaussianActor", "TwinQ"]
