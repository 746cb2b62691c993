"""The run's one metrics logger: ``record`` values, ``dump`` them to every sink.

Keys are namespaced ``charts/``, ``losses/``, ``replay/``, ``actors/``, ``eval/``.
Sinks: ``metrics.jsonl`` in the run dir (one JSON object per dump), TensorBoard
event files, and a live rich console view (rates, replay size, sample/insert
ratio, latest version, policy lag, recent return per version, a progress bar
towards the budget). :meth:`MetricsLogger.close` prints a final summary.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

NAMESPACES = ("charts", "losses", "replay", "actors", "eval", "learner")


class MetricsLogger:
    """Collects scalar metrics and writes them to JSONL, TensorBoard and the console.

    Promises: ``record`` never blocks on I/O; ``dump(step)`` writes everything
    recorded since the last dump (the last value per key) to each enabled sink;
    ``close`` is idempotent and flushes.
    """

    def __init__(
        self,
        run_dir: str | Path,
        console: bool = True,
        tensorboard: bool = True,
        jsonl: bool = True,
        title: str = "fsrl",
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.title = title
        self._pending: dict[str, float] = {}
        self.latest: dict[str, float] = {}
        self.returns_by_version: OrderedDict[int, float] = OrderedDict()
        self.progress: float = 0.0
        self.progress_label: str = ""
        self._jsonl = open(self.run_dir / "metrics.jsonl", "a") if jsonl else None  # noqa: SIM115
        self._tb: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(self.run_dir / "tb"))
            except Exception as exc:  # tensorboard missing or broken: keep the other sinks
                logger.warning("TensorBoard sink disabled: %s", exc)
        self._live: Any = None
        if console:
            self._start_console()
        self._closed = False
        self._t0 = time.monotonic()

    # ------------------------------------------------------------------ recording

    def record(self, key: str, value: float) -> None:
        """Remember ``value`` for ``key`` (namespaced, e.g. ``charts/env_steps_per_s``)."""
        if "/" not in key or key.split("/", 1)[0] not in NAMESPACES:
            raise ValueError(f"metric key {key!r} must start with one of {NAMESPACES} and '/'")
        self._pending[key] = float(value)

    def record_many(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.record(k, v)

    def record_version_return(self, version: int, mean_return: float) -> None:
        """The recent mean episode return of actors playing weight ``version``."""
        self.returns_by_version[int(version)] = float(mean_return)
        while len(self.returns_by_version) > 8:
            self.returns_by_version.popitem(last=False)

    def set_progress(self, fraction: float, label: str) -> None:
        self.progress = max(0.0, min(1.0, float(fraction)))
        self.progress_label = label

    def dump(self, step: int) -> dict[str, float]:
        """Write what was recorded since the last dump; returns it."""
        values, self._pending = self._pending, {}
        values.setdefault("charts/wall_time_s", time.monotonic() - self._t0)
        self.latest.update(values)
        if self._jsonl is not None:
            row: dict[str, Any] = {"step": int(step), "time": time.time()}
            row.update({k: (v if math.isfinite(v) else None) for k, v in values.items()})
            self._jsonl.write(json.dumps(row) + "\n")
            self._jsonl.flush()
        if self._tb is not None:
            for k, v in values.items():
                if math.isfinite(v):
                    self._tb.add_scalar(k, v, step)
        if self._live is not None:
            self._live.update(self._render())
        return values

    # ------------------------------------------------------------------ console

    def _start_console(self) -> None:
        try:
            from rich.console import Console
            from rich.live import Live

            self._console = Console(stderr=True)
            self._live = Live(
                self._render(), console=self._console, refresh_per_second=2, transient=False
            )
            self._live.start()
        except Exception as exc:  # no terminal: keep the other sinks
            logger.warning("console view disabled: %s", exc)
            self._live = None

    def _render(self) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        v = self.latest

        def fmt(key: str, spec: str = ",.0f") -> str:
            return format(v[key], spec) if key in v and math.isfinite(v[key]) else "-"

        table = Table(title=self.title, show_header=False, expand=False)
        table.add_column("what")
        table.add_column("value", justify="right")
        table.add_row("env steps", fmt("charts/env_steps"))
        table.add_row("env steps/s", fmt("charts/env_steps_per_s", ",.1f"))
        table.add_row("learner updates", fmt("charts/learner_updates"))
        table.add_row("updates/s", fmt("charts/updates_per_s", ",.1f"))
        table.add_row("replay size", fmt("replay/size"))
        table.add_row("sample/insert ratio", fmt("replay/sample_insert_ratio", ".2f"))
        table.add_row("learner waited on replay", fmt("learner/replay_wait_fraction", ".1%"))
        table.add_row("latest version", fmt("charts/latest_version"))
        table.add_row("policy lag (versions)", fmt("charts/policy_lag", ".1f"))
        table.add_row("td loss", fmt("losses/td_loss", ".4f"))
        table.add_row("eval mean return", fmt("eval/mean_return", ".1f"))
        if self.returns_by_version:
            recent = ", ".join(
                f"v{k}: {r:.1f}" for k, r in list(self.returns_by_version.items())[-4:]
            )
            table.add_row("actor return by version", recent)
        bar = ProgressBar(total=1.0, completed=self.progress, width=50)
        label = Table.grid()
        label.add_row(bar, f"  {self.progress:.0%} {self.progress_label}")
        return Group(table, label)

    # ------------------------------------------------------------------ summary

    def summary(self) -> dict[str, float]:
        return dict(self.latest)

    def close(self, final: dict[str, Any] | None = None) -> None:
        """Stop the console, flush and close the sinks; print ``final`` as a summary table."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
        if final:
            (self.run_dir / "summary.json").write_text(json.dumps(final, indent=1, default=str))
            try:
                from rich.console import Console
                from rich.table import Table

                table = Table(title="run summary", show_header=False)
                for k, val in final.items():
                    table.add_row(str(k), f"{val:,.3f}" if isinstance(val, float) else str(val))
                Console(stderr=True).print(table)
            except Exception:  # pragma: no cover - console is best effort
                logger.info("summary: %s", final)
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


__all__ = ["MetricsLogger", "NAMESPACES"]
