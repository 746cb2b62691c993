"""Cheap checks before anything starts, and the messages the launcher owes the user.

``fsrl train`` (and ``learner.main``'s task function) call :func:`check_config` — or
:func:`check_argv` on a raw command line — before Redis or Ray start: the config's values
(:func:`conf.validate`), the env id against Gymnasium's registry (a ``pkg.mod:Env-v0``
prefix is imported first), and the optional packages the config asks for. Each failure
is one :class:`PreflightError` line naming the offending field or id.

Also here: :func:`resolve_ray_address` (``RAY_ADDRESS`` when ``ray.address`` is unset)
and :func:`resumed_budget_message` (a resumed run whose budget is already spent).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym

import conf
import conf.tools
from envs.atari import AtariUnavailableError, ensure_registered, lookup_with_ale
from telemetry.ship import MissingExtraError, require

#: Hydra flags that take a value (the value is not an override).
_VALUE_FLAGS = {
    "--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
    "--config-dir", "-cd", "--experimental-rerun", "--shell-completion", "-sc",
}  # fmt: skip
#: Flags after which Hydra does not run a job (help, completion, info): nothing to check.
_NO_JOB_FLAGS = {
    "-h",
    "--help",
    "--hydra-help",
    "--version",
    "-sc",
    "--shell-completion",
    "--info",
    "-i",
}
_MULTIRUN_FLAGS = {"-m", "--multirun"}
#: logging.ship / logging.sinks value -> (module, pip package, fsrl extra)
_OPTIONAL = {
    "amqp": ("pika", "pika", "ship"),
    "nats": ("nats", "nats-py", "ship"),
    "wandb": ("wandb", "wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow", "mlflow"),
}


class PreflightError(ValueError):
    """A check before start-up failed; the message is one line naming the field or id."""


def check_env_id(env_id: str, atari: bool = False) -> None:
    """Raise :class:`PreflightError` unless ``env_id`` is a Gymnasium id (``module:Id`` imports
    ``module`` first, as the actors do; ``ALE/...`` ids and ``atari`` need ale-py)."""
    try:
        ensure_registered(env_id, atari)
    except AtariUnavailableError as exc:
        raise PreflightError(str(exc)) from exc
    name = env_id
    if ":" in env_id:
        module, name = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise PreflightError(
                f"env.id={env_id!r}: cannot import module {module!r} ({exc})"
            ) from exc
    try:
        lookup_with_ale(name)
    except gym.error.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PreflightError(
            f"env.id={env_id!r} is not a registered Gymnasium id: {first}"
        ) from exc


def check_optional_packages(cfg: conf.Config) -> None:
    """The brokers and metric sinks the config names must be importable."""
    wanted = list(cfg.logging.sinks)
    if cfg.logging.format == "json" and cfg.logging.ship in _OPTIONAL:
        wanted.append(cfg.logging.ship)
    for name in wanted:
        module, package, extra = _OPTIONAL[name]
        try:
            require(module, package, extra)
        except MissingExtraError as exc:
            field = "logging.sinks" if name in cfg.logging.sinks else "logging.ship"
            raise PreflightError(f"{field} names {name}, but {exc}") from exc


def check_config(cfg: conf.Config) -> None:
    """Every cheap check on a composed config; raises :class:`PreflightError`."""
    try:
        conf.validate(cfg)
    except ValueError as exc:
        raise PreflightError(str(exc)) from exc
    check_env_id(cfg.env.id, bool(cfg.env.atari))
    check_optional_packages(cfg)


def check_device(name: str) -> None:
    """Fail on a ``learner.device`` this machine lacks (``cuda`` without CUDA, …). ``cpu``
    and ``auto`` are always there and need no torch, which the launcher then imports
    beside ``ray.init`` instead of before it."""
    if name in ("cpu", "auto"):
        return
    from learner.learner import resolve_device  # torch: to ask it about the device

    resolve_device(name)


def split_argv(argv: Sequence[str]) -> tuple[list[str], set[str]]:
    """(overrides, flags) of a Hydra command line; ``hydra.*`` overrides are left out."""
    overrides: list[str] = []
    flags: set[str] = set()
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            flag = arg.split("=", 1)[0]
            flags.add(flag)
            skip = flag in _VALUE_FLAGS and "=" not in arg
            continue
        key = arg.lstrip("+~").split("=", 1)[0]
        if key == "hydra" or key.startswith(("hydra.", "hydra/")):
            continue
        overrides.append(arg)
    return overrides, flags


def check_argv(argv: Sequence[str], config_name: str = conf.CONFIG_NAME) -> conf.Config | None:
    """Compose ``argv``'s overrides as Hydra would and run :func:`check_config`; returns the
    config, or None when the command line runs no single job (help, completion, a sweep:
    each job of a sweep is checked when it starts). Raises :class:`PreflightError`."""
    overrides, flags = split_argv(argv)
    if flags & (_NO_JOB_FLAGS | _MULTIRUN_FLAGS) or "--config-name" in flags or "-cn" in flags:
        return None
    try:
        cfg = conf.load_config(overrides, config_name=config_name)
    except ValueError as exc:
        raise PreflightError(" ".join(str(exc).split())[:500]) from exc
    check_config(cfg)
    return cfg


def exit_on_error(argv: Sequence[str], prog: str) -> None:
    """:func:`check_argv`, turning a failure into one ``prog: error: ...`` line and exit 2."""
    try:
        check_argv(argv)
    except PreflightError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def prog_name(module: str, command: str) -> str:
    """How the user called a command: ``fsrl COMMAND``, ``fsrl-COMMAND`` or the module."""
    argv0 = os.path.basename(sys.argv[0]) if sys.argv else ""
    if argv0 == "fsrl":
        return f"fsrl {command}"
    return argv0 if argv0.startswith("fsrl-") else module


def exit_on_bad_tool_fields(
    argv: Sequence[str], config_name: str, check: Callable[[Any], None], prog: str
) -> None:
    """``fsrl play|export --cfg job``: compose ``conf/<config_name>.yaml`` with the overrides
    and ``check`` the fields first; a bad one is one ``prog: error: ...`` line and exit 2."""
    overrides, flags = split_argv(argv)
    if not flags & {"--cfg", "-c"} or flags & (_MULTIRUN_FLAGS | {"--help", "-h"}):
        return
    try:
        check(conf.tools.load_tool_config(config_name, overrides))
    except ValueError as exc:
        print(f"{prog}: error: {' '.join(str(exc).split())[:500]}", file=sys.stderr)
        raise SystemExit(2) from None


def run_tool_app(
    app: Callable[[], Any],
    argv: Sequence[str] | None,
    module: str,
    command: str,
    check: Callable[[Any], None],
) -> int:
    """Run a tool's Hydra ``app`` on ``argv`` (``sys.argv[1:]`` when None): bad fields of
    ``conf/<command>.yaml`` fail first as one line (:func:`exit_on_bad_tool_fields`);
    ``sys.argv`` is restored afterwards."""
    args = list(sys.argv[1:] if argv is None else argv)
    exit_on_bad_tool_fields(args, command, check, prog_name(module, command))
    saved = sys.argv
    sys.argv = [saved[0] if argv is None else module, *args]
    try:
        app()
    finally:
        sys.argv = saved
    return 0


def resolve_ray_address(address: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """``ray.address`` if set, else ``RAY_ADDRESS`` from the environment, else None (a
    private local Ray)."""
    if address:
        return address
    return environ.get("RAY_ADDRESS") or None


def resumed_budget_message(budget: Any, env_steps: int, learner_updates: int) -> str:
    """Empty unless a resumed run's counters already reach its budget; then one line saying
    which budget, and the override that would extend it (budgets are run totals)."""
    parts = []
    if budget.env_steps and env_steps >= budget.env_steps:
        more = max(budget.env_steps * 2, env_steps + budget.env_steps)
        parts.append(
            f"budget.env_steps={budget.env_steps:,} is already reached ({env_steps:,} env steps "
            f"done); pass budget.env_steps={more} (a total, not an increment) to train further"
        )
    if budget.learner_updates and learner_updates >= budget.learner_updates:
        more = max(budget.learner_updates * 2, learner_updates + budget.learner_updates)
        parts.append(
            f"budget.learner_updates={budget.learner_updates:,} is already reached "
            f"({learner_updates:,} updates done); pass budget.learner_updates={more} to train further"
        )
    return ("resumed run: " + "; ".join(parts)) if parts else ""
