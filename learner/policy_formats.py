"""A policy network as an ONNX or TorchScript file: written, read back and compared.

The file holds the network :meth:`agents.core.AgentLearner.policy_module` returns, taking
the observation as one input per array (``obs``; a Dict observation's keys in sorted order,
named by key) of the env's own dtype, with a dynamic batch dimension, and returning Q-values
``[B, A]`` (``output: q_values``: the greedy action is their argmax) or actions
``[B, *action_shape]`` (``output: actions``). What a reader needs besides the graph is a JSON
object stored in the file — ONNX: the model's ``metadata_props["fsrl"]``; TorchScript: the
extra file ``fsrl.json``::

    {"format": 1, "output": "q_values", "inputs": [{"name": "obs", "key": "", "shape": [4],
     "dtype": "float32"}], "action_shape": [], "agent": "dqn", "env": {"id": "CartPole-v1", ...},
     "source": "runs/...", ...}

ONNX needs the ``export`` extra (``onnx``, ``onnxscript`` to write, ``onnxruntime`` to read);
TorchScript needs only torch. A TorchScript archive is read by torch's own loader (its
restricted unpickler: torch types only), never by Python's pickle.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from telemetry.ship import require

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: The ONNX metadata key / TorchScript extra file holding the JSON object above.
ONNX_META_KEY = "fsrl"
TORCHSCRIPT_META_FILE = "fsrl.json"
#: Batch size of the example inputs a file is traced with (prime: no clash with a real dim).
TRACE_BATCH = 13


class ExportMismatchError(RuntimeError):
    """An exported file's outputs differ from the torch module's beyond the tolerance."""


@dataclass(frozen=True)
class InputSpec:
    """One input array of the exported network."""

    name: str  # the graph's input name
    key: str  # "" for an array observation, else the Dict observation's key
    shape: tuple[int, ...]  # per observation, without the batch dimension
    dtype: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.key, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputSpec:
        return cls(str(data["name"]), str(data["key"]), tuple(data["shape"]), str(data["dtype"]))


def input_specs(space: gym.Space) -> list[InputSpec]:
    """The inputs for an observation space: one Box, or a Dict of Boxes (sorted keys)."""
    if isinstance(space, gym.spaces.Dict):
        return [spec for key in sorted(space.spaces) for spec in _box(space.spaces[key], key)]
    return _box(space, "")


def _box(space: gym.Space, key: str) -> list[InputSpec]:
    if not isinstance(space, gym.spaces.Box | gym.spaces.MultiBinary | gym.spaces.MultiDiscrete):
        raise ValueError(f"observation {key or 'space'} {space} cannot be an exported input")
    shape = tuple(int(d) for d in (space.shape or ()))
    return [InputSpec(key or "obs", key, shape, np.dtype(space.dtype).name)]


def sample_observations(space: gym.Space, n: int, seed: int) -> Any:
    """``n`` observations drawn from ``space`` (seeded), as one batch (a dict for Dict)."""
    space = copy.deepcopy(space)
    space.seed(seed)
    rows = [space.sample() for _ in range(n)]
    if isinstance(space, gym.spaces.Dict):
        return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in space.spaces}
    return np.stack([np.asarray(r) for r in rows])


def as_arrays(obs: Any, inputs: Sequence[InputSpec]) -> list[np.ndarray]:
    """A batch of observations as the file's input arrays (cast to each input's dtype)."""
    return [
        np.ascontiguousarray(np.asarray(obs[s.key] if s.key else obs), dtype=s.dtype)
        for s in inputs
    ]


class PositionalPolicy(nn.Module):
    """The policy module with one positional tensor per input (a graph cannot take a dict)."""

    def __init__(self, module: nn.Module, keys: Sequence[str]) -> None:
        super().__init__()
        self.module = module
        self.keys = list(keys)

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        if self.keys == [""]:
            return self.module(parts[0])
        return self.module(dict(zip(self.keys, parts, strict=True)))


def prepare_module(module: nn.Module, inputs: Sequence[InputSpec]) -> PositionalPolicy:
    """A CPU copy of ``module`` in eval mode, taking positional inputs, without gradients."""
    own = copy.deepcopy(module).to("cpu").eval().requires_grad_(False)
    return PositionalPolicy(own, [s.key for s in inputs]).eval()


def write_onnx(
    module: PositionalPolicy, inputs: Sequence[InputSpec], example: Sequence[np.ndarray],
    path: Path, meta: dict[str, Any],
) -> Path:  # fmt: skip
    """``module`` as ONNX at ``path`` (dynamic batch), ``meta`` in its metadata."""
    require("onnx", "onnx", "export")
    require("onnxscript", "onnxscript", "export")
    tensors = tuple(torch.from_numpy(a) for a in example)
    batch = torch.export.Dim("batch", min=1)
    dynamic = (tuple({0: batch} for _ in inputs),)
    with warnings.catch_warnings(), _quiet(_EXPORTER_LOGGERS):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module, tensors, input_names=[s.name for s in inputs], output_names=["output"],
            dynamic_shapes=dynamic, dynamo=True, verbose=False,
        )  # fmt: skip
    if program is None:
        raise RuntimeError("torch.onnx.export returned no program")
    program.model.metadata_props[ONNX_META_KEY] = json.dumps(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    program.save(str(path))
    return path


#: Loggers of the ONNX exporter that narrate each pass (and torchvision's absence) at INFO/WARNING.
_EXPORTER_LOGGERS = ("torch.onnx", "onnxscript", "onnx_ir")


@contextlib.contextmanager
def _quiet(names: Sequence[str]) -> Iterator[None]:
    """Only errors from these loggers while the block runs."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def write_torchscript(
    module: PositionalPolicy, example: Sequence[np.ndarray], path: Path, meta: dict[str, Any]
) -> Path:
    """``module`` traced to TorchScript at ``path``, ``meta`` as its ``fsrl.json``."""
    tensors = tuple(torch.from_numpy(a) for a in example)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, tensors, check_trace=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(traced, str(path), _extra_files={TORCHSCRIPT_META_FILE: json.dumps(meta)})
    return path


def is_torchscript(path: Path) -> bool:
    """A zip archive holding TorchScript code (``*/code/`` entries)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any("/code/" in name for name in z.namelist())


#: A runner of an exported file: input arrays in (the file's order), its output out.
Runner = Callable[[list[np.ndarray]], np.ndarray]


def read_onnx(path: Path) -> tuple[Runner, dict[str, Any]]:
    """An onnxruntime session of ``path`` and its fsrl metadata (ValueError without any)."""
    ort = require("onnxruntime", "onnxruntime", "export")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for a file it cannot parse
        raise ValueError(f"{path} is not a loadable ONNX model: {str(exc)[:300]}") from exc
    raw = session.get_modelmeta().custom_metadata_map.get(ONNX_META_KEY)
    meta = _meta(path, raw)
    names = [s["name"] for s in meta["inputs"]]

    def run(arrays: list[np.ndarray]) -> np.ndarray:
        return np.asarray(session.run(None, dict(zip(names, arrays, strict=True)))[0])

    return run, meta


def read_torchscript(path: Path) -> tuple[Runner, dict[str, Any]]:
    """A loaded TorchScript module of ``path`` and its fsrl metadata."""
    extra = {TORCHSCRIPT_META_FILE: ""}
    try:
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"{path} is not a loadable TorchScript file: {str(exc)[:300]}") from exc
    raw = extra[TORCHSCRIPT_META_FILE]
    meta = _meta(path, raw.decode() if isinstance(raw, bytes) else raw)
    module.eval()

    def run(arrays: list[np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            return module(*(torch.from_numpy(a) for a in arrays)).numpy()

    return run, meta


def _meta(path: Path, raw: str | None) -> dict[str, Any]:
    if not raw:
        raise ValueError(f"{path} carries no fsrl metadata: it was not written by fsrl export")
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{path}: its fsrl metadata is not JSON ({exc})") from exc
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: fsrl export format {meta.get('format')}, not {FORMAT_VERSION}")
    return dict(meta)


def differences(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """``|expected - actual|`` elementwise (equal infinities, e.g. masked Q-values, give 0)."""
    if expected.shape != actual.shape:
        raise ExportMismatchError(f"output shape {actual.shape}, torch gives {expected.shape}")
    same = (expected == actual) | (np.isnan(expected) & np.isnan(actual))
    with np.errstate(invalid="ignore"):  # inf - inf where both are -inf: counted as same
        return np.where(same, 0.0, np.abs(expected.astype(np.float64) - actual.astype(np.float64)))


def check_file(
    run: Runner, module: PositionalPolicy, batches: Sequence[list[np.ndarray]], atol: float,
    rtol: float, path: Path,
) -> float:  # fmt: skip
    """Compare ``run`` with ``module`` on every batch: each output within
    ``atol + rtol * |torch's|`` (float32 keeps ~7 digits: a Q-value of 100 may differ by
    ~1e-5 between two correct kernels), else :class:`ExportMismatchError` naming the file.
    Returns the largest absolute difference."""
    worst = 0.0
    for arrays in batches:
        with torch.no_grad():
            expected = module(*(torch.from_numpy(a) for a in arrays)).numpy()
        diff = differences(expected, run(arrays))
        if not diff.size:
            continue
        worst = max(worst, float(diff.max()))
        with np.errstate(invalid="ignore"):
            allowed = atol + rtol * np.where(np.isfinite(expected), np.abs(expected), 0.0)
        bad = ~(diff <= allowed)
        if bad.any():
            i = int(np.argmax(np.where(bad, diff, -1.0)))
            raise ExportMismatchError(
                f"{path}: outputs differ from the torch module by {diff.flat[i]:.3g} at a value "
                f"of {expected.flat[i]:.6g} on a batch of {len(arrays[0])} observations (allowed: "
                f"{atol:g} + {rtol:g} x |value|); the file is not a faithful export"
            )
    return worst


__all__ = [
    "ExportMismatchError",
    "FORMAT_VERSION",
    "InputSpec",
    "PositionalPolicy",
    "TRACE_BATCH",
    "as_arrays",
    "check_file",
    "input_specs",
    "is_torchscript",
    "differences",
    "prepare_module",
    "read_onnx",
    "read_torchscript",
    "sample_observations",
    "write_onnx",
    "write_torchscript",
]
