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
from typing import Any

from omegaconf import DictConfig, OmegaConf

from conf.help import register_resolvers
from conf.schema import (
    ActorsConfig,
    AlgoConfig,
    BudgetConfig,
    Config,
    EnvConfig,
    LearnerConfig,
    LoggingConfig,
    ModelConfig,
    RayConfig,
    ReplayConfig,
    RobotConfig,
    register_configs,
    validate,
)

register_configs()
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
    if isinstance(plain, dict):
        plain.pop("hydra", None)
        _reject_unknown_keys({str(k): v for k, v in plain.items()}, Config, "")
    try:
        cfg = OmegaConf.to_object(composed)
    except OmegaConfBaseException as exc:
        raise ValueError(f"bad config: {exc}") from exc
    validate(cfg)
    return cfg  # type: ignore[return-value]


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
    merged = OmegaConf.merge(OmegaConf.structured(Config), data)
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


def default_model_tag(env_id: str, arch: str) -> str:
    """The weight line used when ``model.tag`` is null: ``<env id>-<arch>``, filename-safe."""
    name = env_id.split(":")[-1]
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", f"{name}-{arch}")


__all__ = [
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
    "default_model_tag",
    "from_container",
    "load_config",
    "to_config",
    "to_container",
    "validate",
]
