"""fsrl's Hydra configuration: the typed schema (:mod:`conf.schema`) and YAML groups.

Promises: importing this package registers the schema in Hydra's ConfigStore;
:func:`load_config` composes ``conf/config.yaml`` with command-line style overrides
and returns a validated :class:`~conf.schema.Config` (a wrong key or value raises
``ValueError`` naming it); :func:`to_container` turns any config into plain dicts
for Ray actors and :func:`from_container` turns them back.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from conf.help import register_resolvers
from conf.schema import (
    ALGO_SECTIONS,
    ActorsConfig,
    AlgoConfig,
    BudgetConfig,
    Config,
    DQNConfig,
    EnvConfig,
    LearnerConfig,
    LoggingConfig,
    ModelConfig,
    RayConfig,
    ReplayConfig,
    RobotConfig,
    register_algo,
    register_configs,
    root_node,
)
from conf.tools import register_tool_configs
from conf.validate import validate

register_configs()
register_tool_configs()  # base_play, base_export: the fsrl play / fsrl export apps
register_resolvers()  # fsrl_presets, for the --help template (conf/hydra/help/fsrl.yaml)

CONFIG_MODULE = "conf"
CONFIG_NAME = "config"


def load_config(overrides: list[str] | None = None, config_name: str = CONFIG_NAME) -> Config:
    """Compose the run config as ``python -m learner.main <overrides>`` would, and validate it.

    Raises ``ValueError`` naming the offending key or override.
    """
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    overrides = list(overrides or [])
    register_user_algos(overrides)
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            composed = compose(config_name=config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ValueError(f"bad config (overrides {overrides}): {exc}") from exc
    return to_config(composed)


def to_config(composed: DictConfig) -> Config:
    """Turn a composed ``DictConfig`` into a validated :class:`Config`.

    Keys the schema does not declare (``+actors.nmu=16``) are rejected by name, as
    are bad values (:func:`~conf.schema.validate`).
    """
    from omegaconf.errors import OmegaConfBaseException

    plain = OmegaConf.to_container(composed, resolve=False)
    try:
        cfg = OmegaConf.to_object(composed)
    except OmegaConfBaseException as exc:
        raise ValueError(f"bad config: {exc}") from exc
    if isinstance(plain, dict):
        plain.pop("hydra", None)
        algo = plain.pop("algo", None)
        _reject_unknown_keys({str(k): v for k, v in plain.items()}, Config, "")
        if isinstance(algo, dict):  # the agent's own section type, not the default's
            _reject_unknown_keys(algo, type(getattr(cfg, "algo")), "algo.")  # noqa: B009
    validate(cfg)
    return cfg  # type: ignore[return-value]


def register_user_algos(overrides: list[str]) -> None:
    """Make ``algo=package.module:Name`` overrides composable: register that agent's own
    ``algo`` section (its ``config_class``) as a choice of the ``algo`` group.

    Imported by name (like env ids), so conf never depends on the agents package."""
    import importlib

    for item in overrides:
        key, _, value = item.partition("=")
        if key.lstrip("+~") != "algo" or ":" not in value:
            continue
        module_name, _, attr = value.partition(":")
        try:
            agent = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(
                f"algo={value!r}: cannot import {attr!r} from {module_name!r} ({exc})"
            ) from exc
        node = getattr(agent, "config_class", None)
        if not (isinstance(node, type) and dataclasses.is_dataclass(node)):
            raise ValueError(f"algo={value!r}: {attr} has no config_class dataclass")
        register_algo(value, node)


def _reject_unknown_keys(node: dict[str, Any], schema: type, prefix: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if key not in fields:
            raise ValueError(
                f"config key {path} is not in the schema ({schema.__name__} has: "
                f"{', '.join(sorted(fields))})"
            )
        sub = fields[key].default_factory  # type: ignore[misc]
        if isinstance(value, dict) and sub is not dataclasses.MISSING:
            sub_obj = sub()
            if dataclasses.is_dataclass(sub_obj):
                _reject_unknown_keys(value, type(sub_obj), f"{path}.")


def to_container(cfg: Any) -> dict[str, Any]:
    """A plain, resolved ``dict`` of ``cfg`` (a Config, DictConfig or dict), safe to hand to Ray."""
    if isinstance(cfg, dict):
        return OmegaConf.to_container(OmegaConf.create(cfg), resolve=True)  # type: ignore[return-value]
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.structured(cfg)
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def from_container(data: dict[str, Any]) -> Config:
    """Rebuild a typed :class:`Config` from :func:`to_container`'s dict (type-checked)."""
    algo = data.get("algo")
    name = str(algo.get("name", "dqn")) if isinstance(algo, dict) else "dqn"
    merged = OmegaConf.merge(root_node(algo_section(name)), data)
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


def algo_section(name: str) -> type:
    """The ``algo`` section type of agent ``name``: a built-in's, or a user's
    ``package.module:Name`` ``config_class`` (imported by name); else :class:`AlgoConfig`."""
    if name in ALGO_SECTIONS:
        return ALGO_SECTIONS[name]
    if ":" in name:
        import importlib

        module_name, _, attr = name.partition(":")
        node = getattr(getattr(importlib.import_module(module_name), attr), "config_class", None)
        if isinstance(node, type) and dataclasses.is_dataclass(node):
            return node
    return AlgoConfig


S = TypeVar("S")


def as_section(schema: type[S], value: Any) -> S:
    """``value`` as the typed section ``schema``: an instance passes through; a plain mapping
    (YAML, a test, checkpoint metadata) is checked against the schema's fields and converted.
    Raises ``ValueError`` naming unknown keys."""
    if isinstance(value, schema):
        return value
    if isinstance(value, DictConfig):
        value = OmegaConf.to_container(value, resolve=True)
    if not isinstance(value, dict):
        raise ValueError(f"expected a {schema.__name__} or a mapping, got {type(value).__name__}")
    known = {f.name for f in dataclasses.fields(schema)}  # type: ignore[arg-type]
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"{schema.__name__} has no field(s) {unknown} (known: {sorted(known)})")
    return schema(**value)


def default_model_tag(env_id: str, arch: str) -> str:
    """The weight line used when ``model.tag`` is null: ``<env id>-<arch>``, filename-safe."""
    name = env_id.split(":")[-1]
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", f"{name}-{arch}")


__all__ = [
    "ActorsConfig",
    "algo_section",
    "as_section",
    "AlgoConfig",
    "DQNConfig",
    "BudgetConfig",
    "Config",
    "EnvConfig",
    "LearnerConfig",
    "LoggingConfig",
    "ModelConfig",
    "RayConfig",
    "ReplayConfig",
    "RobotConfig",
    "default_model_tag",
    "from_container",
    "load_config",
    "register_user_algos",
    "to_config",
    "to_container",
    "validate",
]
