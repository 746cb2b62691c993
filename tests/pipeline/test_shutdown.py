"""Ctrl-C (SIGINT) or SIGTERM on ``python -m learner.main`` stops everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, out, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_leaves_no_redis_or_ray_process_behind(tmp_path: Path, sig: int) -> None:
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "learner.main",
            "experiment=smoke",
            "budget.env_steps=100000000",
            "budget.wall_time_s=300",
            "ray.num_cpus=2",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )  # fmt: skip
    try:
        metrics = run_dir / "metrics.jsonl"
        deadline = time.monotonic() + 120
        seen: set[int] = set()
        # Training is under way once the learner has dumped metrics with env steps.
        while not (metrics.exists() and '"charts/env_steps": 1' in metrics.read_text()):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the run never started training"
            time.sleep(0.5)
        seen |= _descendants(proc.pid)
        names = {pid: _cmdline(pid) for pid in seen}
        assert any("redis-server" in c or "valkey-server" in c for c in names.values()), names
        assert any("raylet" in c for c in names.values()), names
        assert any("ActorWorker" in c or "default_worker" in c for c in names.values()), names
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out.decode(errors="replace")[-3000:]
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = {p: _cmdline(p) for p in seen if _alive(p)}
    assert not left, f"processes left behind: {left}"
    text = out.decode(errors="replace")
    assert "interrupted" in text
    assert (run_dir / "summary.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_during_start_up_exits_130_and_leaves_nothing_behind(
    tmp_path: Path, sig: int
) -> None:
    """A signal while Ray starts (the embedded Redis is up, the raylet is starting):
    exit status 130, one line saying so, no traceback, no Ray agent or Redis left."""
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "learner.main",
            "experiment=smoke", "logging.console=false", "ray.num_cpus=2",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )  # fmt: skip
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while not any("raylet" in _cmdline(p) for p in seen):  # Ray is starting
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "Ray never started"
            seen |= _descendants(proc.pid)
            time.sleep(0.05)
        proc.send_signal(sig)
        for _ in range(20):  # what started meanwhile must go too
            seen |= _descendants(proc.pid)
            time.sleep(0.05)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.decode(errors="replace")
    assert proc.returncode == 130, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = {p: _cmdline(p) for p in seen if _alive(p)}
    assert not left, f"processes left behind: {left}"
