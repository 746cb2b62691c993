"""QR-DQN as a user's agent: DQN's actors, a quantile learner, exported as DQN's mean-Q net."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.core import AgentLearner
from agents.dqn.agent import DQNAgent
from agents.dqn.networks import export_for_edge, obs_to_tensor
from conf.schema import DQNConfig


@dataclass
class QRConfig(DQNConfig):  # DQN's fields plus the number of quantiles
    name: str = "my_agents.qr:QRDQN"
    quantiles: int = 32


def quantile_net(obs_dim: int, hidden: list[int], outputs: int) -> nn.Sequential:
    sizes, layers = [obs_dim, *hidden], [nn.Flatten()]
    for a, b in zip(sizes, sizes[1:], strict=False):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], outputs))


class QRLearner(AgentLearner):
    def __init__(self, agent: "QRDQN", device: torch.device, seed: int) -> None:
        torch.manual_seed(seed)
        self.agent, self.algo, self.device, self.updates = agent, agent.algo, device, 0
        self.a, self.n = agent.num_actions, int(agent.algo.quantiles)
        dims = (int(np.prod(agent.observation_space.shape)), list(agent.model.hidden_sizes))
        self.online = quantile_net(*dims, self.a * self.n).to(device)
        self.target = quantile_net(*dims, self.a * self.n).to(device)
        self.target.load_state_dict(self.online.state_dict())
        self.opt = torch.optim.Adam(self.online.parameters(), lr=self.algo.lr)
        self.tau = (torch.arange(self.n, device=device) + 0.5) / self.n  # quantile midpoints

    def z(self, net: nn.Module, obs: Any) -> torch.Tensor:  # quantiles [B, A, N]
        return net(obs.to(self.device).float()).view(-1, self.a, self.n)

    def prepare(self, batch: Any, weights: np.ndarray) -> dict[str, torch.Tensor]:
        keys, cols = (
            ("obs", "action", "reward", "discount", "next_obs", "w"),
            {**batch, "w": weights},
        )
        return {k: torch.as_tensor(np.asarray(cols[k])).to(self.device) for k in keys}

    def update(self, b: dict[str, torch.Tensor]) -> tuple[np.ndarray, dict[str, float]]:
        rows = torch.arange(len(b["action"]), device=self.device)
        z = self.z(self.online, b["obs"])[rows, b["action"]]  # [B, N]
        with torch.no_grad():
            best = self.z(self.online, b["next_obs"]).mean(2).argmax(1)
            nxt = self.z(self.target, b["next_obs"])[rows, best]
            target = b["reward"][:, None].float() + b["discount"][:, None].float() * nxt
        u = target[:, None, :] - z[:, :, None]  # [B, N(predicted), N(target)]
        huber = nn.functional.huber_loss(u, torch.zeros_like(u), reduction="none")
        per = ((self.tau[None, :, None] - (u < 0).float()).abs() * huber).sum(1).mean(1)
        loss = (torch.nan_to_num(b["w"].float(), posinf=0.0) * per).mean()
        self.opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.online.parameters(), self.algo.max_grad_norm)
        self.opt.step()
        self.updates += 1
        if self.updates % self.algo.target_update_interval_updates == 0:
            self.target.load_state_dict(self.online.state_dict())
        return per.detach().cpu().numpy() + 1e-3, {"losses/quantile_loss": float(loss)}

    def export(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        linears = [m for m in self.online if isinstance(m, nn.Linear)]
        w = linears[-1].weight.view(self.a, self.n, -1).mean(1)  # the mean-Q head [A, H]
        bias = linears[-1].bias.view(self.a, self.n).mean(1)
        net = self.agent.network()  # DQN's dueling MLP: V + A - mean(A) is our mean-Q exactly
        for mine, theirs in zip(linears[:-1], net.torso, strict=True):
            theirs.load_state_dict(mine.state_dict())
        net.advantage[0].weight.data, net.advantage[0].bias.data = w, bias
        net.value[0].weight.data, net.value[0].bias.data = w.mean(0, True), bias.mean(0, True)
        return export_for_edge(net)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return dict(self.online.state_dict()), {}  # the target is re-synced on load

    def load_state(self, tensors: Any, extras: Any) -> None:
        self.online.load_state_dict(dict(tensors))
        self.target.load_state_dict(self.online.state_dict())

    def greedy(self) -> Any:
        mean_q = torch.no_grad()(lambda obs: self.z(self.online, obs_to_tensor(obs)).mean(2))
        return lambda obs: mean_q(obs).argmax(1).cpu().numpy()


class QRDQN(DQNAgent):  # DQN's acting half, our learning half
    name = "my_agents.qr:QRDQN"
    config_class = QRConfig

    def learner(self, device: Any, seed: int) -> QRLearner:
        return QRLearner(self, torch.device(device), seed)
