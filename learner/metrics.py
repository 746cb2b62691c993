"""The run's one metrics logger: ``record`` values, ``dump`` them to every sink.

Keys are namespaced ``charts/``, ``losses/``, ``replay/``, ``actors/``, ``eval/``.
Sinks: ``metrics.jsonl`` in the run dir (one JSON object per dump), TensorBoard
event files, optional W&B / MLflow runs (``logging.sinks``, :mod:`learner.metric_sinks`),
and a live rich console view (rates, replay size, sample/insert ratio, latest version,
policy lag, recent return per version, a progress bar towards the budget).

TensorBoard's x-axis is env steps (``charts/env_steps``; learner updates stay a scalar,
``charts/learner_updates``); the config goes in as text and as hparams at start;
``versions/online_return`` (actors' mean return) and ``versions/eval_return`` are
plotted against the weight version. While the console view is live, the root logger's
terminal handlers are swapped for rich's ``RichHandler`` on the view's own console,
so log lines print above the view instead of through it (else each one leaves a stale
copy of the table behind). :meth:`MetricsLogger.close` prints a final summary and
writes ``curves.png`` (:mod:`learner.curves`).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from learner import curves
from learner.metric_sinks import MetricSink, flatten, make_metric_sinks
from telemetry import set_log_context

logger = logging.getLogger(__name__)

NAMESPACES = ("charts", "losses", "replay", "actors", "eval", "learner", "versions")
#: The scalar TensorBoard and the optional sinks use as their x-axis.
X_KEY = "charts/env_steps"


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
        config: dict[str, Any] | None = None,
        sinks: Sequence[str] = (),
        write_curves: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.title = title
        self._pending: dict[str, float] = {}
        self.latest: dict[str, float] = {}
        self.returns_by_version: OrderedDict[int, float] = OrderedDict()
        self.progress: float = 0.0
        self.progress_label: str = ""
        # a sink named but not installed fails here (nothing opened yet), before training starts
        self._sinks: list[MetricSink] = make_metric_sinks(sinks, self.run_dir, config, title)
        self._jsonl = open(self.run_dir / "metrics.jsonl", "a") if jsonl else None  # noqa: SIM115
        self._write_curves = write_curves and jsonl
        self._written_versions: dict[int, float] = {}
        self._tb: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(self.run_dir / "tb"))
            except Exception as exc:  # tensorboard missing or broken: keep the other sinks
                logger.warning("TensorBoard sink disabled: %s", exc)
        if config is not None:
            self.log_config(config)
        self._live: Any = None
        self._swapped: list[tuple[logging.Handler, logging.Handler]] = []
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

    def log_config(self, config: dict[str, Any]) -> None:
        """The run's config to TensorBoard: as text (``config``) and as hparams (flat keys)."""
        if self._tb is None:
            return
        from torch.utils.tensorboard.summary import hparams

        self._tb.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```")
        exp, ssi, _sei = hparams(flatten(config), {"eval/mean_return": math.nan})
        writer = self._tb.file_writer
        for summary in (exp, ssi):
            writer.add_summary(summary)

    def dump(self, step: int) -> dict[str, float]:
        """Write what was recorded since the last dump; returns it.

        ``step`` is the learner update count (kept as ``charts/learner_updates``); the
        x-axis of TensorBoard and the sinks is the latest ``charts/env_steps`` (``step``
        until one was recorded)."""
        values, self._pending = self._pending, {}
        values.setdefault("charts/wall_time_s", time.monotonic() - self._t0)
        values.setdefault("charts/learner_updates", float(step))
        self.latest.update(values)
        if "charts/latest_version" in values:  # JSON log lines name the learner's version
            set_log_context(version=int(values["charts/latest_version"]))
        x = int(self.latest.get(X_KEY, step))
        if self._jsonl is not None:
            row: dict[str, Any] = {"step": int(step), "env_steps": x, "time": time.time()}
            row.update({k: (v if math.isfinite(v) else None) for k, v in values.items()})
            self._jsonl.write(json.dumps(row) + "\n")
            self._jsonl.flush()
        finite = {k: v for k, v in values.items() if math.isfinite(v)}
        if self._tb is not None:
            for k, v in finite.items():
                self._tb.add_scalar(k, v, x)
            self._write_versions(values)
        for sink in self._sinks:
            try:
                sink.log(finite, x)
            except Exception as exc:  # a remote tracker's outage must not stop training
                logger.warning("metric sink %s failed: %s", type(sink).__name__, exc)
        if self._live is not None:
            self._live.update(self._render())
        return values

    def _write_versions(self, values: dict[str, float]) -> None:
        """``versions/online_return`` per changed version; ``versions/eval_return`` at the
        latest version when an evaluation was recorded."""
        for v, r in self.returns_by_version.items():
            if self._written_versions.get(v) != r:
                self._tb.add_scalar("versions/online_return", r, v)
                self._written_versions[v] = r
        while len(self._written_versions) > 64:
            del self._written_versions[min(self._written_versions)]
        ev = values.get("eval/mean_return")
        version = self.latest.get("charts/latest_version")
        if ev is not None and math.isfinite(ev) and version is not None:
            self._tb.add_scalar("versions/eval_return", ev, int(version))

    # ------------------------------------------------------------------ console

    def _start_console(self) -> None:
        try:
            from rich.console import Console
            from rich.live import Live

            self._console = Console(stderr=True)
            self._live = Live(
                self._render(), console=self._console, refresh_per_second=2, transient=False
            )
            self._swap_log_handlers()
            self._live.start()
        except Exception as exc:  # no terminal: keep the other sinks
            self._restore_log_handlers()
            logger.warning("console view disabled: %s", exc)
            self._live = None

    def _swap_log_handlers(self) -> None:
        """Route the root logger's terminal handlers through the live view's console."""
        from rich.logging import RichHandler

        terminals = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
        root = logging.getLogger()
        for h in list(root.handlers):
            if type(h) is not logging.StreamHandler or h.stream not in terminals:
                continue
            if type(h.formatter).__name__ == "JsonFormatter":  # logs as data: lines stay whole
                new: logging.Handler = _PlainConsoleHandler(self._console)
                new.setFormatter(h.formatter)
            else:
                new = RichHandler(
                    console=self._console, show_path=False, markup=False, rich_tracebacks=False
                )
            new.setLevel(h.level)
            root.removeHandler(h)
            root.addHandler(new)
            self._swapped.append((h, new))

    def _restore_log_handlers(self) -> None:
        root = logging.getLogger()
        while self._swapped:
            old, new = self._swapped.pop()
            root.removeHandler(new)
            root.addHandler(old)

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
        self._restore_log_handlers()
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
        for sink in self._sinks:
            try:
                sink.close()
            except Exception as exc:
                logger.warning("closing metric sink %s failed: %s", type(sink).__name__, exc)
        self._sinks = []
        if self._write_curves and self.latest:  # nothing dumped (a failed start): no plot
            try:
                logger.info("training curves: %s", curves.write_curves(self.run_dir, self.title))
            except Exception as exc:  # matplotlib missing, no metrics yet: the run still ends
                logger.warning("could not write curves.png: %s", exc)


class _PlainConsoleHandler(logging.Handler):
    """Prints each formatted record as one unwrapped line on a rich console (JSON logs)."""

    def __init__(self, console: Any) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from rich.text import Text

            self.console.print(Text(self.format(record)), soft_wrap=True, highlight=False)
        except Exception:
            self.handleError(record)


__all__ = ["MetricsLogger", "NAMESPACES"]
