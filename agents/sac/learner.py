"""SAC's learning half: twin critics, Polyak targets, tanh-Gaussian actor, learned α.

One :meth:`SACLearner.update` is one step of CleanRL's ``sac_continuous_action.py``
on a sampled batch (``discount`` = γⁿ, or 0 where the episode terminated)::

    y      = r + discount · (min_k Q'_k(s', a') − α log π(a'|s')),   a' ~ π(·|s')
    L_Q    = Σ_k mean(w · (Q_k(s, a) − y)²)          (w: importance weights, else 1)
    every policy_frequency updates, policy_frequency times:
      L_π  = mean(α log π(ã|s) − min_k Q_k(s, ã)),   ã ~ π(·|s)
      L_α  = mean(−α (log π(ã|s) + H̄))               (autotune; H̄ = target entropy)
    every target_network_frequency updates: θ'_k ← τ θ_k + (1 − τ) θ'_k

New priorities are ``|Q_1(s, a) − y| + td_priority_offset``.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from agents.core import AgentLearner, Batch, Metadata, Observation, Tensors
from agents.optim import Adam
from agents.sac.networks import DeterministicActor, GaussianActor, TwinQ
from agents.sac.spec import SACSpaces, initial_actor
from conf.schema import SACConfig
from robot_edge.policy import GaussianPolicy

logger = logging.getLogger(__name__)


@dataclass
class SACBatch:
    """A sampled batch on the learner's device (flat observations and actions)."""

    obs: Tensor
    action: Tensor
    reward: Tensor
    discount: Tensor
    next_obs: Tensor
    weights: Tensor | None


def _optimizer_tensors(opt: Adam, prefix: str) -> tuple[dict[str, Tensor], dict]:
    state = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    keys: dict[str, dict[str, bool]] = {}
    for pid, pstate in state["state"].items():
        keys[str(pid)] = {}
        for key, value in pstate.items():
            if isinstance(value, Tensor):
                tensors[f"{prefix}/{pid}/{key}"] = value.reshape(-1) if value.dim() == 0 else value
                keys[str(pid)][key] = value.dim() == 0
    return tensors, {"param_groups": state["param_groups"], "tensor_keys": keys}


def _load_optimizer(
    opt: Adam, tensors: Mapping[str, Any], prefix: str, extras: Mapping[str, Any]
) -> None:
    state: dict[str, Any] = {"state": {}, "param_groups": extras["param_groups"]}
    for pid, keys in extras["tensor_keys"].items():
        entry = {}
        for key, is_scalar in keys.items():
            t = torch.as_tensor(tensors[f"{prefix}/{pid}/{key}"])
            entry[key] = t.reshape(()) if is_scalar else t
        state["state"][int(pid)] = entry
    opt.load_state_dict(state)


class SACLearner(AgentLearner):
    """Owns SAC's networks and optimizers on one device.

    Promises: :meth:`update` returns one finite priority > 0 per transition and
    ``losses/...`` metrics; :meth:`export` is the actor in the edge's
    ``mlp_gaussian`` format (starting as the same seeded actor actors build);
    :meth:`state` / :meth:`load_state` restore networks, targets, optimizers, α and
    the update counter exactly.
    """

    def __init__(self, cfg: SACConfig, spaces: SACSpaces, device: Any, seed: int) -> None:
        self.cfg = cfg
        self.spaces = spaces
        self.device = torch.device(device)
        self.generator_seed = int(seed)
        torch.manual_seed(int(seed))
        hidden = [int(h) for h in cfg.hidden_sizes]
        self.actor = GaussianActor(
            spaces.obs_dim,
            spaces.action_dim,
            hidden,
            torch.as_tensor(spaces.action_scale),
            torch.as_tensor(spaces.action_bias),
            cfg.log_std_min,
            cfg.log_std_max,
        ).to(self.device)
        self._load_actor(initial_actor(spaces, cfg, int(seed)))
        self.qf = TwinQ(spaces.obs_dim, spaces.action_dim, hidden).to(self.device)
        self.qf_target = copy.deepcopy(self.qf).requires_grad_(False)
        self.q_opt = Adam(self.qf.parameters(), lr=cfg.q_lr)
        self.actor_opt = Adam(self.actor.parameters(), lr=cfg.policy_lr)
        self.log_alpha = torch.full(
            (1,), math.log(cfg.alpha_init), device=self.device, requires_grad=cfg.autotune
        )
        self.alpha_opt = Adam([self.log_alpha], lr=cfg.alpha_lr)
        self.target_entropy = float(cfg.target_entropy_per_action_dim) * spaces.action_dim
        self.updates = 0
        self._last: dict[str, float] = {"losses/actor_loss": 0.0, "losses/alpha_loss": 0.0}

    # ------------------------------------------------------------------ learning
    def prepare(self, batch: Batch, weights: np.ndarray | None = None) -> SACBatch:
        def to(name: str, width: int | None) -> Tensor:
            arr = np.asarray(batch[name], dtype=np.float32)
            if width is not None:
                arr = arr.reshape(arr.shape[0], width)
            return torch.from_numpy(np.ascontiguousarray(arr)).to(self.device, non_blocking=True)

        w = None
        if weights is not None:
            w = torch.from_numpy(np.asarray(weights, dtype=np.float32)).to(self.device)
        return SACBatch(
            obs=to("obs", self.spaces.obs_dim),
            action=to("action", self.spaces.action_dim),
            reward=to("reward", None),
            discount=to("discount", None),
            next_obs=to("next_obs", self.spaces.obs_dim),
            weights=w,
        )

    @property
    def alpha(self) -> Tensor:
        return self.log_alpha.detach().exp()

    def update(self, prepared: Any) -> tuple[np.ndarray, dict[str, float]]:
        b: SACBatch = prepared
        cfg = self.cfg
        alpha = self.alpha
        with torch.no_grad():
            next_a, next_logp, _ = self.actor.sample(b.next_obs)
            q1_next, q2_next = self.qf_target(b.next_obs, next_a)
            y = b.reward + b.discount * (torch.min(q1_next, q2_next) - alpha * next_logp)
        q1, q2 = self.qf(b.obs, b.action)
        td1, td2 = q1 - y, q2 - y
        if b.weights is None:
            qf1_loss, qf2_loss = td1.pow(2).mean(), td2.pow(2).mean()
        else:
            qf1_loss, qf2_loss = (b.weights * td1.pow(2)).mean(), (b.weights * td2.pow(2)).mean()
        self.q_opt.zero_grad(set_to_none=True)
        (qf1_loss + qf2_loss).backward()
        self.q_opt.step()
        self.updates += 1

        if self.updates % cfg.policy_frequency == 0:
            self._policy_steps(b.obs)
        if self.updates % cfg.target_network_frequency == 0:
            with torch.no_grad():
                for target, online in zip(
                    self.qf_target.parameters(), self.qf.parameters(), strict=True
                ):
                    target.lerp_(online, cfg.tau)

        priorities = (td1.detach().abs() + cfg.td_priority_offset).cpu().numpy().astype(np.float64)
        metrics = {
            "losses/qf1_loss": float(qf1_loss.item()),
            "losses/qf2_loss": float(qf2_loss.item()),
            "losses/qf1_values": float(q1.detach().mean().item()),
            "losses/alpha": float(self.alpha.item()),
            **self._last,
        }
        return priorities, metrics

    def _policy_steps(self, obs: Tensor) -> None:
        cfg = self.cfg
        self.qf.requires_grad_(False)
        try:
            for _ in range(cfg.policy_frequency):
                pi, logp, _ = self.actor.sample(obs)
                q1_pi, q2_pi = self.qf(obs, pi)
                actor_loss = (self.alpha * logp - torch.min(q1_pi, q2_pi)).mean()
                self.actor_opt.zero_grad(set_to_none=True)
                actor_loss.backward()
                self.actor_opt.step()
                self._last["losses/actor_loss"] = float(actor_loss.item())
                if cfg.autotune:
                    with torch.no_grad():
                        _, logp, _ = self.actor.sample(obs)
                    alpha_loss = (-self.log_alpha.exp() * (logp + self.target_entropy)).mean()
                    self.alpha_opt.zero_grad(set_to_none=True)
                    alpha_loss.backward()
                    self.alpha_opt.step()
                    self._last["losses/alpha_loss"] = float(alpha_loss.item())
        finally:
            self.qf.requires_grad_(True)

    # ------------------------------------------------------------------ weights
    def export(self) -> tuple[Tensors, Metadata]:
        tensors = {k: v.detach().cpu().numpy().copy() for k, v in self.actor.state_dict().items()}
        return tensors, self.spaces.metadata(self.cfg)

    def _load_actor(self, tensors: Mapping[str, Any]) -> None:
        own = self.actor.state_dict()
        if set(tensors) != set(own):
            raise ValueError(
                f"actor tensors {sorted(tensors)} do not match this SAC actor {sorted(own)}"
            )
        for name, t in tensors.items():
            if tuple(np.shape(t)) != tuple(own[name].shape):
                raise ValueError(
                    f"actor tensor {name!r} has shape {tuple(np.shape(t))}, "
                    f"this SAC actor needs {tuple(own[name].shape)}"
                )
        self.actor.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in tensors.items()})

    def load_export(self, tensors: Tensors, metadata: Metadata) -> None:
        GaussianPolicy(tensors, metadata)  # the edge's checks: names, shapes, metadata
        self._load_actor(tensors)

    def greedy(self) -> Callable[[Observation], np.ndarray]:
        actor, spaces, device = self.actor, self.spaces, self.device

        def act(obs: Observation) -> np.ndarray:
            x = np.asarray(obs, dtype=np.float32)
            x = x.reshape(x.shape[0], spaces.obs_dim)
            with torch.no_grad():
                a = actor.deterministic(torch.from_numpy(x).to(device))
            return a.cpu().numpy().reshape(x.shape[0], *spaces.action_shape)

        return act

    def policy_module(self) -> tuple[DeterministicActor, str]:
        """The actor's deterministic action: observations [B, *obs_shape] -> actions."""
        module = DeterministicActor(self.actor, self.spaces.obs_dim, self.spaces.action_shape)
        return module, "actions"

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        tensors: dict[str, Any] = {}
        for prefix, module in (
            ("actor", self.actor),
            ("qf", self.qf),
            ("qf_target", self.qf_target),
        ):
            for name, t in module.state_dict().items():
                tensors[f"{prefix}/{name}"] = t.detach()
        tensors["log_alpha"] = self.log_alpha.detach()
        extras: dict[str, Any] = {"updates": self.updates, "last_metrics": dict(self._last)}
        for prefix, opt in (
            ("q_opt", self.q_opt),
            ("actor_opt", self.actor_opt),
            ("alpha_opt", self.alpha_opt),
        ):
            opt_tensors, opt_json = _optimizer_tensors(opt, prefix)
            tensors.update(opt_tensors)
            extras[prefix] = opt_json
        return tensors, extras

    def load_state(self, tensors: Mapping[str, Any], extras: Mapping[str, Any]) -> None:
        def sub(prefix: str) -> dict[str, Tensor]:
            return {
                k[len(prefix) + 1 :]: torch.as_tensor(v)
                for k, v in tensors.items()
                if k.startswith(prefix + "/")
            }

        self.actor.load_state_dict(sub("actor"))
        self.qf.load_state_dict(sub("qf"))
        self.qf_target.load_state_dict(sub("qf_target"))
        with torch.no_grad():
            self.log_alpha.copy_(torch.as_tensor(tensors["log_alpha"]).reshape(1))
        for prefix, opt in (
            ("q_opt", self.q_opt),
            ("actor_opt", self.actor_opt),
            ("alpha_opt", self.alpha_opt),
        ):
            _load_optimizer(opt, tensors, prefix, extras[prefix])
        self.updates = int(extras["updates"])
        self._last = {k: float(v) for k, v in extras.get("last_metrics", {}).items()}


__all__ = ["SACBatch", "SACLearner"]
