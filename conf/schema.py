"""The typed configuration of an fsrl run: one dataclass per section, composed into :class:`Config`.

Every field is documented where it is declared, with its unit in its name. The
dataclasses are registered in Hydra's ConfigStore as ``base_<section>`` (and the root
as ``base_config``); each YAML file under ``conf/<group>/`` extends its schema through
its own ``defaults:`` list (``- base_<section>`` then ``- _self_``). A misspelled key
(``actors.nmu=16``) therefore fails at composition, and :func:`validate` rejects bad
values (``actors.num=0``, a negative learning rate, an unknown device) with a
``ValueError`` naming the field, before anything starts.

Sections are plain dataclasses; convert a composed config with
:func:`conf.to_container` (plain dicts) before handing it to a Ray actor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from replay.config import ReplayConfig  # the replay package owns its section

MODES = ("async", "sync")
ARCHS = ("auto", "mlp_dueling", "cnn_dueling", "candidate_scorer")
ROBOT_BACKENDS = ("sim", "gopigo3")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")


@dataclass
class EnvConfig:
    """Which environment every actor (and the evaluator) builds."""

    # Gymnasium id; "module:Id" imports ``module`` first (it registers ``Id``).
    id: str = "CartPole-v1"
    # Keyword arguments passed to ``gymnasium.make``.
    kwargs: dict[str, Any] = field(default_factory=dict)
    # Time limit in steps (truncation); null keeps the registered limit.
    max_episode_steps: int | None = None
    # Episodes played by each greedy evaluation.
    eval_episodes: int = 20
    # Seed of the first evaluation episode; episode i uses eval_seed + i (fixed seeds).
    eval_seed: int = 1_000_000
    # Evaluation mean return at which this environment counts as solved (null: none).
    solved_return: float | None = None


@dataclass
class ModelConfig:
    """The Q-network family and its size; ``tag`` names the versioned weight line."""

    # Weight line in the store (versions are per tag); null derives "<env>-<arch>".
    tag: str | None = None
    # mlp_dueling | cnn_dueling | candidate_scorer | auto (chosen from the observation space).
    arch: str = "auto"
    # Widths of the shared torso (MLP) or of the per-candidate scorer (candidate_scorer).
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])
    # Width of the value and advantage heads' hidden layer (0: linear heads).
    head_hidden_size: int = 0
    # CNN channels per conv layer (cnn_dueling).
    cnn_channels: list[int] = field(default_factory=lambda: [32, 64])
    # CNN kernel sizes per conv layer (cnn_dueling).
    cnn_kernel_sizes: list[int] = field(default_factory=lambda: [3, 3])
    # CNN strides per conv layer (cnn_dueling).
    cnn_strides: list[int] = field(default_factory=lambda: [1, 1])
    # Observations are multiplied by this before the network (e.g. 1/255 for pixels).
    input_scale: float = 1.0


@dataclass
class AlgoConfig:
    """Ape-X DQN: double Q, dueling heads, n-step targets, prioritized replay."""

    # Discount per environment step.
    gamma: float = 0.99
    # Rewards folded into one transition by the actors (targets use the stored discount).
    n_step: int = 3
    # Double DQN: the online net picks the next action, the target net scores it.
    double_q: bool = True
    # Adam learning rate.
    lr: float = 1e-3
    # Adam epsilon.
    adam_eps: float = 1e-5
    # Transitions per learner update.
    batch_size: int = 128
    # Learner updates between hard copies of the online net into the target net.
    target_update_interval_updates: int = 250
    # Global gradient-norm clip (0 disables).
    max_grad_norm: float = 10.0
    # Huber loss threshold (delta) on the TD error.
    huber_delta: float = 1.0
    # Importance-sampling exponent reached at the end of the budget, annealed linearly
    # from replay.beta (the priority exponent is replay.alpha).
    priority_beta_final: float = 1.0
    # Added to |TD| to form a new priority, so nothing gets priority 0.
    priority_eps: float = 1e-3


@dataclass
class ActorsConfig:
    """The Ray actor workers that play the environment and feed the replay."""

    # Number of actor workers.
    num: int = 2
    # Environments stepped in lock-step by each actor.
    envs_per_actor: int = 1
    # Ape-X exploration ladder: eps_i = eps_base ** (1 + eps_alpha * i / (N - 1)).
    eps_base: float = 0.4
    # Exponent of the exploration ladder.
    eps_alpha: float = 7.0
    # Transitions per chunk written to the replay.
    chunk_size: int = 64
    # Seconds between checks of the latest weight version.
    weight_poll_interval_s: float = 0.5
    # Longest a partial chunk waits before it is flushed, milliseconds.
    flush_timeout_ms: int = 1_000
    # CPUs reserved per actor in Ray (fractions allowed).
    num_cpus_per_actor: float = 0.5
    # Times Ray restarts a crashed actor (-1: forever).
    max_restarts: int = 3
    # Seconds between actor heartbeats (liveness).
    heartbeat_interval_s: float = 1.0
    # Torch threads per actor for CPU inference (cnn_dueling, candidate_scorer; the dueling
    # MLP runs on numpy in the actors).
    torch_threads: int = 1


@dataclass
class LearnerConfig:
    """The learner process: device, weight publishing, prefetch, checkpoints, evaluation."""

    # auto | cpu | cuda | cuda:N (auto: CUDA when present, else CPU).
    device: str = "auto"
    # Learner updates between weight publications.
    publish_interval_updates: int = 50
    # Weight versions kept per model tag in the store (older ones are dropped).
    weights_history: int = 8
    # Sampled batches kept ready (async mode) by the sampler process or prefetch thread.
    prefetch_batches: int = 8
    # Learner updates between checkpoints on disk (0: only the final one).
    checkpoint_interval_updates: int = 5_000
    # Checkpoint folder; null: "<run dir>/checkpoints".
    checkpoint_dir: str | None = None
    # Checkpoints kept on disk (oldest removed first).
    keep_checkpoints: int = 2
    # Continue a run: from resume_from, else checkpoint_dir, else the newest checkpoint of
    # this model tag under the runs folder (the run dir's grandparent, e.g. runs/).
    resume: bool = False
    # A checkpoint folder to resume from (implies resume); null: newest in checkpoint_dir.
    resume_from: str | None = None
    # Seconds between greedy evaluations in the learner (0: only at the end).
    eval_interval_s: float = 5.0
    # Episodes of the cheap screen that must reach budget.target_eval_return before a full
    # env.eval_episodes evaluation is played (0: always play the full evaluation).
    eval_screen_episodes: int = 3
    # Most of the wall time periodic evaluations may take: after an evaluation that took
    # d seconds the next waits at least d / eval_max_time_fraction (0: no such limit).
    eval_max_time_fraction: float = 0.05
    # Torch intra-op threads of the learner (0: torch's default).
    torch_threads: int = 1
    # Async mode: sample in a child process (python -m replay.sampler_process) instead of
    # a thread of the learner. Sampling is Python that holds the GIL; beside the updates
    # in one process it cost the 2-core box half its updates/s (docs/benchmarks.md).
    sampler_process: bool = True
    # Seconds the learner waits for one batch before it reports starvation.
    sample_timeout_ms: int = 1_000
    # Updates per collect phase in mode=sync, per env step collected.
    sync_updates_per_step: float = 0.25
    # Env steps collected per actor per sync phase.
    sync_steps_per_phase: int = 500


@dataclass
class RayConfig:
    """Where the actors run: a local Ray or an existing cluster."""

    # null: start a local Ray; "auto": join the cluster on this node; "ray://host:10001": client.
    address: str | None = None
    # CPUs of the local Ray (null: all of this machine's); ignored when joining a cluster.
    num_cpus: int | None = None
    # Ray namespace of the run's named actors.
    namespace: str = "fsrl"
    # Start Ray's dashboard (local Ray only).
    include_dashboard: bool = False


@dataclass
class BudgetConfig:
    """When the run stops: the first budget reached wins (null: unlimited)."""

    # Environment steps collected by all actors.
    env_steps: int | None = 500_000
    # Learner updates.
    learner_updates: int | None = None
    # Wall-clock seconds from start.
    wall_time_s: float | None = 900.0
    # Stop as soon as a greedy evaluation reaches this mean return (null: never).
    target_eval_return: float | None = "${env.solved_return}"  # type: ignore[assignment]


@dataclass
class LoggingConfig:
    """The metrics logger's sinks (one logger, namespaces charts/ losses/ replay/ actors/)."""

    # Live rich console view.
    console: bool = True
    # TensorBoard event files in the run dir.
    tensorboard: bool = True
    # metrics.jsonl in the run dir.
    jsonl: bool = True
    # Seconds between metric dumps.
    interval_s: float = 2.0
    # Python logging level of fsrl's loggers.
    level: str = "INFO"
    # text | json (one JSON object per line with run, tag, version, actor, host; see telemetry/).
    format: str = "text"
    # With format=json, where lines are shipped: redis (a bounded stream of the run) | amqp | nats | none.
    ship: str = "redis"
    # Broker URL; null: the run's Redis / amqp://guest:guest@127.0.0.1:5672 / nats://127.0.0.1:4222.
    ship_url: str | None = None
    # AMQP queue / NATS subject; null: fsrl.logs.<namespace>.
    ship_topic: str | None = None
    # Entries kept in the Redis log stream (MAXLEN ~).
    ship_maxlen: int = 10_000
    # Extra metric sinks beside TensorBoard: wandb and/or mlflow (optional packages).
    sinks: list[str] = field(default_factory=list)


@dataclass
class RobotConfig:
    """The GoPiGo3 robot reached through ``envs/gopigo_bridge`` and ``robot_edge``."""

    # sim (a simulated robot, same service) | gopigo3 (the real motors/sensors).
    backend: str = "sim"
    # ZeroMQ endpoint of the robot_edge service; null auto-starts a local sim edge.
    endpoint: str | None = None
    # Motors stop when no command arrives within this many milliseconds.
    watchdog_ms: int = 300
    # A step without reply within this many milliseconds fails the step.
    step_timeout_ms: int = 200
    # Tries of a request after a timeout (Lazy Pirate: the socket is recreated each time).
    retries: int = 3
    # This host's CURVE key home (python -m robot_edge.pair); null: plain text (local sim only).
    keys_dir: str | None = None
    # The Pi's public key file; null: <keys_dir>/peers/pi.key.
    server_key_file: str | None = None


@dataclass
class Config:
    """Root of an fsrl run."""

    # async: actors collect continuously beside the learner; sync: alternate collect/train.
    mode: str = "async"
    # Seed of everything (actors, learner, sampler, evaluation use offsets of it).
    seed: int = 0
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    actors: ActorsConfig = field(default_factory=ActorsConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    robot: RobotConfig = field(default_factory=RobotConfig)


_SECTIONS: dict[str, type] = {
    "env": EnvConfig,
    "model": ModelConfig,
    "algo": AlgoConfig,
    "actors": ActorsConfig,
    "learner": LearnerConfig,
    "replay": ReplayConfig,
    "ray": RayConfig,
    "budget": BudgetConfig,
    "logging": LoggingConfig,
    "robot": RobotConfig,
}


def register_configs() -> None:
    """Store the schema in Hydra's ConfigStore: ``base_config`` and ``<group>/base_<group>``."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    for group, node in _SECTIONS.items():
        cs.store(group=group, name=f"base_{group}", node=node)


# ---------------------------------------------------------------------------- validation


def _get(cfg: Any, dotted: str) -> Any:
    node = cfg
    for part in dotted.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node


def _check(cfg: Any, dotted: str, ok: Any, need: str) -> None:
    value = _get(cfg, dotted)
    if not ok(value):
        raise ValueError(f"config field {dotted}={value!r} is invalid: must be {need}")


def _pos(v: Any) -> bool:
    return v is not None and v > 0


def _nonneg(v: Any) -> bool:
    return v is not None and v >= 0


def _opt_pos(v: Any) -> bool:
    return v is None or v > 0


def validate(cfg: Any) -> None:
    """Raise ``ValueError`` naming the first field whose value cannot work.

    Accepts a :class:`Config`, a ``DictConfig`` or a plain dict of the same shape.
    """
    _check(cfg, "mode", lambda v: v in MODES, f"one of {MODES}")
    _check(cfg, "seed", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0")
    _check(cfg, "env.id", lambda v: isinstance(v, str) and v.strip() != "", "a Gymnasium id")
    _check(cfg, "env.max_episode_steps", _opt_pos, "null or > 0")
    _check(cfg, "env.eval_episodes", _pos, "> 0")
    _check(cfg, "model.arch", lambda v: v in ARCHS, f"one of {ARCHS}")
    _check(
        cfg,
        "model.tag",
        lambda v: v is None or re.fullmatch(r"[A-Za-z0-9_.\-]+", v) is not None,
        "null or letters, digits, '_', '.', '-'",
    )
    _check(cfg, "model.hidden_sizes", lambda v: len(v) >= 1 and all(h > 0 for h in v), "widths > 0")
    _check(cfg, "model.head_hidden_size", _nonneg, ">= 0")
    n_conv = len(_get(cfg, "model.cnn_channels"))
    for name in ("cnn_channels", "cnn_kernel_sizes", "cnn_strides"):
        _check(
            cfg,
            f"model.{name}",
            lambda v: len(v) == n_conv and n_conv >= 1 and all(x > 0 for x in v),
            f"{n_conv} positive integers (one per conv layer)",
        )
    _check(cfg, "model.input_scale", _pos, "> 0")
    _check(cfg, "algo.gamma", lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
    _check(cfg, "algo.n_step", _pos, ">= 1")
    _check(cfg, "algo.lr", _pos, "> 0")
    _check(cfg, "algo.adam_eps", _pos, "> 0")
    _check(cfg, "algo.batch_size", _pos, ">= 1")
    _check(cfg, "algo.target_update_interval_updates", _pos, ">= 1")
    _check(cfg, "algo.max_grad_norm", _nonneg, ">= 0")
    _check(cfg, "algo.huber_delta", _pos, "> 0")
    _check(cfg, "algo.priority_beta_final", lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
    _check(cfg, "algo.priority_eps", _pos, "> 0")
    _check(cfg, "actors.num", _pos, ">= 1")
    _check(cfg, "actors.envs_per_actor", _pos, ">= 1")
    _check(cfg, "actors.eps_base", lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
    _check(cfg, "actors.eps_alpha", _nonneg, ">= 0")
    _check(cfg, "actors.chunk_size", _pos, ">= 1")
    _check(cfg, "actors.weight_poll_interval_s", _pos, "> 0")
    _check(cfg, "actors.flush_timeout_ms", _pos, "> 0")
    _check(cfg, "actors.num_cpus_per_actor", _nonneg, ">= 0")
    _check(cfg, "actors.max_restarts", lambda v: v >= -1, ">= -1 (-1: forever)")
    _check(cfg, "actors.heartbeat_interval_s", _pos, "> 0")
    _check(cfg, "actors.torch_threads", _pos, ">= 1")
    _check(
        cfg,
        "learner.device",
        lambda v: isinstance(v, str) and _DEVICE_RE.match(v) is not None,
        "auto, cpu, cuda or cuda:N",
    )
    _check(cfg, "learner.publish_interval_updates", _pos, ">= 1")
    _check(cfg, "learner.weights_history", _pos, ">= 1")
    _check(cfg, "learner.prefetch_batches", _pos, ">= 1")
    _check(cfg, "learner.checkpoint_interval_updates", _nonneg, ">= 0")
    _check(cfg, "learner.keep_checkpoints", _pos, ">= 1")
    _check(cfg, "learner.eval_interval_s", _nonneg, ">= 0")
    _check(cfg, "learner.eval_screen_episodes", _nonneg, ">= 0")
    _check(cfg, "learner.eval_max_time_fraction", lambda v: 0 <= v <= 1, "in [0, 1]")
    _check(cfg, "learner.torch_threads", _nonneg, ">= 0")
    _check(cfg, "learner.sample_timeout_ms", _pos, "> 0")
    _check(cfg, "learner.sync_updates_per_step", _nonneg, ">= 0")
    _check(cfg, "learner.sync_steps_per_phase", _pos, ">= 1")
    _check(
        cfg,
        "replay.redis_url",
        lambda v: v is None or re.match(r"^(redis|rediss|unix)://", v) is not None,
        "null (embedded server) or a redis://, rediss:// or unix:// URL",
    )
    _check(cfg, "replay.capacity", _pos, ">= 1")
    _check(cfg, "replay.min_size_to_sample", _nonneg, ">= 0")
    _check(
        cfg,
        "replay.min_size_to_sample",
        lambda v: v <= _get(cfg, "replay.capacity"),
        "<= replay.capacity",
    )
    _check(cfg, "replay.samples_per_insert", lambda v: v is None or v >= 0, "null or >= 0")
    _check(cfg, "replay.alpha", lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
    _check(cfg, "replay.beta", lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
    replay_cfg = _get(cfg, "replay")
    if isinstance(replay_cfg, dict):
        replay_cfg = ReplayConfig(**replay_cfg)
    try:
        replay_cfg.table_config()
    except ValueError as exc:
        raise ValueError(f"config section replay is invalid: {exc}") from exc
    _check(
        cfg,
        "ray.address",
        lambda v: v is None or v == "auto" or re.match(r"^(ray://)?[\w.\-]+:\d+$", v),
        "null (local Ray), 'auto' or host:port / ray://host:port",
    )
    _check(cfg, "ray.num_cpus", _opt_pos, "null or >= 1")
    _check(cfg, "budget.env_steps", _opt_pos, "null or > 0")
    _check(cfg, "budget.learner_updates", _opt_pos, "null or > 0")
    _check(cfg, "budget.wall_time_s", _opt_pos, "null or > 0")
    _check(
        cfg,
        "budget.target_eval_return",
        lambda v: v is None or (isinstance(v, int | float) and not isinstance(v, bool)),
        "null or a number (compose through conf.load_config to resolve ${env.solved_return})",
    )
    if all(
        _get(cfg, f"budget.{k}") is None for k in ("env_steps", "learner_updates", "wall_time_s")
    ):
        raise ValueError(
            "config field budget is invalid: at least one of budget.env_steps, "
            "budget.learner_updates, budget.wall_time_s must be set (else the run never stops)"
        )
    _check(cfg, "logging.interval_s", _pos, "> 0")
    _check(
        cfg,
        "logging.level",
        lambda v: v in ("DEBUG", "INFO", "WARNING", "ERROR"),
        "DEBUG, INFO, WARNING or ERROR",
    )
    _check(cfg, "logging.format", lambda v: v in ("text", "json"), "text or json")
    _check(
        cfg,
        "logging.ship",
        lambda v: v in ("redis", "amqp", "nats", "none"),
        "redis|amqp|nats|none",
    )
    _check(cfg, "logging.sinks", lambda v: set(v) <= {"wandb", "mlflow"}, "a list of wandb, mlflow")
    _check(cfg, "robot.backend", lambda v: v in ROBOT_BACKENDS, f"one of {ROBOT_BACKENDS}")
    _check(cfg, "robot.watchdog_ms", _pos, "> 0")
    _check(cfg, "robot.step_timeout_ms", _pos, "> 0")
    if "gopigo" in str(_get(cfg, "env.id")).lower() and _get(cfg, "robot.endpoint") is not None:
        # One robot behind one endpoint: every further env would drive the same motors.
        one = "1 when robot.endpoint is set (one robot, one env; experiment=gopigo sets it)"
        _check(cfg, "actors.num", lambda v: v == 1, one)
        _check(cfg, "actors.envs_per_actor", lambda v: v == 1, one)


__all__ = [
    "MISSING",
    "ActorsConfig",
    "AlgoConfig",
    "BudgetConfig",
    "Config",
    "EnvConfig",
    "LearnerConfig",
    "LoggingConfig",
    "ModelConfig",
    "RayConfig",
    "ReplayConfig",
    "RobotConfig",
    "register_configs",
    "validate",
]
