"""The systemd unit starts the edge with arguments the server accepts, fail-closed (CURVE)."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from robot_edge.server import parse_args

UNIT = Path(__file__).resolve().parents[2] / "robot_edge" / "deploy" / "fsrl-edge.service"


def test_unit_runs_the_real_backend_with_curve() -> None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    service = parser["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[1:3] == ["-m", "robot_edge.server"]
    cfg = parse_args(argv[3:])
    assert cfg.backend == "gopigo3" and cfg.keys_dir and not cfg.insecure
    assert cfg.watchdog_ms == 300 and cfg.max_dps <= 1000
    assert service["KillSignal"] == "SIGTERM" and service["Restart"] == "always"
    assert parser["Install"]["WantedBy"] == "multi-user.target"
