"""Typed configs of the policy tools: ``fsrl play`` (:class:`PlayConfig`) and ``fsrl export``
(:class:`ExportConfig`).

Each is its own Hydra app (``conf/play.yaml``, ``conf/export.yaml`` extend ``base_play`` /
``base_export``), so ``fsrl play --help``, ``--cfg job`` and tab completion work as for
``fsrl train``. A policy comes from ``path`` — a run directory, a checkpoint, a weights file
(safetensors), an ONNX or TorchScript file — or from a version of ``tag`` in the store at
``redis_url``. :func:`check_play` / :func:`check_export` raise ``ValueError`` naming the
first bad field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

#: File suffixes ``fsrl play`` writes.
VIDEO_SUFFIXES = (".gif", ".mp4")
#: Formats ``fsrl export`` writes.
EXPORT_FORMATS = ("onnx", "torchscript")


@dataclass
class PolicySourceConfig:
    """Where the policy comes from: ``path``, or ``tag`` (+ ``version``) in a live store."""

    # A run dir (runs/<date>/<time>), a checkpoint (ckpt-*), a weights file (.safetensors),
    # an exported .onnx or TorchScript .pt file.
    path: str | None = None
    # A model tag in the weight store at redis_url (instead of path).
    tag: str | None = None
    # Which version of tag: latest, champion or a number.
    version: str = "latest"
    # The store holding tag's versions (redis://[:PASSWORD@]HOST:PORT/DB).
    redis_url: str | None = None
    # The run namespace in that store.
    namespace: str = "default"
    # Play / check on this Gymnasium id instead of the one the policy was trained on.
    env_id: str | None = None
    # Keyword arguments for gymnasium.make of env_id (with env_id only).
    env_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlayConfig(PolicySourceConfig):
    """``fsrl play``: render greedy episodes of a policy to a GIF or MP4."""

    # Where the video goes; .gif (Pillow) or .mp4 (the fsrl[play] extra: imageio-ffmpeg).
    out: str = "play.gif"
    # Episodes played (seeds seed, seed+1, ...), unless max_frames is reached first.
    episodes: int = 1
    # At most this many frames in the video, over all episodes (the reset frame counts);
    # a GIF holds them in memory at 1 byte a pixel until it is written.
    max_frames: int = 500
    # Frames per second of the video.
    fps: int = 30
    # Seed of the first episode's reset.
    seed: int = 0


@dataclass
class ExportConfig(PolicySourceConfig):
    """``fsrl export``: ONNX and TorchScript files of a policy network, checked against torch."""

    # Output files are <out>.onnx and <out>.pt (a folder path ending in / gets policy.*).
    out: str = "policy"
    # onnx, torchscript or both.
    formats: list[str] = field(default_factory=lambda: list(EXPORT_FORMATS))
    # Observations in the output check (sampled from the observation space, seeded).
    check_batch: int = 64
    # An exported file's output may differ from torch's by atol + rtol * |torch's output|
    # (float32 keeps ~7 digits: a Q-value near 100 may differ by ~1e-5 between two kernels).
    atol: float = 1e-5
    rtol: float = 1e-5
    # Seed of the check's observations.
    seed: int = 0


def _check_source(cfg: PolicySourceConfig) -> None:
    if (cfg.path is None) == (cfg.tag is None):
        raise ValueError(
            f"pass exactly one of path=PATH or tag=TAG (got path={cfg.path!r}, tag={cfg.tag!r})"
        )
    if cfg.tag is not None and not cfg.redis_url:
        raise ValueError(f"tag={cfg.tag!r} needs redis_url=redis://HOST:PORT/DB (the store)")
    if cfg.version not in ("latest", "champion") and not str(cfg.version).isdigit():
        raise ValueError(f"version={cfg.version!r} is invalid: latest, champion or a number")
    if cfg.env_kwargs and not cfg.env_id:
        raise ValueError("env_kwargs needs env_id=ID (the env those keyword arguments are for)")


def check_play(cfg: PlayConfig) -> None:
    """Raise ``ValueError`` naming the first bad field of ``cfg``."""
    _check_source(cfg)
    if not str(cfg.out).lower().endswith(VIDEO_SUFFIXES):
        raise ValueError(f"out={cfg.out!r} is invalid: must end with one of {VIDEO_SUFFIXES}")
    for name, low in (("episodes", 1), ("max_frames", 1), ("fps", 1)):
        value = getattr(cfg, name)
        if value < low:
            raise ValueError(f"{name}={value} is invalid: must be >= {low}")


def check_export(cfg: ExportConfig) -> None:
    """Raise ``ValueError`` naming the first bad field of ``cfg``."""
    _check_source(cfg)
    bad = [f for f in cfg.formats if f not in EXPORT_FORMATS]
    if bad or not cfg.formats:
        raise ValueError(
            f"formats={list(cfg.formats)} is invalid: a non-empty subset of {EXPORT_FORMATS}"
        )
    if cfg.check_batch < 1:
        raise ValueError(f"check_batch={cfg.check_batch} is invalid: must be >= 1")
    if not cfg.atol > 0:
        raise ValueError(f"atol={cfg.atol} is invalid: must be > 0")
    if not cfg.rtol >= 0:
        raise ValueError(f"rtol={cfg.rtol} is invalid: must be >= 0")


def to_tool_config(composed: DictConfig) -> Any:
    """A composed play/export config as its dataclass (ValueError naming a bad type)."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_object(composed)
    except OmegaConfBaseException as exc:
        raise ValueError(f"bad config: {exc}") from exc


def load_tool_config(config_name: str, overrides: list[str]) -> Any:
    """Compose ``conf/<config_name>.yaml`` (``play`` or ``export``) with ``overrides`` as the
    command line would; ValueError naming a bad key or value."""
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_module(config_module="conf", version_base="1.3"):
            composed = compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ValueError(f"bad config (overrides {list(overrides)}): {exc}") from exc
    return to_tool_config(composed)


def register_tool_configs() -> None:
    """``base_play`` and ``base_export`` in Hydra's ConfigStore."""
    cs = ConfigStore.instance()
    cs.store(name="base_play", node=PlayConfig)
    cs.store(name="base_export", node=ExportConfig)


__all__ = [
    "EXPORT_FORMATS",
    "VIDEO_SUFFIXES",
    "ExportConfig",
    "PlayConfig",
    "PolicySourceConfig",
    "check_export",
    "check_play",
    "load_tool_config",
    "register_tool_configs",
    "to_tool_config",
]
