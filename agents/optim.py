"""Adam for the learners: torch's own update, without ``torch.optim.Optimizer``'s start-up cost.

Every method of ``torch.optim.Optimizer`` (``zero_grad``, ``step``, ``state_dict``) imports
``torch._dynamo`` on its first call: ~1.3 s of CPU in the learner's set-up, on a 2-core
machine where Ray is starting beside it. :class:`Adam` keeps the moments and calls
torch's functional Adam (``torch.optim.adam.adam``, the fused kernel where the device has
one), which is the same arithmetic ``torch.optim.Adam`` runs, and never imports the
compiler. Its ``state_dict`` has ``torch.optim.Adam``'s layout, so checkpoints move
between the two.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.optim.adam import adam as adam_update

logger = logging.getLogger(__name__)

#: Devices whose fused Adam kernel torch ships.
FUSED_DEVICES = frozenset({"cpu", "cuda", "mps", "xpu"})


class Adam:
    """Adam (Kingma & Ba) over one parameter group; bit-identical to ``torch.optim.Adam``
    with the same ``lr``/``betas``/``eps`` (``fused=True`` where the device has the kernel).

    Promises: :meth:`step` applies one update to every parameter with a gradient and
    skips the others; :meth:`state_dict` / :meth:`load_state_dict` read and write
    ``torch.optim.Adam``'s layout (``state`` by parameter index, one ``param_groups``
    entry); a state that does not fit the parameters raises ``ValueError`` naming the
    index and keeps the optimizer as it was.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = [p for p in params]
        if not self.params:
            raise ValueError("Adam got an empty parameter list")
        if not lr >= 0.0:
            raise ValueError(f"Adam lr must be >= 0, got {lr!r}")
        if not eps >= 0.0:
            raise ValueError(f"Adam eps must be >= 0, got {eps!r}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"Adam betas must lie in [0, 1), got {betas!r}")
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.fused = all(
            p.device.type in FUSED_DEVICES and p.is_floating_point() for p in self.params
        )
        self.state: dict[int, dict[str, Tensor]] = {}

    def _state_of(self, i: int) -> dict[str, Tensor]:
        if i not in self.state:
            p = self.params[i]
            step_device = p.device if self.fused else torch.device("cpu")
            self.state[i] = {
                "step": torch.zeros((), dtype=torch.float32, device=step_device),
                "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
            }
        return self.state[i]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient."""
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        states = [self._state_of(i) for i in live]
        try:
            self._apply(live, states, fused=self.fused)
        except RuntimeError as exc:
            if not self.fused:
                raise
            # a device or dtype without the kernel: torch's per-tensor update from now on
            logger.info("fused Adam unavailable (%s); using the per-tensor update", exc)
            self.fused = False
            for s in states:
                s["step"] = s["step"].cpu()
            self._apply(live, states, fused=False)

    def _apply(self, live: list[int], states: list[dict[str, Tensor]], fused: bool) -> None:
        params = [self.params[i] for i in live]
        adam_update(
            params,
            [p.grad for p in params],  # type: ignore[misc]
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            [s["step"] for s in states],
            foreach=False,
            fused=fused,
            capturable=False,
            differentiable=False,
            amsgrad=False,
            beta1=self.betas[0],
            beta2=self.betas[1],
            lr=self.lr,
            weight_decay=0.0,
            eps=self.eps,
            maximize=False,
            grad_scale=None,
            found_inf=None,
        )

    # ------------------------------------------------------------------ torch.optim.Adam's layout
    def state_dict(self) -> dict[str, Any]:
        group = {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": 0,
            "amsgrad": False,
            "maximize": False,
            "foreach": None,
            "capturable": False,
            "differentiable": False,
            "fused": self.fused,
            "decoupled_weight_decay": False,
            "params": list(range(len(self.params))),
        }
        state = {i: dict(s) for i, s in sorted(self.state.items())}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Adopt a state of this layout (also one ``torch.optim.Adam`` wrote)."""
        groups = state_dict.get("param_groups")
        if not isinstance(groups, list) or len(groups) != 1:
            raise ValueError(f"Adam state: expected one param group, got {groups!r}")
        group = groups[0]
        loaded: dict[int, dict[str, Tensor]] = {}
        for key, entry in dict(state_dict.get("state", {})).items():
            i = int(key)
            if not 0 <= i < len(self.params):
                raise ValueError(f"Adam state: parameter index {i} of {len(self.params)}")
            p = self.params[i]
            try:
                avg, avg_sq, step = entry["exp_avg"], entry["exp_avg_sq"], entry["step"]
            except KeyError as exc:
                raise ValueError(f"Adam state of parameter {i}: missing {exc}") from exc
            if avg.shape != p.shape or avg_sq.shape != p.shape:
                raise ValueError(
                    f"Adam state of parameter {i}: moments of shape {tuple(avg.shape)}, "
                    f"the parameter is {tuple(p.shape)}"
                )
            step_device = p.device if self.fused else torch.device("cpu")
            loaded[i] = {
                "step": torch.as_tensor(step, dtype=torch.float32)
                .reshape(())
                .to(step_device)
                .clone(),
                "exp_avg": avg.to(p.device, p.dtype).clone(),
                "exp_avg_sq": avg_sq.to(p.device, p.dtype).clone(),
            }
        betas = group.get("betas", self.betas)
        self.lr = float(group.get("lr", self.lr))
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(group.get("eps", self.eps))
        self.state = loaded


__all__ = ["FUSED_DEVICES", "Adam"]
