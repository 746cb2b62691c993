"""Optional metric sinks beside TensorBoard: Weights & Biases and MLflow (``logging.sinks``).

Neither package is a dependency of fsrl: a sink named in ``logging.sinks`` whose
package is missing fails at start with one line naming the package and the extra
(``pip install 'wandb'`` or ``fsrl[wandb]``). Both take the run's config as flat
parameters and every dump's scalars against env steps.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from telemetry.ship import require

logger = logging.getLogger(__name__)

SINKS = ("wandb", "mlflow")


class MetricSink(Protocol):
    def log(self, values: dict[str, float], step: int) -> None: ...

    def close(self) -> None: ...


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and None become strings (hparams need scalars)."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, f"{key}."))
        elif isinstance(v, bool | int | float | str):
            out[key] = v
        else:
            out[key] = str(v)
    return out


class WandbSink:
    """A W&B run in ``run_dir`` (project ``WANDB_PROJECT`` or ``fsrl``; ``WANDB_MODE=offline`` works)."""

    def __init__(self, run_dir: Path, config: dict[str, Any], name: str) -> None:
        wandb = require("wandb", "wandb", "wandb")
        self._run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "fsrl"),
            dir=str(run_dir),
            name=name,
            config=flatten(config),
            reinit=True,
        )

    def log(self, values: dict[str, float], step: int) -> None:
        self._run.log(values, step=step)

    def close(self) -> None:
        self._run.finish()


class MlflowSink:
    """An MLflow run (tracking URI from ``MLFLOW_TRACKING_URI``, else ``run_dir/mlruns``)."""

    def __init__(self, run_dir: Path, config: dict[str, Any], name: str) -> None:
        self._mlflow = require("mlflow", "mlflow", "mlflow")
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            self._mlflow.set_tracking_uri((run_dir / "mlruns").resolve().as_uri())
        self._mlflow.start_run(run_name=name)
        params = flatten(config)
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self._mlflow.log_params(dict(list(params.items())[i : i + 100]))

    def log(self, values: dict[str, float], step: int) -> None:
        self._mlflow.log_metrics(values, step=step)

    def close(self) -> None:
        self._mlflow.end_run()


def make_metric_sinks(
    names: Sequence[str], run_dir: Path, config: dict[str, Any] | None, run_name: str
) -> list[MetricSink]:
    """One sink per name in ``names``; raises ``ValueError`` naming an unknown sink and
    :class:`telemetry.MissingExtraError` naming a missing package."""
    sinks: list[MetricSink] = []
    for name in names:
        if name == "wandb":
            sinks.append(WandbSink(run_dir, config or {}, run_name))
        elif name == "mlflow":
            sinks.append(MlflowSink(run_dir, config or {}, run_name))
        else:
            raise ValueError(f"logging.sinks entry {name!r} is not one of {SINKS}")
    return sinks
