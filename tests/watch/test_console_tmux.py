"""The live console in a real terminal (tmux): one table, log lines above it, no stale headers.

A short real CartPole run (``experiment=smoke`` with the console on and an evaluation
every second, so log lines are written while the view is live) runs inside a private
tmux server; the whole pane, scrollback included, is captured at the end. The same
run's TensorBoard files must carry env steps on the x-axis, and curves.png must exist.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[2]
TITLE = "fsrl async: CartPole-v1 / CartPole-v1-mlp_dueling"


def _tmux() -> str:
    """tmux on PATH, installed with apt-get if missing; the test fails (not skips) without it."""
    if shutil.which("tmux") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "tmux"], capture_output=True, timeout=300)
    path = shutil.which("tmux")
    if path is None:
        pytest.fail("tmux is needed for the console test and `apt-get install -y tmux` failed")
    return path


@pytest.fixture()
def tmux_server() -> Iterator[list[str]]:
    sock = f"fsrl-test-{uuid.uuid4().hex[:8]}"
    base = [_tmux(), "-L", sock]
    yield base
    subprocess.run([*base, "kill-server"], capture_output=True, timeout=30)


@pytest.mark.slow
def test_live_console_stays_clean_with_logs_above_the_view(
    tmux_server: list[str], tmp_path: Path
) -> None:
    run_dir, done = tmp_path / "run", tmp_path / "exit_code"
    cmd = (
        f"cd {ROOT} && PYTHONPATH={ROOT} {sys.executable} -m learner.main experiment=smoke "
        "logging.console=true logging.tensorboard=true learner.eval_interval_s=1 "
        f"logging.interval_s=0.5 hydra.run.dir={run_dir}; echo $? > {done}; sleep 600"
    )
    subprocess.run(
        [*tmux_server, "new-session", "-d", "-s", "run", "-x", "120", "-y", "32", cmd],
        check=True, timeout=30,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(1)
    pane = subprocess.run(
        [*tmux_server, "capture-pane", "-p", "-J", "-S", "-", "-t", "run"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    assert done.exists(), f"the run did not finish in 300 s:\n{pane[-3000:]}"
    assert done.read_text().strip() == "0", pane[-3000:]
    lines = pane.splitlines()
    titles = [i for i, line in enumerate(lines) if TITLE in line]
    assert len(titles) == 1, f"{len(titles)} table headers (stale copies) in:\n{pane}"
    bars = [line for line in lines if re.search(r"\d+% [\d,]+/[\d,]+ env steps", line)]
    assert len(bars) == 1, f"{len(bars)} progress bars in:\n{pane}"
    evals = [i for i, line in enumerate(lines) if "eval at" in line and "env steps: mean" in line]
    assert evals, f"no evaluation log line reached the terminal:\n{pane}"
    assert max(evals) < titles[0], f"a log line landed inside or below the view:\n{pane}"
    table_end = next(i for i in range(titles[0], len(lines)) if "└" in lines[i])
    assert all(
        line.lstrip().startswith(("│", "┌", "└")) for line in lines[titles[0] + 1 : table_end + 1]
    )
    # the same run's TensorBoard scalars are plotted against env steps
    ea = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    ea.Reload()
    env_steps = ea.Scalars("charts/env_steps")
    assert env_steps and all(e.step == int(e.value) for e in env_steps)
    assert env_steps[-1].step == 3000
    assert "eval/mean_return" in ea.Tags()["scalars"]
    assert (run_dir / "curves.png").stat().st_size > 1000
