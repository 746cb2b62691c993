"""A run of ``learner.main.run`` in a thread, so a test can disturb it while it runs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from conf.schema import Config


class RunThread(threading.Thread):
    """``learner.main.run`` in a thread, so the test can disturb it while it runs."""

    def __init__(self, cfg: Config, run_dir: Path) -> None:
        super().__init__(daemon=True)
        self.cfg, self.run_dir = cfg, run_dir
        self.summary: dict[str, Any] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        from learner.main import run

        try:
            self.summary = run(self.cfg, self.run_dir)
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def result(self, timeout_s: float) -> dict[str, Any]:
        self.join(timeout_s)
        if self.is_alive():
            raise TimeoutError(f"run did not finish within {timeout_s}s")
        if self.error is not None:
            raise self.error
        assert self.summary is not None
        return self.summary
