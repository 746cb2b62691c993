"""``python -m learner.curves RUN_DIR [RUN_DIR ...]`` (``fsrl curves``): a run's training curves.

Reads each run dir's ``metrics.jsonl`` (``learner.main`` writes it) and plots, against
env steps (``--x wall`` for wall-clock minutes), the panels whose keys the run logged:
returns (training episodes, greedy evaluation, the evaluation screen), the TD loss and
the throughput (env steps/s, learner updates/s). A key a run never logged is left out,
so any env works (CartPole logs no Tetris lines or Snake apples). One run writes
``RUN_DIR/curves.png``; several, or ``--out PATH``, write one figure with a column per run.
The launcher calls :func:`write_curves` at the end of every run.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: (panel title, [(key, style, label)]): a panel is drawn when any of its keys was logged.
PANELS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "return",
        (
            ("charts/episode_return", "-", "training episodes (mean of last 20)"),
            ("eval/mean_return", "o-", "greedy evaluation (mean)"),
            ("eval/screen_mean_return", "x", "evaluation screen"),
        ),
    ),
    (
        "game (evaluation, per game)",
        tuple(
            (f"eval/{stat}_{unit}", style, f"{unit}: {stat}")
            for unit in ("lines", "apples", "reached_limit")
            for stat, style in (
                ("mean", "o-"),
                ("median", "s--"),
                ("min", "v:"),
                ("screen_mean", "x"),
            )
        ),
    ),
    ("TD loss", (("losses/td_loss", "-", "td loss"),)),
    (
        "throughput",
        (
            ("charts/env_steps_per_s", "-", "env steps/s"),
            ("charts/updates_per_s", "-", "learner updates/s"),
        ),
    ),
)
X_KEYS = {
    "env_steps": ("charts/env_steps", "env steps"),
    "wall": ("charts/wall_time_s", "wall clock (minutes)"),
}


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The dumps of a run's ``metrics.jsonl`` (a truncated last line is skipped).

    Raises ``FileNotFoundError`` naming the path when ``run_dir`` holds no metrics."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: is {run_dir} a run dir?")
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def series(
    rows: list[dict[str, Any]], key: str, x: str = "env_steps"
) -> tuple[np.ndarray, np.ndarray]:
    """(x, values) of ``key`` over the dumps that carry it; x is env steps or wall minutes.

    The x value of a dump without ``charts/env_steps`` is carried from the dump before."""
    x_key = X_KEYS[x][0]
    scale = 1 / 60.0 if x == "wall" else 1.0
    pts, last_x = [], None
    for r in rows:
        if r.get(x_key) is not None:
            last_x = float(r[x_key]) * scale
        v = r.get(key)
        if last_x is not None and v is not None and math.isfinite(float(v)):
            pts.append((last_x, float(v)))
    if not pts:
        return np.zeros(0), np.zeros(0)
    arr = np.asarray(pts, dtype=np.float64)
    return arr[:, 0], arr[:, 1]


def present_panels(rows: list[dict[str, Any]]) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """The panels of :data:`PANELS` reduced to the keys ``rows`` carry (empty panels dropped)."""
    keys = {k for r in rows for k, v in r.items() if v is not None}
    out = []
    for title, lines in PANELS:
        kept = [line for line in lines if line[0] in keys]
        if kept:
            out.append((title, kept))
    return out


def plot(
    runs: dict[str, list[dict[str, Any]]],
    out: str | Path,
    title: str = "fsrl training curves",
    x: str = "env_steps",
    log_y: bool = False,
) -> Path:
    """One column per run, one row per panel present in any run; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = [
        t
        for t, _ in PANELS
        if any(t == p for rows in runs.values() for p, _ in present_panels(rows))
    ]
    if not titles:
        raise ValueError(f"no plottable metrics in {', '.join(runs)} (an empty metrics.jsonl?)")
    fig, axes = plt.subplots(
        len(titles), len(runs), figsize=(6 * len(runs), 3 * len(titles)), squeeze=False
    )
    for col, (name, rows) in enumerate(runs.items()):
        panels = dict(present_panels(rows))
        for row, panel in enumerate(titles):
            ax = axes[row][col]
            for key, style, label in panels.get(panel, []):
                xs, ys = series(rows, key, x)
                ax.plot(xs, ys, style, ms=4, lw=1, label=label)
            ax.set_title(f"{name}: {panel}" if len(runs) > 1 else panel)
            ax.set_xlabel(X_KEYS[x][1])
            if log_y and panel in ("return", PANELS[1][0]):
                ax.set_yscale("symlog", linthresh=10.0)
            ax.grid(alpha=0.3)
            if panels.get(panel):
                ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def write_curves(run_dir: str | Path, title: str | None = None) -> Path:
    """Plot one run into ``run_dir/curves.png``; returns its path."""
    run_dir = Path(run_dir)
    return plot(
        {run_dir.name: read_metrics(run_dir)}, run_dir / "curves.png", title or str(run_dir)
    )


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Wall minutes, env steps, updates and the best evaluation return of one run."""
    last = rows[-1] if rows else {}
    evals = [r["eval/mean_return"] for r in rows if r.get("eval/mean_return") is not None]
    latest = {}
    for r in rows:
        latest.update({k: v for k, v in r.items() if v is not None})
    return {
        "wall_minutes": last.get("charts/wall_time_s", math.nan) / 60.0,
        "env_steps": latest.get("charts/env_steps"),
        "learner_updates": latest.get("charts/learner_updates"),
        "best_eval_mean_return": max(evals) if evals else math.nan,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fsrl curves", description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", help="run dirs holding metrics.jsonl")
    parser.add_argument("--out", help="PNG to write (default: RUN_DIR/curves.png for one run)")
    parser.add_argument("--x", choices=sorted(X_KEYS), default="env_steps", help="x-axis")
    parser.add_argument("--title", default="fsrl training curves")
    parser.add_argument("--log-y", action="store_true", help="symmetric log scale for returns")
    args = parser.parse_args(argv)
    try:
        runs = {Path(d).name: read_metrics(d) for d in args.run_dirs}
    except FileNotFoundError as exc:
        print(f"fsrl curves: {exc}", file=sys.stderr)
        return 2
    if len(set(runs)) < len(args.run_dirs):  # same last path part: use the full paths
        runs = {str(d): read_metrics(d) for d in args.run_dirs}
    out = args.out or (Path(args.run_dirs[0]) / "curves.png" if len(args.run_dirs) == 1 else None)
    if out is None:
        parser.error("--out is needed with several run dirs")
    path = plot(runs, out, args.title, args.x, args.log_y)
    print(f"{'run':<24} {'minutes':>8} {'env steps':>11} {'updates':>9} {'best eval':>10}")
    for name, rows in runs.items():
        s = summarize(rows)
        print(
            f"{name[-24:]:<24} {s['wall_minutes']:>8.1f} {s['env_steps'] or 0:>11,.0f} "
            f"{s['learner_updates'] or 0:>9,.0f} {s['best_eval_mean_return']:>10.1f}"
        )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
