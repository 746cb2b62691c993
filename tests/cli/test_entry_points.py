"""fsrl's console scripts, installed into a fresh venv: --help, Hydra's completion through
the entry point, --cfg job value checks, and cheap checks that fail in one line before any
Redis or Ray process starts.

The venv is made without pip from this interpreter; a ``.pth`` file lets it see the
shared environment's packages (the dependencies), and ``pip --python`` installs fsrl
itself with ``--no-deps`` from a copy of the sources.
"""

from __future__ import annotations

import os
import resource
import shutil
import site
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import tomllib

from tests.policy.runs import write_run

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("fsrl", "fsrl-train", "fsrl-cold-start", "fsrl-evaluate", "fsrl-play", "fsrl-export")
# every package the distribution ships, as pyproject.toml declares them
PACKAGES = tuple(
    pattern.rstrip("*")
    for pattern in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
)


@pytest.fixture(scope="module")
def venv_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fsrl-venv")
    venv = base / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    py = venv / "bin" / "python"
    target = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    Path(target, "shared-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    out = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
         "--no-build-isolation", str(src)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return venv / "bin"


def _env(venv_bin: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COMP_LINE", "COMP_POINT")
    }
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def _run(
    venv_bin: Path, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=300, env=_env(venv_bin, **env),
        cwd=cwd or venv_bin.parent,
    )  # fmt: skip


def test_every_command_is_installed_and_fsrl_help_lists_them(venv_bin: Path) -> None:
    for script in SCRIPTS:
        assert (venv_bin / script).exists(), script
    out = _run(venv_bin, "fsrl", "--help")
    assert out.returncode == 0, out.stderr
    for command in ("train", "evaluate", "cold-start", "replay", "curves", "play", "export"):
        assert f"  {command} " in out.stdout
    bad = _run(venv_bin, "fsrl", "trian")
    assert bad.returncode == 2 and "unknown command 'trian'" in bad.stderr


def test_train_help_is_fsrls_own_and_hides_internal_presets(venv_bin: Path) -> None:
    out = _run(venv_bin, "fsrl", "train", "--help")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("fsrl: distributed reinforcement learning")
    assert "powered by Hydra" not in text
    for preset in (
        "env=cartpole",
        "env=tetris",
        "experiment=smoke",
        "experiment=snake_1h",
        "ray=cluster",
    ):
        assert preset in text, preset
    assert "base_" not in text and "_ci" not in text
    presets = [
        p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml") if not p.stem.endswith("_ci")
    ]
    assert all(f"experiment={p}" in text for p in presets)  # a new preset shows up by itself
    cold = _run(venv_bin, "fsrl", "cold-start", "--help")
    assert cold.returncode == 0 and "fsrl cold-start model.tag=TAG" in cold.stdout


def test_hydra_bash_completion_through_the_entry_points(venv_bin: Path) -> None:
    script = (
        'eval "$({install})"\n'
        'complete -p {prog}\n'
        'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; COMP_CWORD={cword}\n'
        'hydra_bash_completion\n'
        'printf "<%s>\\n" "${{COMPREPLY[@]}}"\n'
    )  # fmt: skip
    cases = [
        ("fsrl-train -sc install=bash", "fsrl-train", "fsrl-train env=ca", 1, ["<env=cartpole>"]),
        ("fsrl train -sc install=bash", "fsrl", "fsrl train actors.nu", 2,
         ["<actors.num=>", "<actors.num_cpus_per_actor=>"]),
        ("fsrl train -sc install=bash", "fsrl", "fsrl cold", 1, ["<cold-start>"]),
        ("fsrl-cold-start -sc install=bash", "fsrl-cold-start", "fsrl-cold-start experiment=sm", 1,
         ["<experiment=smoke>"]),
        ("fsrl train -sc install=bash", "fsrl", "fsrl play max_fr", 2, ["<max_frames=>"]),
        ("fsrl-export -sc install=bash", "fsrl-export", "fsrl-export check_b", 1, ["<check_batch=>"]),
    ]  # fmt: skip
    for install, prog, line, cword, expected in cases:
        body = script.format(install=install, prog=prog, line=line, cword=cword)
        out = _run(venv_bin, "bash", "-c", body)
        assert out.returncode == 0, out.stderr
        assert f"hydra_bash_completion {prog}" in out.stdout, out.stdout
        got = [ln for ln in out.stdout.splitlines() if ln.startswith("<")]
        assert got == expected, (line, out.stdout, out.stderr)


def test_play_and_export_help_and_field_checks(venv_bin: Path) -> None:
    for command, first in (("play", "fsrl play: render"), ("export", "fsrl export: write")):
        out = _run(venv_bin, "fsrl", command, "--help")
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(first) and "powered by Hydra" not in out.stdout
        assert f"fsrl {command} path=PATH" in out.stdout
    for cmd, args, expected in (
        (["fsrl", "play"], ["path=x", "out=a.avi"], "out='a.avi' is invalid"),
        (["fsrl-play"], ["path=x", "fps=0"], "fps=0 is invalid: must be >= 1"),
        (["fsrl", "export"], ["path=x", "formats=[tflite]"], "formats=['tflite'] is invalid"),
        (["fsrl-export"], ["out=y"], "pass exactly one of path=PATH or tag=TAG"),
    ):
        out = _run(venv_bin, *cmd, "--cfg", "job", *args)
        assert out.returncode == 2 and expected in out.stderr, (cmd, out.stdout, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_cfg_job_checks_values_and_names_the_field(venv_bin: Path) -> None:
    for cmd in (["fsrl", "train"], ["fsrl", "cold-start"], ["fsrl-train"]):
        out = _run(venv_bin, *cmd, "--cfg", "job", "actors.num=0")
        assert out.returncode == 2, (cmd, out.stdout[-500:], out.stderr)
        assert "actors.num=0 is invalid: must be >= 1" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    ok = _run(venv_bin, "fsrl", "train", "--cfg", "job", "actors.num=3")
    assert ok.returncode == 0, ok.stderr
    assert "num: 3" in ok.stdout


def _descendants_seen(proc: subprocess.Popen[str]) -> set[str]:
    """Command lines of every process below ``proc`` while it runs (polled)."""
    seen: set[str] = set()
    parent = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            for child in parent.children(recursive=True):
                try:
                    seen.add(" ".join(child.cmdline()))
                except psutil.Error:
                    continue
        except psutil.Error:
            break
        time.sleep(0.02)
    return seen


@pytest.mark.parametrize(
    ("env_id", "expected"),
    [
        ("Nope-v0", "env.id='Nope-v0' is not a registered Gymnasium id"),
        (
            "envs.no_such_module:Thing-v0",
            "env.id='envs.no_such_module:Thing-v0': cannot import module",
        ),
        ("envs.tetris:fsrl/NoSuch-v0", "env.id='envs.tetris:fsrl/NoSuch-v0' is not a registered"),
    ],
)
def test_bad_env_id_is_one_line_before_redis_or_ray(
    venv_bin: Path, env_id: str, expected: str
) -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        ["fsrl", "train", f"env.id={env_id}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=_env(venv_bin), cwd=venv_bin.parent,
    )  # fmt: skip
    children = _descendants_seen(proc)
    stdout, stderr = proc.communicate(timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert proc.returncode == 2, (stdout, stderr)
    assert expected in stderr and stderr.startswith("fsrl train: error: ")
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert not [
        c
        for c in children
        if any(w in c for w in ("redis", "valkey", "raylet", "gcs_server", "ray"))
    ]
    # CPU seconds, not wall time: the check loads no torch and starts nothing (the box is shared)
    assert cpu_s < 3.0, f"pre-flight took {cpu_s:.2f} CPU s"


def test_replay_and_curves_commands_run_from_the_entry_point(
    venv_bin: Path, redis_url: str, tmp_path: Path
) -> None:
    out = _run(venv_bin, "fsrl", "replay", "--redis-url", redis_url, "ls", "nobody-here")
    assert out.returncode == 0 and "nothing stored" in out.stdout, out.stderr
    bad = _run(venv_bin, "fsrl", "curves", str(tmp_path))
    assert bad.returncode == 2 and "metrics.jsonl does not exist" in bad.stderr


def test_play_and_export_run_from_the_entry_points(venv_bin: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_run(run, "dqn")
    out = _run(venv_bin, "fsrl", "play", f"path={run}", f"out={tmp_path}/p.gif",
               "max_frames=6", "episodes=3", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"wrote {tmp_path}/p.gif: 6 frames" in out.stdout
    exported = _run(venv_bin, "fsrl-export", f"path={run}", f"out={tmp_path}/e/", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "e" / "policy.onnx").exists() and (tmp_path / "e" / "policy.pt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e", "p.gif", "run"]  # no outputs/
    bad = _run(venv_bin, "fsrl-play", f"path={tmp_path}/nope", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        f"fsrl-play: error: {tmp_path}/nope: no such file or directory (expected a run "
        "directory, a checkpoint (ckpt-*), a weights file (.safetensors), an exported .onnx "
        "or a TorchScript .pt file)"
    )
