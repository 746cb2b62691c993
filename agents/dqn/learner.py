"""The Ape-X DQN update, apart from any process, replay or Redis.

:class:`DQN` owns the online and target networks and the optimizer; :meth:`DQN.update`
takes one sampled batch (numpy, the replay's column names) with importance weights
and returns the new priorities. Everything else — where batches come from, when
weights are published — belongs to :mod:`learner.learner`.

The loss, per transition i with stored n-step return ``R_i`` and ``discount_i``
(γ^n, or 0 when the episode terminated inside the n steps; truncation still
bootstraps)::

    a*_i   = argmax_a Q_online(s'_i, a)                (double Q; else argmax of Q_target)
    y_i    = R_i + discount_i * Q_target(s'_i, a*_i)   (0 when s'_i has no valid action)
    δ_i    = y_i - Q_online(s_i, a_i)
    loss   = mean_i w_i * huber(δ_i)                   (w_i: importance weights)
    p_i    = |δ_i| + td_priority_offset                      (new priorities)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from agents.core import AgentLearner, Metadata, Observation, Tensors
from agents.dqn.actor import NumpyDuelingPolicy
from agents.dqn.networks import (
    MLPDuelingQ,
    QNetwork,
    build_q_network,
    export_for_edge,
    load_tensors,
    obs_to_tensor,
)
from agents.optim import Adam
from conf import as_section
from conf.schema import DQNConfig
from conf.sections import ModelConfig

logger = logging.getLogger(__name__)


def split_obs(data: Mapping[str, Any], prefix: str) -> Any:
    """``data['obs']`` or ``{key: data['obs/key']}`` (the replay's flattening of Dict obs)."""
    if prefix in data:
        return data[prefix]
    sub = {k[len(prefix) + 1 :]: v for k, v in data.items() if k.startswith(prefix + "/")}
    if not sub:
        raise KeyError(f"batch has no {prefix!r} or {prefix}/<key> columns: {sorted(data)}")
    return sub


def to_device(obs: Any, device: torch.device) -> Any:
    if isinstance(obs, Mapping):
        return {
            k: torch.as_tensor(np.asarray(v)).to(device, non_blocking=True) for k, v in obs.items()
        }
    return torch.as_tensor(np.asarray(obs)).to(device, non_blocking=True)


@dataclass
class TorchBatch:
    """One sampled batch on the learner's device."""

    obs: Any
    action: Tensor
    reward: Tensor
    discount: Tensor
    next_obs: Any
    weights: Tensor

    @classmethod
    def from_numpy(
        cls, data: Mapping[str, np.ndarray], weights: np.ndarray, device: torch.device
    ) -> TorchBatch:
        return cls(
            obs=to_device(split_obs(data, "obs"), device),
            action=torch.as_tensor(np.asarray(data["action"], dtype=np.int64)).to(device),
            reward=torch.as_tensor(np.asarray(data["reward"], dtype=np.float32)).to(device),
            discount=torch.as_tensor(np.asarray(data["discount"], dtype=np.float32)).to(device),
            next_obs=to_device(split_obs(data, "next_obs"), device),
            weights=torch.as_tensor(np.asarray(weights, dtype=np.float32)).to(device),
        )


def huber(x: Tensor, delta: float) -> Tensor:
    """Elementwise Huber loss of ``x``: ``x²/2`` inside ``[-delta, delta]``, linear outside."""
    return nn.functional.huber_loss(x, torch.zeros_like(x), reduction="none", delta=delta)


class DQN(AgentLearner):
    """Double/dueling n-step DQN with prioritized-replay weights and a hard-updated target net.

    Promises: :meth:`update` changes the online network by one Adam step and returns
    ``|δ| + td_priority_offset`` per transition (finite, > 0); the target network equals the
    online network right after construction, after :meth:`load_state` and every
    ``target_update_interval_updates`` updates. Same seed, same batches → same weights.
    """

    def __init__(
        self,
        model_cfg: Any,
        algo_cfg: Any,
        obs_space: gym.Space,
        num_actions: int,
        device: torch.device,
        seed: int = 0,
    ) -> None:
        algo = as_section(DQNConfig, algo_cfg)
        self.device = device
        self.gamma = float(algo.gamma)
        self.double_q = bool(algo.double_q)
        self.huber_delta = float(algo.huber_delta)
        self.max_grad_norm = float(algo.max_grad_norm)
        self.td_priority_offset = float(algo.td_priority_offset)
        self.target_update_interval = int(algo.target_update_interval_updates)
        torch.manual_seed(seed)
        self.online: QNetwork = build_q_network(model_cfg, obs_space, num_actions).to(device)
        self.target: QNetwork = build_q_network(model_cfg, obs_space, num_actions).to(device)
        self.target.load_state_dict(self.online.state_dict())
        self.target.requires_grad_(False)
        self._model_cfg = as_section(ModelConfig, model_cfg)
        self._obs_space, self._num_actions = obs_space, int(num_actions)
        # torch's Adam update (the fused kernel on CPU and CUDA) without torch.optim's
        # ~1.3 s first-call import of the compiler, paid while Ray starts
        self.optimizer = Adam(self.online.parameters(), lr=float(algo.lr), eps=float(algo.adam_eps))
        self.updates = 0

    def sync_target(self) -> None:
        self.target.load_state_dict(self.online.state_dict())

    # ------------------------------------------------------------------ the agent contract
    def prepare(self, batch: Mapping[str, np.ndarray], weights: np.ndarray) -> TorchBatch:
        return TorchBatch.from_numpy(batch, weights, self.device)

    def export(self) -> tuple[Tensors, Metadata]:
        return export_for_edge(self.online)

    def load_export(self, tensors: Tensors, metadata: Metadata) -> None:
        try:
            load_tensors(self.online, tensors)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(str(exc)) from exc
        self.online.to(self.device)
        self.sync_target()

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.tensors(), self.optimizer_json()

    def greedy(self) -> Any:
        """The online network's argmax. The built-in MLP runs on numpy (the actors' forward,
        the same Q-values): a small batch costs ~20-40 µs instead of ~150-800 µs through
        torch, which is most of what a CartPole evaluation costs the learner."""
        if type(self.online) is MLPDuelingQ:
            return self._numpy_greedy()
        net, device = self.online, self.device

        @torch.no_grad()
        def act(obs: Observation) -> np.ndarray:
            was_training = net.training
            net.eval()
            try:
                return net(obs_to_tensor(obs, device)).argmax(dim=1).cpu().numpy()
            finally:
                net.train(was_training)

        return act

    def _numpy_greedy(self) -> Any:
        model = {**self._model_cfg.__dict__, "arch": MLPDuelingQ.arch}
        policy = NumpyDuelingPolicy(model, self._obs_space, self._num_actions, seed=0)
        policy.load(*self.export())  # a snapshot: later updates do not change it

        def act(obs: Observation) -> np.ndarray:
            return policy.q_values(obs).argmax(axis=1)

        return act

    def policy_module(self) -> tuple[QNetwork, str]:
        """The online Q-network: observations (a tensor or dict of tensors) -> Q [B, A]."""
        return self.online, "q_values"

    def update(self, batch: TorchBatch) -> tuple[np.ndarray, dict[str, float]]:
        """One gradient step on ``batch``; returns (new priorities, loss statistics)."""
        if not self.online.training:  # train() walks every submodule: ~80 µs an update
            self.online.train()
        q = self.online(batch.obs)
        q_taken = q.gather(1, batch.action.view(-1, 1)).squeeze(1)
        with torch.no_grad():
            next_target = self.target(batch.next_obs)
            if self.double_q:
                best = self.online(batch.next_obs).argmax(dim=1, keepdim=True)
            else:
                best = next_target.argmax(dim=1, keepdim=True)
            next_v = next_target.gather(1, best).squeeze(1)
            # No valid next action (all masked): nothing to bootstrap from.
            next_v = torch.where(torch.isfinite(next_v), next_v, torch.zeros_like(next_v))
            y = batch.reward + batch.discount * next_v
        td = y - q_taken
        # A transition drawn with probability 0 (a zero-priority leaf) gets an infinite
        # importance weight from the sampler; one such weight makes the loss, and then
        # every parameter, NaN for good. Such a draw contributes nothing instead.
        weights = torch.nan_to_num(batch.weights, nan=0.0, posinf=0.0, neginf=0.0)
        loss = (weights * huber(td, self.huber_delta)).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.max_grad_norm > 0:
            grad_norm = nn.utils.clip_grad_norm_(self.online.parameters(), self.max_grad_norm)
        else:
            grad_norm = torch.zeros(())
        self.optimizer.step()
        self.updates += 1
        if self.updates % self.target_update_interval == 0:
            self.sync_target()
        td_abs = td.detach().abs()
        priorities = (td_abs + self.td_priority_offset).cpu().numpy().astype(np.float64)
        stats = {
            "losses/td_loss": float(loss.detach()),
            "losses/q_mean": float(q_taken.detach().mean()),
            "losses/td_abs_mean": float(td_abs.mean()),
            "losses/grad_norm": float(grad_norm),
        }
        return priorities, stats

    # ------------------------------------------------------------------ state (checkpoints)

    def tensors(self) -> dict[str, Tensor]:
        """Every tensor of the learner's state, flat, for a safetensors checkpoint."""
        out: dict[str, Tensor] = {}
        for name, t in self.online.state_dict().items():
            out[f"online/{name}"] = t
        for name, t in self.target.state_dict().items():
            out[f"target/{name}"] = t
        state = self.optimizer.state_dict()
        for pid, pstate in state["state"].items():
            for key, value in pstate.items():
                if isinstance(value, Tensor):
                    out[f"optim/{pid}/{key}"] = value.reshape(-1) if value.dim() == 0 else value
        return out

    def optimizer_json(self) -> dict[str, Any]:
        """The optimizer's non-tensor state (param groups, which params have state)."""
        state = self.optimizer.state_dict()
        scalars = {
            str(pid): {k: (v.dim() == 0) for k, v in ps.items() if isinstance(v, Tensor)}
            for pid, ps in state["state"].items()
        }
        return {"param_groups": state["param_groups"], "tensor_keys": scalars}

    def load_state(self, tensors: Mapping[str, Tensor], optim_json: Mapping[str, Any]) -> None:
        """Restore from :meth:`tensors` and :meth:`optimizer_json` (a checkpoint)."""

        def sub(prefix: str) -> dict[str, Tensor]:
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

        self.online.load_state_dict(sub("online/"))
        self.target.load_state_dict(sub("target/"))
        opt_state: dict[str, Any] = {"state": {}, "param_groups": optim_json["param_groups"]}
        for pid, keys in optim_json["tensor_keys"].items():
            entry: dict[str, Tensor] = {}
            for key, is_scalar in keys.items():
                t = tensors[f"optim/{pid}/{key}"]
                entry[key] = t.reshape(()) if is_scalar else t
            opt_state["state"][int(pid)] = entry
        self.optimizer.load_state_dict(opt_state)


__all__ = ["DQN", "TorchBatch", "huber", "split_obs", "to_device"]
