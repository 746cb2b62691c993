"""fsrl export: ONNX and TorchScript outputs equal the torch module within 1e-5 (DQN, SAC,
a Dict observation with an action mask), a file that differs fails loudly; fsrl play: a GIF
or MP4 of exactly N frames, read back and counted, from a run dir, an export or a version in
a real Redis."""

from __future__ import annotations

import sys
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from conf.sections import EnvConfig
from learner import export as export_cli
from learner import play as play_cli
from learner.export import export_policy
from learner.play import PlayError, play
from learner.policy_formats import (
    ExportMismatchError,
    InputSpec,
    as_arrays,
    check_file,
    prepare_module,
    read_onnx,
    sample_observations,
)
from learner.policy_io import load_agent, load_policy
from replay.weights import WeightStore
from telemetry.ship import MissingExtraError
from tests.policy.runs import observations, write_run


def _inputs(obs) -> list[np.ndarray]:
    return [obs[k] for k in sorted(obs)] if isinstance(obs, dict) else [obs]


def _outputs_equal_torch(run: Path, files: dict[str, Path], obs) -> None:
    """Both files' outputs on ``obs`` (and on its first row alone) equal the torch module's."""
    module, _ = load_agent(run).learner().policy_module()
    module.eval()
    for batch in (obs, {k: v[:1] for k, v in obs.items()} if isinstance(obs, dict) else obs[:1]):
        arrays = _inputs(batch)
        with torch.no_grad():
            want = module(
                {k: torch.from_numpy(v) for k, v in batch.items()}
                if isinstance(batch, dict)
                else torch.from_numpy(batch)
            ).numpy()
        session = ort.InferenceSession(str(files["onnx"]), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        got_onnx = session.run(None, dict(zip(names, arrays, strict=True)))[0]
        scripted = torch.jit.load(str(files["torchscript"]))
        with torch.no_grad():
            got_ts = scripted(*(torch.from_numpy(a) for a in arrays)).numpy()
        for got in (got_onnx, got_ts):
            assert got.shape == want.shape
            finite = np.isfinite(want)
            np.testing.assert_array_equal(np.isfinite(got), finite)  # masked: -inf in both
            assert np.abs(got[finite] - want[finite]).max() <= 1e-5


def test_exported_files_equal_the_torch_module(run_dir: Path, exported: dict[str, Path]) -> None:
    assert sorted(exported) == ["onnx", "torchscript"]
    cfg_env = load_agent(run_dir).env
    _outputs_equal_torch(run_dir, exported, observations(cfg_env, 50, seed=11))


def test_dict_observations_with_an_action_mask(tmp_path: Path) -> None:
    run = tmp_path / "c4"
    write_run(run, "dqn_connect_four")
    results = export_policy(load_agent(run), tmp_path / "c4-policy")
    assert all(r.max_abs_diff <= 1e-5 for r in results)
    files = {r.format: r.path for r in results}
    obs = observations(load_agent(run).env, 40, seed=2)
    assert obs["action_mask"].min() == 0  # some actions masked
    _outputs_equal_torch(run, files, obs)
    greedy = load_agent(run).learner().greedy()(obs)
    for path in files.values():
        actions = load_policy(path)(obs)
        np.testing.assert_array_equal(actions, greedy)
        assert obs["action_mask"][np.arange(40), actions].all()  # never a masked action


def test_export_command_and_a_file_that_differs_fails_loudly(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export_cli.main([f"path={run_dir}", f"out={tmp_path}/cli/", "check_batch=8"]) == 0
    printed = capsys.readouterr().out
    onnx_path, pt_path = tmp_path / "cli" / "policy.onnx", tmp_path / "cli" / "policy.pt"
    assert f"wrote {onnx_path} (onnx" in printed and f"wrote {pt_path} (torchscript" in printed
    model = onnx.load(str(onnx_path))  # nudge one weight: the check must catch it
    init = model.graph.initializer[0]
    arr = onnx.numpy_helper.to_array(init).copy()
    arr.flat[0] += 1e-3
    init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
    onnx.save(model, str(onnx_path))
    source = load_agent(run_dir)
    module, _ = source.learner().policy_module()
    run, meta = read_onnx(onnx_path)
    inputs = [InputSpec.from_json(s) for s in meta["inputs"]]
    wrapped = prepare_module(module, inputs)
    batch = as_arrays(sample_observations(source.agent.observation_space, 16, 0), inputs)
    with pytest.raises(ExportMismatchError, match=f"{onnx_path}: outputs differ from the torch"):
        check_file(run, wrapped, [batch], 1e-5, 1e-5, onnx_path)
    with pytest.raises(SystemExit, match=r"fsrl export: error: .*is an exported onnx file|"
                       r"learner.export: error: .*is an exported onnx file"):  # fmt: skip
        export_cli.main([f"path={onnx_path}", f"out={tmp_path}/again"])


def _gif_frames(path: Path) -> tuple[int, list[int]]:
    with Image.open(path) as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(int(im.info["duration"]))
        return im.n_frames, durations


def _assert_gif(path: Path, frames: int, fps: int, repeats: int) -> None:
    """``frames`` frames at ``fps`` (GIF time is in 10 ms steps): Pillow folds a frame identical
    to the one before into that image's duration, so the file holds ``frames - repeats``
    images (few)."""
    n, durations = _gif_frames(path)
    assert sum(durations) == round(frames * 100 / fps) * 10, (durations, frames)
    assert n == frames - repeats and repeats <= frames // 4, (n, frames, repeats)


def test_play_writes_a_gif_of_n_frames(
    run_dir: Path, exported: dict[str, Path], tmp_path: Path
) -> None:
    policy = load_policy(run_dir)
    result = play(policy, tmp_path / "a.gif", episodes=20, max_frames=40, fps=25, seed=1)
    assert result.frames == 40 and result.path.exists()
    _assert_gif(result.path, 40, 25, result.repeats)
    # one episode: its reset frame and one frame per step, then the video ends
    one = play(policy, tmp_path / "one.gif", episodes=1, max_frames=500, seed=1)
    assert len(one.returns) == 1 and one.frames == one.steps + 1
    _assert_gif(one.path, one.frames, 30, one.repeats)
    # the command, from the exported TorchScript file (its env comes from the file)
    out = tmp_path / "cli.gif"
    args = [f"path={exported['torchscript']}", f"out={out}", "max_frames=12", "episodes=5"]
    assert play_cli.main(args) == 0
    assert sum(_gif_frames(out)[1]) == 400  # 12 frames at 30 fps


def test_play_mp4_and_its_missing_extra(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = play(load_policy(run_dir), tmp_path / "a.mp4", episodes=10, max_frames=30, fps=30)
    assert result.frames == 30
    with imageio.get_reader(str(result.path)) as reader:
        assert reader.count_frames() == 30
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if it were not installed
    with pytest.raises(MissingExtraError, match=r"imageio-ffmpeg is not installed.*fsrl\[play\]"):
        play(load_policy(run_dir), tmp_path / "b.mp4", max_frames=3)


def test_play_a_version_from_redis_and_bad_envs(
    redis_url: str, namespace: str, run_dir: Path, tmp_path: Path
) -> None:
    source = load_agent(run_dir)
    tensors, meta = source.learner().export()
    tag = "play-test"
    with WeightStore(redis_url, namespace) as store:
        store.publish(tag, tensors, {**meta, "agent": source.agent.name, "env_id": source.env.id})
    out = tmp_path / "v.gif"
    args = [f"tag={tag}", f"redis_url={redis_url}", f"namespace={namespace}", f"out={out}"]
    assert play_cli.main([*args, "max_frames=8", "fps=20"]) == 0
    assert sum(_gif_frames(out)[1]) == 8 * 50
    ansi_only = EnvConfig(id="envs.games:fsrl/ConnectFour-v0")
    with pytest.raises(PlayError, match="ConnectFour-v0.*cannot render rgb_array"):
        play(load_policy(run_dir), tmp_path / "c.gif", env=ansi_only, max_frames=2)
    with pytest.raises(SystemExit, match="out='x.avi' is invalid"):
        play_cli.main([f"path={run_dir}", "out=x.avi"])
