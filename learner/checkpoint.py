"""Learner checkpoints on disk, without pickle.

A checkpoint is a folder ``ckpt-<updates:010d>/`` holding

* ``state.safetensors`` — online and target networks and the optimizer's tensors;
* ``state.json`` — counters (updates, env steps, last published version, …) and the
  optimizer's non-tensor state;
* ``config.yaml`` — the run's resolved config, passwords in URLs masked as ``***``.

It is written under a temporary name and renamed into place, so a crash never
leaves a half checkpoint that looks whole. The newest ``keep`` are kept.

:func:`redact_run_dir` (:mod:`learner.run_files`, re-exported here) masks URL passwords
in the copies of the config Hydra writes to ``<run_dir>/.hydra/``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file, save_file

from conf.urls import redact_text
from learner.run_files import redact_run_dir

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT_VERSION = 1
_PREFIX = "ckpt-"


@dataclass
class Checkpoint:
    """What a checkpoint restores: tensors, optimizer JSON and counters."""

    path: Path
    tensors: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    counters: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    directory: str | Path,
    tensors: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    counters: dict[str, Any],
    config: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write a checkpoint named after ``counters['updates']``; returns its folder."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    name = f"{_PREFIX}{int(counters['updates']):010d}"
    final = root / name
    tmp = root / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    save_file(
        cpu, str(tmp / "state.safetensors"), metadata={"format": str(CHECKPOINT_FORMAT_VERSION)}
    )
    state = {"format": CHECKPOINT_FORMAT_VERSION, "counters": counters, "optimizer": optimizer}
    (tmp / "state.json").write_text(json.dumps(state, indent=1, sort_keys=True))
    (tmp / "config.yaml").write_text(redact_text(yaml.safe_dump(config, sort_keys=False)))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    logger.info("checkpoint written: %s", final)
    return final


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoints in ``directory``, oldest first."""
    root = Path(directory)
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith(_PREFIX) and (p / "state.json").exists()
    )


def find_latest_checkpoint(root: str | Path, tag: str | None = None) -> Path | None:
    """The newest checkpoint anywhere under ``root`` (e.g. ``runs/``), optionally of ``tag``."""
    base = Path(root)
    if not base.is_dir():
        return None
    best: tuple[float, Path] | None = None
    for state in base.glob(f"**/{_PREFIX}*/state.json"):
        if tag is not None:
            try:
                if json.loads(state.read_text())["counters"].get("tag") != tag:
                    continue
            except (OSError, ValueError, KeyError):
                continue
        mtime = state.stat().st_mtime
        if best is None or mtime > best[0]:
            best = (mtime, state.parent)
    return None if best is None else best[1]


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> Checkpoint:
    """Read a checkpoint folder (or the newest inside a folder of checkpoints)."""
    p = Path(path)
    if not (p / "state.json").exists():
        found = list_checkpoints(p)
        if not found:
            raise FileNotFoundError(f"no checkpoint in {p}")
        p = found[-1]
    state = json.loads((p / "state.json").read_text())
    if state.get("format") != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {p} has format {state.get('format')}, expected {CHECKPOINT_FORMAT_VERSION}"
        )
    tensors = load_file(str(p / "state.safetensors"), device=str(device))
    return Checkpoint(
        path=p, tensors=tensors, optimizer=state["optimizer"], counters=state["counters"]
    )


__all__ = [
    "Checkpoint",
    "find_latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "redact_run_dir",
    "save_checkpoint",
]
