"""``fsrl export`` / ``python -m learner.export``: a policy network as ONNX and TorchScript.

::

    fsrl export path=runs/2026-12-01/00-36-55 out=exports/cartpole   # cartpole.onnx, cartpole.pt
    fsrl export path=weights.safetensors env_id=CartPole-v1 formats=[onnx]
    fsrl export tag=CartPole-v1-mlp_dueling version=champion redis_url=redis://host:6379/0

The network is the agent's :meth:`~agents.core.AgentLearner.policy_module` (DQN: the online
Q-network, Q-values out; SAC: the actor's deterministic action), restored from a run dir,
checkpoint, weights file or stored version (:func:`learner.policy_io.load_agent`). Each file
is read back (onnxruntime; ``torch.jit.load``) and run on ``check_batch`` observations
sampled from the observation space, as many from random play in the env, and on one:
every output must equal the torch module's within ``atol + rtol * |torch's|`` (both 1e-5:
float32 keeps about 7 digits; a trained CartPole Q-network's values near 45 came out of
onnxruntime 1.5e-5 from torch's), else :class:`~learner.policy_formats.ExportMismatchError`
and exit 1. :func:`learner.policy_io.load_policy` loads either file back.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from actors.envs import make_single_env
from conf.tools import ExportConfig, check_export, to_tool_config
from learner.evaluation import stack_observations
from learner.policy_formats import (
    FORMAT_VERSION,
    TRACE_BATCH,
    as_arrays,
    check_file,
    input_specs,
    prepare_module,
    read_onnx,
    read_torchscript,
    sample_observations,
    write_onnx,
    write_torchscript,
)
from learner.policy_io import AgentSource, PolicyLoadError, source_of
from learner.preflight import prog_name, run_tool_app
from telemetry.ship import MissingExtraError

logger = logging.getLogger(__name__)

#: Format -> file suffix.
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}


@dataclass(frozen=True)
class ExportResult:
    """One written file and how far its outputs were from torch's (the largest difference)."""

    format: str
    path: Path
    max_abs_diff: float


def output_stem(out: str | Path) -> Path:
    """``out`` without a known suffix; a folder (``exports/``) gets ``policy``."""
    text = str(out)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        return Path(text) / "policy"
    path = Path(text)
    return path.with_suffix("") if path.suffix in SUFFIXES.values() else path


def env_observations(env_cfg: Any, n: int, seed: int) -> Any:
    """``n`` observations of random play in the env (seeded): the values a policy meets,
    where outputs are largest (a trained Q-network's on-policy values)."""
    env = make_single_env(env_cfg)
    try:
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        rows = [obs]
        while len(rows) < n:
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            rows.append(obs)
            if terminated or truncated:
                obs, _ = env.reset()
                rows.append(obs)
        return stack_observations(rows[:n])
    finally:
        env.close()


def export_policy(
    loaded: AgentSource,
    out: str | Path,
    formats: tuple[str, ...] | list[str] = ("onnx", "torchscript"),
    check_batch: int = 64,
    atol: float = 1e-5,
    seed: int = 0,
    rtol: float = 1e-5,
) -> list[ExportResult]:
    """Write ``loaded``'s policy network in each format and check every file against torch."""
    learner = loaded.learner()
    try:
        module, output = learner.policy_module()
    except ValueError as exc:
        raise PolicyLoadError(f"{loaded.source}: {exc}") from exc
    space = loaded.agent.observation_space
    inputs = input_specs(space)
    wrapped = prepare_module(module, inputs)
    meta: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "output": output,
        "inputs": [s.to_json() for s in inputs],
        "action_shape": list(loaded.agent.action_space.shape or ()),
        "agent": loaded.agent.name,
        "env": dataclasses.asdict(loaded.env),
        "source": loaded.source,
        **{k: v for k, v in loaded.info.items() if v is not None},
    }
    example = as_arrays(sample_observations(space, TRACE_BATCH, seed + 1), inputs)
    batches = [
        as_arrays(sample_observations(space, int(check_batch), seed), inputs),
        as_arrays(env_observations(loaded.env, int(check_batch), seed), inputs),
        as_arrays(sample_observations(space, 1, seed + 2), inputs),
    ]
    stem = output_stem(out)
    results = []
    for fmt in formats:
        path = stem.with_name(stem.name + SUFFIXES[fmt])
        if fmt == "onnx":
            write_onnx(wrapped, inputs, example, path, meta)
            run, _ = read_onnx(path)
        else:
            write_torchscript(wrapped, example, path, meta)
            run, _ = read_torchscript(path)
        diff = check_file(run, wrapped, batches, float(atol), float(rtol), path)
        logger.debug("wrote %s (max |difference| from torch: %.3g)", path, diff)
        results.append(ExportResult(fmt, path, diff))
    return results


@hydra.main(config_path="pkg://conf", config_name="export", version_base="1.3")
def app(dcfg: DictConfig) -> None:
    """The Hydra task: check the fields, load the policy, export and check each file."""
    prog = prog_name("learner.export", "export")
    try:
        cfg: ExportConfig = to_tool_config(dcfg)
        check_export(cfg)
        results = export_policy(
            source_of(cfg),
            cfg.out,
            list(cfg.formats),
            cfg.check_batch,
            cfg.atol,
            cfg.seed,
            cfg.rtol,
        )
    except (ValueError, RuntimeError, MissingExtraError) as exc:
        raise SystemExit(f"{prog}: error: {exc}") from None
    for r in results:
        print(f"wrote {r.path} ({r.format}; max |difference| from torch {r.max_abs_diff:.2g})")


def main(argv: list[str] | None = None) -> int:
    """``python -m learner.export KEY=VALUE...`` (or ``main([...])``): the Hydra app."""
    return run_tool_app(app, argv, "learner.export", "export", check_export)


__all__ = ["ExportResult", "export_policy", "main", "output_stem"]


if __name__ == "__main__":
    sys.exit(main())
