"""TensorBoard gets env steps on its x-axis, the config and hparams, and per-version returns;
curves.png is written at close; a missing optional sink names its package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from learner.curves import present_panels, read_metrics, write_curves
from learner.metrics import MetricsLogger
from telemetry import MissingExtraError

ROOT = Path(__file__).resolve().parents[2]


def _events(run_dir: Path) -> EventAccumulator:
    ea = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    return ea


def test_scalars_are_plotted_against_env_steps_with_config_and_versions(tmp_path: Path) -> None:
    config = {
        "env": {"id": "CartPole-v1"},
        "algo": {"lr": 0.002, "n_step": 3},
        "model": {"tag": None},
    }
    m = MetricsLogger(tmp_path, console=False, config=config)
    env_steps = [0, 160, 480, 1000]
    for updates, steps in enumerate(env_steps):
        m.record("charts/env_steps", steps)
        m.record("losses/td_loss", 1.0 / (updates + 1))
        m.record("charts/latest_version", updates)
        m.record_version_return(updates, 10.0 * updates)
        if updates == 2:
            m.record("eval/mean_return", 42.0)
        m.dump(updates * 10)
    m.close()
    ea = _events(tmp_path)
    tags = ea.Tags()["scalars"]
    assert {"losses/td_loss", "charts/learner_updates", "versions/online_return"} <= set(tags)
    assert [e.step for e in ea.Scalars("losses/td_loss")] == env_steps
    updates = ea.Scalars("charts/learner_updates")
    assert [(e.step, e.value) for e in updates] == [(s, 10.0 * i) for i, s in enumerate(env_steps)]
    assert [(e.step, e.value) for e in ea.Scalars("eval/mean_return")] == [(480, 42.0)]
    online = ea.Scalars("versions/online_return")
    assert [(e.step, e.value) for e in online] == [(v, 10.0 * v) for v in range(4)]
    assert [(e.step, e.value) for e in ea.Scalars("versions/eval_return")] == [(2, 42.0)]
    config_text = ea.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "CartPole-v1" in config_text and '"lr": 0.002' in config_text
    hparams = ea.PluginTagToContent("hparams")
    assert "_hparams_/experiment" in hparams and "_hparams_/session_start_info" in hparams
    assert b"algo.lr" in hparams["_hparams_/session_start_info"]
    rows = read_metrics(tmp_path)
    assert [r["env_steps"] for r in rows] == env_steps
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_curves_plot_only_the_keys_a_run_logged(tmp_path: Path) -> None:
    rows = [
        {
            "step": i,
            "charts/env_steps": 100 * i,
            "charts/wall_time_s": i,
            "charts/episode_return": 9.0 + i,
        }
        for i in range(5)
    ]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert [p for p, _ in present_panels(rows)] == ["return"]
    assert write_curves(tmp_path).stat().st_size > 1000
    out = subprocess.run(
        [sys.executable, "-m", "learner.curves", str(tmp_path), "--out", str(tmp_path / "c2.png")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "c2.png").exists() and "wrote" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "learner.curves", str(tmp_path / "nope")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "nope/metrics.jsonl does not exist" in bad.stderr


@pytest.mark.parametrize(("sink", "package"), [("wandb", "wandb"), ("mlflow", "mlflow")])
def test_a_missing_optional_sink_is_one_line_naming_package_and_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: str, package: str
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed
    with pytest.raises(
        MissingExtraError, match=rf"pip install '{package}' \(or fsrl\[{package}\]\)"
    ):
        MetricsLogger(tmp_path, console=False, tensorboard=False, sinks=[sink])
