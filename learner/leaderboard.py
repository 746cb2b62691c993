"""A run's versions ranked from its run directory alone: the files and the table.

What a run directory holds (written by ``learner.main``; the first two exist today):

* ``summary.json`` — ``model_tag``, ``env_id``, ``final_version``,
  ``final_eval_mean_return`` (the final network *is* the final version);
* ``metrics.jsonl`` — one row per dump; a row with ``eval/mean_return`` also carries
  ``charts/latest_version`` (the learner's network while that version was latest:
  close to, not exactly, that version);
* ``versions.jsonl`` — one JSON object per line, written by :class:`VersionLog`:
  ``{"format": 1, "time": unix_s, "tag": str, "version": int, ...}`` (see
  :mod:`learner.version_log`, which writes it) with any of
  ``eval_return``, ``eval_episodes``, ``online`` (``{"count", "mean", "std"}``: the
  episodes actors and the robot finished with that version), ``gate`` (a
  ``GateResult.to_dict()``), ``champion`` (true when the version was promoted).
  Later lines for the same (tag, version) update earlier ones field by field; the
  tag's champion is the last version promoted.
* ``ratings.json`` — :class:`~learner.ratings.Ratings` JSON; a version's player name
  is :func:`version_name` (``"<tag>@v<version>"``); other names (``random``,
  ``alphabeta4``) are baselines, shown under the table;
* ``payoff.json`` — :class:`~learner.arena.PayoffTable` JSON (read by the arena).

:func:`load_board` reads what is there (bad lines are skipped and reported, never
fatal) and returns one ranked table per tag: by rating where versions are rated,
else by evaluation return.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from learner.ratings import Ratings
from learner.version_log import VERSIONS_FILE, VERSIONS_FORMAT, version_name

logger = logging.getLogger(__name__)

RATINGS_FILE = "ratings.json"
PAYOFF_FILE = "payoff.json"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"


@dataclass
class Row:
    """One version in a tag's leaderboard."""

    tag: str
    version: int
    rating: dict[str, float] | None = None
    eval_return: float | None = None
    eval_episodes: int | None = None
    eval_source: str | None = None
    online: dict[str, float] | None = None
    gate: dict[str, Any] | None = None
    champion: bool = False
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Board:
    """Every tag's ranked rows, the rated baselines, and what was read or skipped."""

    run_dir: str
    tags: dict[str, list[Row]] = field(default_factory=dict)
    champions: dict[str, int | None] = field(default_factory=dict)
    baselines: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": self.run_dir,
            "tags": {t: [r.to_dict() for r in rows] for t, rows in self.tags.items()},
            "champions": self.champions,
            "baselines": self.baselines,
            "sources": self.sources,
            "warnings": self.warnings,
        }


def _read_jsonl(path: Path, board: Board) -> list[dict[str, Any]]:
    rows = []
    with path.open() as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"a {type(row).__name__}, not an object")
            except ValueError as exc:
                board.warnings.append(f"{path.name}:{n}: skipped ({exc})")
                continue
            rows.append(row)
    return rows


def _get_row(rows: dict[tuple[str, int], Row], tag: str, version: int) -> Row:
    key = (tag, int(version))
    if key not in rows:
        rows[key] = Row(tag=tag, version=int(version))
    return rows[key]


def _read_versions(run: Path, board: Board, rows: dict[tuple[str, int], Row]) -> None:
    path = run / VERSIONS_FILE
    if not path.exists():
        return
    board.sources.append(VERSIONS_FILE)
    for n, rec in enumerate(_read_jsonl(path, board), 1):
        try:
            tag, version = str(rec["tag"]), int(rec["version"])
        except (KeyError, TypeError, ValueError):
            board.warnings.append(f"{VERSIONS_FILE}: record {n} has no tag/version: skipped")
            continue
        if rec.get("format", VERSIONS_FORMAT) != VERSIONS_FORMAT:
            board.warnings.append(
                f"{VERSIONS_FILE}: record {n} has format {rec.get('format')!r}, "
                f"this reader knows {VERSIONS_FORMAT}: skipped"
            )
            continue
        row = _get_row(rows, tag, version)
        board.champions.setdefault(tag, None)
        if rec.get("eval_return") is not None:
            row.eval_return = float(rec["eval_return"])
            row.eval_source = VERSIONS_FILE
        if rec.get("eval_episodes") is not None:
            row.eval_episodes = int(rec["eval_episodes"])
        if isinstance(rec.get("online"), Mapping):
            row.online = {k: float(v) for k, v in rec["online"].items() if v is not None}
        if isinstance(rec.get("gate"), Mapping):
            row.gate = dict(rec["gate"])
        if rec.get("champion") is True:
            board.champions[tag] = version


def _read_fallback(run: Path, board: Board, rows: dict[tuple[str, int], Row]) -> None:
    """Eval returns from ``summary.json`` and ``metrics.jsonl`` (runs without versions.jsonl)."""
    summary: dict[str, Any] = {}
    spath = run / SUMMARY_FILE
    if spath.exists():
        try:
            summary = json.loads(spath.read_text())
            board.sources.append(SUMMARY_FILE)
        except ValueError as exc:
            board.warnings.append(f"{SUMMARY_FILE}: skipped ({exc})")
    tag = summary.get("model_tag")
    mpath = run / METRICS_FILE
    if tag is None or not isinstance(tag, str):
        if mpath.exists() or spath.exists():
            board.warnings.append(f"{SUMMARY_FILE} names no model_tag: metrics not attributed")
        return
    board.champions.setdefault(tag, None)
    if mpath.exists():
        board.sources.append(METRICS_FILE)
        for m in _read_jsonl(mpath, board):
            ev, latest = m.get("eval/mean_return"), m.get("charts/latest_version")
            if ev is None or latest is None:
                continue
            row = _get_row(rows, tag, int(latest))
            if row.eval_source in (None, METRICS_FILE):
                row.eval_return = float(ev)
                row.eval_source = METRICS_FILE
    final_v, final_eval = summary.get("final_version"), summary.get("final_eval_mean_return")
    if final_v is not None and final_eval is not None:
        row = _get_row(rows, tag, int(final_v))
        if row.eval_source != VERSIONS_FILE:
            row.eval_return, row.eval_source = float(final_eval), SUMMARY_FILE


def _read_ratings(run: Path, board: Board, rows: dict[tuple[str, int], Row]) -> None:
    path = run / RATINGS_FILE
    if not path.exists():
        return
    try:
        ratings = Ratings.load(path)
    except ValueError as exc:
        board.warnings.append(f"{RATINGS_FILE}: skipped ({exc})")
        return
    board.sources.append(RATINGS_FILE)
    for name, r in ratings.items():
        tag, sep, v = name.rpartition("@v")
        if sep and tag and v.isdigit():
            _get_row(rows, tag, int(v)).rating = r.to_dict()
        else:
            board.baselines.append(r.to_dict())
    board.baselines.sort(key=lambda d: -d["ordinal"])


def _rank(rows: list[Row]) -> list[Row]:
    rated = any(r.rating is not None for r in rows)

    def key(r: Row) -> tuple[float, float, int]:
        primary = (r.rating or {}).get("ordinal") if rated else r.eval_return
        return (0.0 if primary is not None else 1.0, -(primary or 0.0), -r.version)

    ranked = sorted(rows, key=key)
    for i, r in enumerate(ranked, 1):
        r.rank = i
    return ranked


def load_board(run_dir: str | Path, tag: str | None = None) -> Board:
    """Read a finished (or running) run directory; one ranked table per tag."""
    run = Path(run_dir)
    if not run.is_dir():
        raise ValueError(f"run dir {str(run)!r} is not a directory")
    board = Board(run_dir=str(run))
    rows: dict[tuple[str, int], Row] = {}
    _read_versions(run, board, rows)
    _read_fallback(run, board, rows)
    _read_ratings(run, board, rows)
    if not board.sources:
        raise ValueError(
            f"run dir {str(run)!r} holds none of {VERSIONS_FILE}, {SUMMARY_FILE}, "
            f"{METRICS_FILE}, {RATINGS_FILE}: is it a run directory?"
        )
    tags = sorted({t for t, _ in rows} | set(board.champions))
    if tag is not None:
        if tag not in tags:
            raise ValueError(f"tag {tag!r} is not in run dir {str(run)!r} (tags: {tags})")
        tags = [tag]
    for t in tags:
        champion = board.champions.get(t)
        for (rt, v), row in rows.items():
            if rt == t:
                row.champion = v == champion
        board.tags[t] = _rank([r for (rt, _), r in rows.items() if rt == t])
    board.champions = {t: board.champions.get(t) for t in tags}
    return board


__all__ = [
    "METRICS_FILE",
    "PAYOFF_FILE",
    "RATINGS_FILE",
    "SUMMARY_FILE",
    "VERSIONS_FILE",
    "VERSIONS_FORMAT",
    "Board",
    "Row",
    "load_board",
    "version_name",
]


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def render_board(board: Board) -> list[Any]:
    """One rich ``Table`` per tag (and one for the rated baselines, when any)."""
    tables = []
    for tag, rows in board.tags.items():
        champion = board.champions.get(tag)
        title = (
            f"{tag}: {len(rows)} versions, champion {'-' if champion is None else f'v{champion}'}"
        )
        table = Table(title=title)
        for col in (
            "rank",
            "version",
            "rating",
            "eval return",
            "online return",
            "games",
            "gate",
            "",
        ):
            table.add_column(col, justify="right")
        for r in rows:
            rating = (
                f"{r.rating['mu']:.1f} ± {r.rating['sigma']:.1f}" if r.rating is not None else "-"
            )
            online = r.online or {}
            online_s = (
                f"{online['mean']:.2f} ± {online.get('std', 0.0):.2f}" if "mean" in online else "-"
            )
            gate = "-"
            if r.gate is not None:
                rate = r.gate.get("win_rate")
                gate = ("pass" if r.gate.get("passed") else "fail") + (
                    f" {rate:.2f}/{r.gate.get('games')}" if rate is not None else ""
                )
            eval_s = _fmt(r.eval_return) + ("~" if r.eval_source == METRICS_FILE else "")
            table.add_row(
                str(r.rank),
                f"v{r.version}",
                rating,
                eval_s,
                online_s,
                str(int(online["count"])) if "count" in online else "-",
                gate,
                "★ champion" if r.champion else "",
            )
        tables.append(table)
    if board.baselines:
        table = Table(title="rated baselines")
        for col in ("name", "rating", "ordinal", "games"):
            table.add_column(col, justify="right")
        for b in board.baselines:
            table.add_row(
                b["name"],
                f"{b['mu']:.1f} ± {b['sigma']:.1f}",
                f"{b['ordinal']:.1f}",
                str(b["games"]),
            )
        tables.append(table)
    return tables


__all__ += ["render_board"]
