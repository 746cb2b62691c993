"""``ray.worker_niceness`` reaches the worker processes of the local Ray a run starts,
added to the launcher's own nice value (Ray's default, 15, left the robot sim's actor a
sliver of CPU under load)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, sys
import ray
from conf import load_config
from learner.startup import start_ray, stop_ray

cfg = load_config(sys.argv[1:])
assert start_ray(cfg.ray)
try:
    print("NICE", ray.get(ray.remote(lambda: os.nice(0)).remote()) - os.nice(0))
finally:
    stop_ray()
"""


@pytest.mark.parametrize("niceness", [0, 7])
def test_workers_run_at_the_configured_niceness(niceness: int) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"ray.worker_niceness={niceness}", "ray.num_cpus=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("NICE ")]
    assert lines == [f"NICE {niceness}"], out.stdout[-2000:]


def test_a_niceness_out_of_range_is_refused_naming_the_field() -> None:
    from conf import load_config

    with pytest.raises(ValueError, match="ray.worker_niceness=25"):
        load_config(["ray.worker_niceness=25"])
