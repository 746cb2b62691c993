"""A real smoke run with ``logging.format=json``: the launcher's and the actors' log lines
reach the run's Redis stream as JSON objects naming run, tag, version, actor and host."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from telemetry import log_stream_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_json_run_ships_launcher_and_actor_lines_to_its_stream(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "learner.main", "experiment=smoke", "budget.env_steps=600",
         "logging.format=json", f"replay.redis_url={redis_url}", f"replay.namespace={namespace}",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    r = redis.Redis.from_url(redis_url)
    rows = [json.loads(fields[b"line"]) for _, fields in r.xrange(log_stream_key(namespace))]
    r.close()
    assert rows, "no JSON log line reached the run's stream"
    tag = "CartPole-v1-mlp_dueling"
    assert all(row["run_id"] == namespace and row["tag"] == tag and row["host"] for row in rows)
    launcher = [row for row in rows if row["actor_id"] is None]
    actors = [row for row in rows if row["actor_id"] == 0]
    assert any("eval" in row["msg"] or "checkpoint" in row["msg"] for row in launcher), launcher
    assert actors, "no actor's line was shipped"
    assert any(isinstance(row["version"], int) for row in rows)
    # the terminal got JSON too (Hydra logs to stdout): every such line parses
    fsrl_lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    assert fsrl_lines and all(json.loads(ln)["run_id"] == namespace for ln in fsrl_lines)
