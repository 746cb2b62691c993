"""The per-version record a run keeps: ``versions.jsonl`` in the run directory.

:class:`VersionLog` appends one JSON line per event (evaluation, online returns, gate,
promotion) for a ``(tag, version)``; :class:`OnlineReturns` keeps per-version
episode-return statistics (count, mean, spread) to put in it; :func:`version_name`
names a version in the arena's ratings. :mod:`learner.leaderboard` reads it back.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

logger = logging.getLogger(__name__)

VERSIONS_FILE = "versions.jsonl"
VERSIONS_FORMAT = 1
_FIELDS = ("eval_return", "eval_episodes", "online", "gate", "champion")


def version_name(tag: str, version: int) -> str:
    """The arena/ratings name of a weight version."""
    return f"{tag}@v{int(version)}"


@dataclass
class OnlineStats:
    """Count, mean and spread of episode returns (Welford, so it can be kept forever)."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, value: float) -> None:
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (value - self.mean)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.count) if self.count else 0.0

    def to_dict(self) -> dict[str, float]:
        return {"count": self.count, "mean": self.mean, "std": self.std}


class OnlineReturns:
    """Per-version online returns of one tag: ``add(version, ret)``, ``stats(version)``."""

    def __init__(self) -> None:
        self.by_version: dict[int, OnlineStats] = {}

    def add(self, version: int, episode_return: float) -> None:
        if not math.isfinite(episode_return):
            raise ValueError(
                f"episode return of version {version} is not finite: {episode_return!r}"
            )
        self.by_version.setdefault(int(version), OnlineStats()).add(float(episode_return))

    def stats(self, version: int) -> OnlineStats:
        return self.by_version.get(int(version), OnlineStats())


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class VersionLog:
    """Appends per-version records to ``run_dir/versions.jsonl`` (see the module doc).

    Promises: one flushed JSON line per :meth:`record`, so a crash loses at most the
    line being written and the file stays readable line by line; no pickle.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / VERSIONS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = open(self.path, "a")  # noqa: SIM115 - closed in close()

    def record(self, tag: str, version: int, **fields: Any) -> None:
        """Record any of ``eval_return``, ``eval_episodes``, ``online``, ``gate``, ``champion``."""
        unknown = sorted(set(fields) - set(_FIELDS))
        if unknown:
            raise ValueError(f"unknown version record fields {unknown}; known: {list(_FIELDS)}")
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"version record needs a tag, got {tag!r}")
        if self._file is None:
            raise RuntimeError(f"{self.path} is closed")
        row = {"format": VERSIONS_FORMAT, "time": time.time(), "tag": tag, "version": int(version)}
        row.update({k: _plain(v) for k, v in fields.items()})
        self._file.write(json.dumps(row, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> VersionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "VERSIONS_FILE",
    "VERSIONS_FORMAT",
    "OnlineReturns",
    "OnlineStats",
    "VersionLog",
    "version_name",
]
