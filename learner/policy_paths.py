"""What a path given to :func:`learner.policy_io.load_policy` holds, told by its layout and
content (not its name, where it can be): a run directory, a checkpoint, a weights file,
an ONNX or a TorchScript file. Anything else is a :class:`PolicyLoadError` naming the path."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from learner.checkpoint import list_checkpoints
from learner.policy_formats import is_torchscript

KINDS = ("run_dir", "checkpoint", "weights", "onnx", "torchscript", "store")
_WHAT = (
    "a run directory, a checkpoint (ckpt-*), a weights file (.safetensors), an exported "
    ".onnx or a TorchScript .pt file"
)


class PolicyLoadError(ValueError):
    """``path`` holds no policy fsrl can load (the message names the path and why)."""


def policy_kind(path: str | Path) -> tuple[str, Path]:
    """``(kind, where)``: what ``path`` is and the file or folder to read (a run dir's
    checkpoint; a checkpoint file's folder). :class:`PolicyLoadError` when it is none."""
    p = Path(path)
    if not p.exists():
        raise PolicyLoadError(f"{p}: no such file or directory (expected {_WHAT})")
    if p.is_dir():
        return _directory_kind(p)
    if p.name in ("state.json", "state.safetensors") and (p.parent / "state.json").exists():
        return "checkpoint", p.parent
    if p.suffix.lower() == ".onnx":
        return "onnx", p
    if is_torchscript(p):
        return "torchscript", p
    if _looks_like_safetensors(p):
        return "weights", p
    raise PolicyLoadError(f"{p} is none of: {_WHAT}")


def _directory_kind(p: Path) -> tuple[str, Path]:
    if (p / "state.json").exists():
        return "checkpoint", p
    if list_checkpoints(p):
        return "checkpoint", list_checkpoints(p)[-1]
    markers = [
        m for m in ("summary.json", "checkpoints", ".hydra", "metrics.jsonl") if (p / m).exists()
    ]
    if not markers:
        raise PolicyLoadError(
            f"{p} is a directory but neither a run directory (no summary.json, checkpoints/, "
            f".hydra/) nor a checkpoint (no state.json); expected {_WHAT}"
        )
    named = _summary_checkpoint(p)
    if named is not None:
        return "run_dir", named
    found = list_checkpoints(p / "checkpoints")
    if not found:
        raise PolicyLoadError(
            f"run directory {p} holds no checkpoint (checkpoints/ is empty or missing and "
            "summary.json names none): the run stopped before its first checkpoint"
        )
    return "run_dir", found[-1]


def _summary_checkpoint(run_dir: Path) -> Path | None:
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    named = summary.get("checkpoint") if isinstance(summary, dict) else None
    if not named:
        return None
    ckpt = Path(str(named))
    if not ckpt.is_absolute() and not ckpt.exists():
        ckpt = run_dir / "checkpoints" / ckpt.name  # a run dir moved since it was written
    return ckpt if (ckpt / "state.json").exists() else None


def _looks_like_safetensors(p: Path) -> bool:
    with p.open("rb") as fh:
        head = fh.read(9)
    if len(head) < 9:
        return False
    (size,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 2 <= size <= p.stat().st_size - 8


__all__ = ["KINDS", "PolicyLoadError", "policy_kind"]
