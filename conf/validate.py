"""Value checks of a composed config: :func:`validate` names the first field that cannot work.

Types and unknown keys are Hydra's job (the schema); this is about values, and it runs
before anything starts (no Redis, no Ray).
"""

from __future__ import annotations

import re
from typing import Any

from conf.urls import redact_url, redis_url_problem

ARCHS = ("auto", "mlp_dueling", "cnn_dueling", "candidate_scorer")
ROBOT_BACKENDS = ("sim", "gopigo3")
CNN_LAYOUTS = ("auto", "chw", "hwc", "hw")
MODES = ("async", "sync")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")
_SPEC_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _has(cfg: Any, dotted: str) -> bool:
    try:
        _get(cfg, dotted)
    except (AttributeError, KeyError):
        return False
    return True


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
    _check(cfg, "env.eval_max_episode_steps", _opt_pos, "null or > 0")
    _check(
        cfg,
        "budget.target_eval_means",
        lambda v: all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(k)) for k in (v or {})),
        "a mapping of info keys (e.g. win) to the evaluation means required",
    )
    _check(
        cfg,
        "env.eval_metric",
        lambda v: isinstance(v, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) is not None,
        "'return' or the name of an info key (e.g. lines, apples)",
    )
    _check(cfg, "env.atari_noop_max", _nonneg, ">= 0")
    _check(cfg, "env.atari_frame_skip", _pos, ">= 1")
    _check(cfg, "env.atari_screen_size", lambda v: v is not None and v >= 16, ">= 16 (pixels)")
    _check(cfg, "env.frame_stack", _nonneg, ">= 0 (0 or 1: no stacking)")
    if _get(cfg, "env.episodic_life"):
        _check(cfg, "env.atari", bool, "true when env.episodic_life is (lives come from ale-py)")
    _check(
        cfg,
        "model.arch",
        lambda v: v in ARCHS or _SPEC_RE.match(str(v)) is not None,
        f"one of {ARCHS} or your network as 'package.module:ClassName'",
    )
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
    _check(cfg, "model.cnn_layout", lambda v: v in CNN_LAYOUTS, f"one of {CNN_LAYOUTS}")
    _check(cfg, "algo.name", lambda v: isinstance(v, str) and v.strip() != "", "an agent name")
    _check(cfg, "algo.gamma", lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
    _check(cfg, "algo.n_step", _pos, ">= 1")
    _check(cfg, "algo.batch_size", _pos, ">= 1")
    _check(cfg, "algo.priority_beta_final", lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
    for name, ok, need in _ALGO_FIELD_RULES:  # checked where the agent's section has them
        if _has(cfg, f"algo.{name}"):
            _check(cfg, f"algo.{name}", ok, need)
    _check(cfg, "actors.num", _pos, ">= 1")
    _check(cfg, "actors.envs_per_actor", _pos, ">= 1")
    _check(cfg, "replay.chunk_size", _pos, ">= 1")
    _check(cfg, "replay.max_pending_chunks", _pos, ">= 1")
    _check(cfg, "replay.max_chunk_age_ms", _nonneg, ">= 0 (0: send every partial chunk at once)")
    _check(cfg, "replay.flush_timeout_ms", _pos, "> 0")
    _check(cfg, "actors.weight_poll_interval_s", _pos, "> 0")
    _check(cfg, "actors.num_cpus_per_actor", _nonneg, ">= 0")
    _check(cfg, "actors.max_restarts", lambda v: v >= -1, ">= -1 (-1: forever)")
    _check(cfg, "actors.heartbeat_interval_s", _pos, "> 0")
    _check(cfg, "actors.torch_threads", _pos, ">= 1")
    _check(cfg, "actors.follow", lambda v: v in ("latest", "champion"), "latest or champion")
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
    _check(cfg, "learner.eval_interval_updates", _nonneg, ">= 0")
    _check(cfg, "learner.eval_screen_episodes", _nonneg, ">= 0")
    _check(cfg, "learner.eval_max_time_fraction", lambda v: 0 <= v <= 1, "in [0, 1]")
    _check(cfg, "learner.warm_start_max_s", lambda v: v >= 0, ">= 0")
    _check(cfg, "learner.torch_threads", _nonneg, ">= 0")
    _check(cfg, "learner.sample_timeout_ms", _pos, "> 0")
    _check(cfg, "learner.gate_margin", _nonneg, ">= 0")
    if _has(cfg, "selfplay"):
        _validate_selfplay(cfg)
    _check(cfg, "learner.lease_ttl_s", _pos, "> 0")
    _check(cfg, "learner.sync_updates_per_step", _nonneg, ">= 0")
    _check(cfg, "learner.sync_steps_per_phase", _pos, ">= 1")
    redis_url = _get(cfg, "replay.redis_url")
    if redis_url is not None and (problem := redis_url_problem(redis_url)) is not None:
        # The value is masked: a password in the URL never reaches a log or a terminal.
        raise ValueError(
            f"config field replay.redis_url={redact_url(str(redis_url))!r} is invalid: must be "
            f"null (embedded server) or {problem}"
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
    _check(
        cfg,
        "ray.address",
        lambda v: v is None or v == "auto" or re.match(r"^(ray://)?[\w.\-]+:\d+$", v),
        "null (local Ray), 'auto' or host:port / ray://host:port",
    )
    _check(cfg, "ray.num_cpus", _opt_pos, "null or >= 1")
    _check(cfg, "ray.worker_niceness", lambda v: -20 <= v <= 19, "in [-20, 19]")
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


def _validate_selfplay(cfg: Any) -> None:
    """The two-player gate and the self-play section (checked even when game is null)."""
    _check(cfg, "learner.gate_threshold", lambda v: 0.0 < v <= 1.0, "in (0, 1]")
    _check(cfg, "learner.gate_games", lambda v: v >= 2 and v % 2 == 0, "an even number >= 2")
    _check(cfg, "selfplay.game", lambda v: v is None or str(v).strip() != "", "null or a game")
    _check(cfg, "selfplay.pool_share", _unit, "in [0, 1]")
    _check(cfg, "selfplay.pool_size", _pos, ">= 1")
    _check(cfg, "selfplay.pool_interval_versions", _pos, ">= 1")
    _check(cfg, "selfplay.pool_weighting", lambda v: v in ("pfsp", "uniform"), "pfsp or uniform")
    _check(cfg, "selfplay.pfsp_power", _nonneg, ">= 0")
    _check(cfg, "selfplay.opening_plies", _nonneg, ">= 0")
    _check(cfg, "selfplay.search_depth", lambda v: 0 <= v <= 6, "in [0, 6]")
    _check(cfg, "selfplay.actor_search_depth", lambda v: 0 <= v <= 6, "in [0, 6]")
    _check(cfg, "selfplay.arena_opening_plies", _nonneg, ">= 0")
    _check(cfg, "selfplay.baselines", lambda v: len(v) >= 1, "at least one opponent")
    _check(cfg, "selfplay.alphabeta_depth", _pos, ">= 1")


def _unit(v: Any) -> bool:
    return v is not None and 0.0 <= v <= 1.0


#: Value rules of fields some agents' ``algo`` sections have (DQN's, SAC's, a user's).
_ALGO_FIELD_RULES: tuple[tuple[str, Any, str], ...] = (
    ("lr", _pos, "> 0"),
    ("adam_eps", _pos, "> 0"),
    ("target_update_interval_updates", _pos, ">= 1"),
    ("max_grad_norm", _nonneg, ">= 0"),
    ("huber_delta", _pos, "> 0"),
    ("td_priority_offset", _pos, "> 0"),
    ("eps_base", _unit, "in [0, 1]"),
    ("eps_alpha", _nonneg, ">= 0"),
    ("policy_lr", _pos, "> 0"),
    ("q_lr", _pos, "> 0"),
    ("alpha_lr", _pos, "> 0"),
    ("tau", lambda v: v is not None and 0.0 < v <= 1.0, "in (0, 1]"),
    ("alpha_init", _pos, "> 0"),
    ("policy_frequency", _pos, ">= 1"),
    ("target_network_frequency", _pos, ">= 1"),
    ("hidden_sizes", lambda v: len(v) >= 1 and all(h > 0 for h in v), "widths > 0"),
    ("random_warmup_steps", _nonneg, ">= 0"),
)


__all__ = ["ARCHS", "CNN_LAYOUTS", "MODES", "ROBOT_BACKENDS", "validate"]
