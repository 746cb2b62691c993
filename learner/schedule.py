"""Periodic jobs of a run (publish, checkpoint, poll, evaluate, log) in one place.

Promises: :meth:`Schedule.tick` runs each job whose period has passed, in the order
they were added, at most once per tick; a job's period is counted in seconds (wall
clock) or in learner updates; a job may return True to ask the run to stop (e.g. an
evaluation that reached the target) and may push its own next due time back
(:meth:`Job.defer`) — evaluation does so to stay under its share of wall time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Job:
    """One periodic job: every ``every_s`` seconds or every ``every_updates`` updates."""

    name: str
    fn: Callable[[], bool | None]
    every_s: float = 0.0
    every_updates: int = 0
    next_s: float = 0.0
    next_update: int = 0

    def due(self, now: float, updates: int) -> bool:
        if self.every_updates:
            return updates >= self.next_update
        return now >= self.next_s

    def done(self, now: float, updates: int) -> None:
        if self.every_updates:
            self.next_update = (updates // self.every_updates + 1) * self.every_updates
        else:
            self.next_s = now + self.every_s

    def defer(self, until_s: float) -> None:
        """Run no sooner than ``until_s`` (monotonic seconds); no effect on a job counted in
        updates."""
        self.next_s = max(self.next_s, until_s)


class Schedule:
    """An ordered set of periodic jobs, ticked by a driver loop."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def every(
        self,
        name: str,
        fn: Callable[[], bool | None],
        *,
        seconds: float = 0.0,
        updates: int = 0,
        first_after_s: float | None = None,
    ) -> Job:
        """Add ``fn`` to run every ``seconds`` or every ``updates`` (a 0 period adds nothing)."""
        if (seconds > 0) == (updates > 0):
            raise ValueError(f"job {name!r}: give exactly one of seconds>0 or updates>0")
        now = time.monotonic()
        job = Job(name, fn, every_s=seconds, every_updates=updates)
        job.next_s = now + (seconds if first_after_s is None else first_after_s)
        job.next_update = updates
        self.jobs.append(job)
        return job

    def job(self, name: str) -> Job:
        return next(j for j in self.jobs if j.name == name)

    def tick(self, updates: int) -> str:
        """Run the due jobs; the name of the first that asked to stop ("" if none)."""
        for job in self.jobs:
            now = time.monotonic()
            if not job.due(now, updates):
                continue
            job.done(now, updates)
            if job.fn():
                return job.name
        return ""


__all__ = ["Job", "Schedule"]
