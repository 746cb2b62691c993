"""The ``algo`` section of a SAC run (``algo=sac``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SACConfig:
    """Soft Actor-Critic settings. Defaults are CleanRL's ``sac_continuous_action.py``.

    There is no ``learning_starts``: the replay's ``min_size_to_sample`` holds the
    learner back until enough transitions are in.
    """

    #: Which agent this section configures (``algo.name``).
    name: str = "sac"
    #: Discount per environment step.
    gamma: float = 0.99
    #: Steps folded into one transition by the actors (1 = plain one-step SAC targets).
    n_step: int = 1
    #: Transitions per learner update.
    batch_size: int = 256
    #: Adam learning rate of the actor (policy) network.
    policy_lr: float = 3e-4
    #: Adam learning rate of the twin critics.
    q_lr: float = 1e-3
    #: Adam learning rate of log(alpha) when ``autotune`` (CleanRL uses ``q_lr``).
    alpha_lr: float = 1e-3
    #: Polyak factor of the target critics per target update: θ' ← τ θ + (1 − τ) θ'.
    tau: float = 0.005
    #: Entropy temperature at the start (the fixed temperature when not ``autotune``).
    alpha_init: float = 1.0
    #: Learn the temperature so the policy's entropy tracks the target entropy.
    autotune: bool = True
    #: Target entropy per action dimension: the target is this x |A| (SAC's usual −|A|).
    target_entropy_per_action_dim: float = -1.0
    #: Actor (and temperature) updates happen every this many critic updates, this many at once.
    policy_frequency: int = 2
    #: Target critics move toward the critics every this many updates.
    target_network_frequency: int = 1
    #: Hidden layer widths of the actor and of each critic (ReLU MLPs).
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])
    #: The actor's log standard deviation is squashed into [log_std_min, log_std_max].
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    #: Each actor's env steps with uniform random actions before its policy acts (CleanRL: 5000).
    random_warmup_steps: int = 0
    #: Added to |TD error| so every replay priority is > 0.
    priority_eps: float = 1e-6

    def __post_init__(self) -> None:
        checks = {
            "gamma": 0.0 <= self.gamma <= 1.0,
            "n_step": isinstance(self.n_step, int) and 1 <= self.n_step <= 255,
            "batch_size": self.batch_size >= 1,
            "policy_lr": self.policy_lr > 0,
            "q_lr": self.q_lr > 0,
            "alpha_lr": self.alpha_lr > 0,
            "tau": 0.0 < self.tau <= 1.0,
            "alpha_init": self.alpha_init > 0,
            "policy_frequency": self.policy_frequency >= 1,
            "target_network_frequency": self.target_network_frequency >= 1,
            "hidden_sizes": len(self.hidden_sizes) >= 1 and all(h >= 1 for h in self.hidden_sizes),
            "log_std_max": self.log_std_min < self.log_std_max,
            "random_warmup_steps": self.random_warmup_steps >= 0,
            "priority_eps": self.priority_eps > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"algo (sac): invalid {', '.join(f'{b}={getattr(self, b)!r}' for b in bad)}"
            )
