"""The launcher reaches ``ray.init`` without torch: torch loads beside it, in the thread
that builds the learner (learner/system.py), so its ~1 s of imports is off the start-up's
critical path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from learner.preflight import check_device

REPO = Path(__file__).resolve().parents[2]

# A fresh interpreter: the launcher's module and every check ``run()`` makes before it
# builds the system (config values, the device, the replay's rate limiter, the agent).
PROBE = r"""
import sys
import learner.main
assert "torch" not in sys.modules, "import learner.main imported torch"
from actors.spec import build_agent
from conf import load_config
from learner.preflight import check_config, check_device
from replay.config import table_config
cfg = load_config([])
check_config(cfg)
check_device(cfg.learner.device)
table_config(cfg.replay)
build_agent(cfg)
assert "torch" not in sys.modules, "the launcher's checks imported torch"
print("ok")
"""


def test_launcher_checks_run_without_importing_torch() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_a_device_this_machine_lacks_still_fails_before_anything_starts() -> None:
    import torch

    if torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"learner.device='cuda:99' but only \d+ CUDA"):
            check_device("cuda:99")
    else:
        with pytest.raises(ValueError, match=r"learner.device='cuda' but this machine has no"):
            check_device("cuda")
    check_device("cpu")  # always there
