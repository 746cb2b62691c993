"""``fsrl play`` / ``python -m learner.play``: watch a policy, as a GIF or an MP4.

::

    fsrl play path=runs/2026-12-01/00-36-55 out=cartpole.gif episodes=2
    fsrl play path=exports/pendulum.onnx out=pendulum.mp4 max_frames=400 fps=30
    fsrl play tag=CartPole-v1-mlp_dueling version=champion redis_url=redis://host:6379/0

The policy is anything :func:`learner.policy_io.load_policy` reads (a run dir, checkpoint,
weights file, ``.onnx``, ``.pt``) or a stored version of ``tag``; it plays greedily on the
env it was trained on (or ``env_id=...``), made with ``render_mode="rgb_array"``. Episode
``i`` resets with seed ``seed + i``; every reset and every step adds one frame, until
``episodes`` episodes are over or ``max_frames`` frames are written.

GIF frames are written by Pillow (a dependency: matplotlib's too), each quantised to its own
256-colour palette as it arrives (1 byte a pixel held until the file is written); Pillow
folds a frame identical to the one before into that frame's duration, so a GIF may hold fewer
images than frames rendered, never a shorter clip. MP4 streams frames to ffmpeg through
imageio (the ``play`` extra: ``pip install 'fsrl[play]'``), H.264, nothing held.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig
from PIL import Image

from actors.envs import make_single_env
from conf.sections import EnvConfig
from conf.tools import PlayConfig, check_play, to_tool_config
from learner.policy_io import Policy, policy_of
from learner.preflight import prog_name, run_tool_app
from telemetry.ship import MissingExtraError, require

logger = logging.getLogger(__name__)


class PlayError(ValueError):
    """The env cannot be rendered, or the video cannot be written (the message says which)."""


@dataclass
class PlayResult:
    """What :func:`play` wrote: the file, frames rendered, and each finished episode's return.

    ``repeats`` counts frames identical to the one before (a GIF folds each into the previous
    image's duration: it holds ``frames - repeats`` images lasting ``frames / fps`` seconds)."""

    path: Path
    frames: int
    returns: list[float] = field(default_factory=list)
    steps: int = 0
    repeats: int = 0


def gif_durations_ms(frames: int, fps: int) -> list[int]:
    """Per-frame GIF durations at ``fps``: GIF counts in 1/100 s, so each frame gets 10 ms
    steps that keep frame ``i`` starting at ``i / fps`` (to 10 ms; 30 fps: 30, 40, 30 ms ...)."""
    ends = [round((i + 1) * 100 / fps) * 10 for i in range(frames)]
    return [b - a for a, b in zip([0, *ends[:-1]], ends, strict=True)]


class GifWriter:
    """Frames to an animated GIF (Pillow), written on :meth:`close`."""

    def __init__(self, path: Path, fps: int) -> None:
        self.path, self.fps = path, fps
        self.images: list[Any] = []

    def add(self, frame: np.ndarray) -> None:
        self.images.append(Image.fromarray(frame).quantize(colors=256))

    def close(self) -> None:
        if not self.images:
            raise PlayError("no frames to write")
        first, *rest = self.images
        durations = gif_durations_ms(len(self.images), self.fps)
        first.save(self.path, save_all=True, append_images=rest, duration=durations, loop=0)


class Mp4Writer:
    """Frames streamed to an H.264 MP4 through imageio's ffmpeg plugin (the ``play`` extra)."""

    def __init__(self, path: Path, fps: int) -> None:
        imageio = require("imageio.v2", "imageio", "play")
        require("imageio_ffmpeg", "imageio-ffmpeg", "play")
        # macro_block_size=2: H.264's yuv420p needs even sides; odd ones are padded by resizing.
        self.writer = imageio.get_writer(
            str(path), format="FFMPEG", mode="I", fps=fps, codec="libx264", macro_block_size=2
        )

    def add(self, frame: np.ndarray) -> None:
        self.writer.append_data(frame)

    def close(self) -> None:
        self.writer.close()


def make_render_env(env_cfg: EnvConfig) -> Any:
    """The env with ``render_mode="rgb_array"``; :class:`PlayError` naming the id otherwise."""
    # Off-screen frames need no display: SDL's dummy video driver (unless one is chosen)
    # keeps pygame-drawn envs from probing for one (and printing errors where there is none).
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    try:
        with warnings.catch_warnings():  # gymnasium's "not in render_modes": checked below
            warnings.simplefilter("ignore", UserWarning)
            env = make_single_env(env_cfg, render_mode="rgb_array")
    except ValueError as exc:
        raise PlayError(f"env.id={env_cfg.id!r} cannot render rgb_array frames: {exc}") from exc
    except ImportError as exc:  # gymnasium's DependencyNotInstalled (pygame) is one
        raise PlayError(
            f"env.id={env_cfg.id!r} needs a package to render: {exc} (pip install 'fsrl[play]')"
        ) from exc
    if env.render_mode != "rgb_array":
        modes = env.metadata.get("render_modes", [])
        env.close()
        raise PlayError(
            f"env.id={env_cfg.id!r} cannot render rgb_array frames (its modes: {modes})"
        )
    return env


def _frame(env: Any, env_id: str) -> np.ndarray:
    frame = np.asarray(env.render())
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8:
        raise PlayError(
            f"env.id={env_id!r} rendered {frame.dtype} {frame.shape}, not an RGB image [H, W, 3]"
        )
    return np.ascontiguousarray(frame[:, :, :3])


def play(
    policy: Policy,
    out: str | Path,
    env: EnvConfig | None = None,
    episodes: int = 1,
    max_frames: int = 500,
    fps: int = 30,
    seed: int = 0,
) -> PlayResult:
    """Play ``policy`` greedily on ``env`` (default: the env it was trained on) and write the
    frames to ``out`` (``.gif`` or ``.mp4``); see the module docstring."""
    env_cfg = env or policy.env
    if env_cfg is None:
        raise PlayError(f"{policy.source} does not say its env: pass env_id=ID")
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise PlayError(f"out={str(out)!r}: write a .gif or an .mp4")
    if episodes < 1 or max_frames < 1 or fps < 1:
        raise PlayError(f"episodes={episodes}, max_frames={max_frames}, fps={fps}: each >= 1")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer: GifWriter | Mp4Writer = (
        GifWriter(path, fps) if suffix == ".gif" else Mp4Writer(path, fps)
    )
    result = PlayResult(path, 0)
    game = make_render_env(env_cfg)
    previous: np.ndarray | None = None

    def add() -> None:
        nonlocal previous
        frame = _frame(game, env_cfg.id)
        result.repeats += int(previous is not None and np.array_equal(frame, previous))
        writer.add(frame)
        result.frames += 1
        previous = frame

    try:
        for episode in range(episodes):
            if result.frames >= max_frames:
                break
            obs, _ = game.reset(seed=seed + episode)
            add()
            total, done = 0.0, False
            while not done and result.frames < max_frames:
                obs, reward, terminated, truncated, _ = game.step(policy(obs))
                total += float(reward)
                done = bool(terminated or truncated)
                add()
                result.steps += 1
            if done:
                result.returns.append(total)
    finally:
        game.close()
        writer.close()
    logger.debug("wrote %s: %d frames, returns %s", path, result.frames, result.returns)
    return result


@hydra.main(config_path="pkg://conf", config_name="play", version_base="1.3")
def app(dcfg: DictConfig) -> None:
    """The Hydra task: check the fields, load the policy, play and write the video."""
    prog = prog_name("learner.play", "play")
    try:
        cfg: PlayConfig = to_tool_config(dcfg)
        check_play(cfg)
        policy = policy_of(cfg)
        result = play(policy, cfg.out, None, cfg.episodes, cfg.max_frames, cfg.fps, cfg.seed)
    except (ValueError, RuntimeError, MissingExtraError) as exc:
        raise SystemExit(f"{prog}: error: {exc}") from None
    returns = ", ".join(f"{r:g}" for r in result.returns) or "none finished"
    print(f"wrote {result.path}: {result.frames} frames; episode returns: {returns}")


def main(argv: list[str] | None = None) -> int:
    """``python -m learner.play KEY=VALUE...`` (or ``main([...])``): the Hydra app."""
    return run_tool_app(app, argv, "learner.play", "play", check_play)


__all__ = [
    "gif_durations_ms",
    "GifWriter",
    "Mp4Writer",
    "PlayError",
    "PlayResult",
    "main",
    "make_render_env",
    "play",
]


if __name__ == "__main__":
    sys.exit(main())
