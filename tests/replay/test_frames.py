"""Stacked frames stored once per record (replay/frames.py): the table's records are
smaller, and what the learner samples back equals what the env returned — checked on
real Pong frames through a real Redis table, the actors' n-step folder and the writer."""

from __future__ import annotations

import numpy as np
import pytest

import conf
from actors.envs import VectorStepper, make_vector_env
from actors.nstep import NStepFolder
from actors.spec import build_agent, frame_layout, table_spec
from replay import ReplayClient, TableConfig, TransitionSpec
from replay.frames import NEXT_FRAMES, FrameStackLayout

pytest.importorskip("ale_py")

FRAME = (6, 5)


def stacks(rng: np.random.Generator, rows: int, k: int, n: int) -> dict[str, np.ndarray]:
    """Rows of a frame stream: obs = frames[t:t+k], next_obs = frames[t+m:t+m+k]."""
    m = rng.integers(1, n + 1, rows)
    frames = rng.integers(0, 255, (rows, k + n, *FRAME), dtype=np.uint8)
    obs = frames[:, :k]
    nxt = np.stack([frames[i, m[i] : m[i] + k] for i in range(rows)])
    return {"obs": obs, "next_obs": nxt, "n_steps": m.astype(np.uint8)}


@pytest.mark.parametrize(("k", "n"), [(4, 3), (4, 1), (4, 4), (2, 5)])
def test_pack_then_unpack_gives_back_next_obs(k: int, n: int) -> None:
    layout = FrameStackLayout(k, n, FRAME, "|u1")
    batch = stacks(np.random.default_rng(k * 10 + n), 64, k, n)
    packed = layout.pack(batch)
    assert "next_obs" not in packed
    assert packed[NEXT_FRAMES].shape == (64, min(n, k), *FRAME)
    back = layout.unpack(packed)
    np.testing.assert_array_equal(back["next_obs"], batch["next_obs"])
    np.testing.assert_array_equal(back["obs"], batch["obs"])


def test_pack_refuses_next_obs_that_does_not_continue_obs() -> None:
    layout = FrameStackLayout(4, 3, FRAME, "|u1")
    batch = stacks(np.random.default_rng(0), 8, 4, 3)
    batch["next_obs"][5, 0] += 1  # a frame that is not the obs's
    with pytest.raises(ValueError, match="row 5"):
        layout.pack(batch)


def test_layout_applies_only_to_frame_stacks() -> None:
    box = TransitionSpec.standard((4, 84, 84), np.uint8)
    assert FrameStackLayout.for_spec(box, 0, 3) is None
    assert FrameStackLayout.for_spec(box, 3, 3) is None  # obs is not a stack of 3
    layout = FrameStackLayout.for_spec(box, 4, 3)
    assert layout is not None
    stored = layout.spec(box)
    assert stored[NEXT_FRAMES].shape == (3, 84, 84) and "next_obs" not in stored.names
    assert stored.record_size < box.record_size


def test_atari_records_shrink_and_sampled_stacks_equal_the_envs(
    redis_url: str, namespace: str
) -> None:
    cfg = conf.load_config(["experiment=atari", "env.id=ALE/Pong-v5", "env.max_episode_steps=100"])
    agent = build_agent(cfg)
    layout = frame_layout(agent, cfg.env)
    assert layout is not None and layout.new_frames == cfg.algo.n_step == 3
    standard, stored = agent.transition_spec(), table_spec(agent, cfg.env)
    # 8 frames of 84x84 per record without the layout, 4 + 3 with it
    assert standard.record_size - stored.record_size == 84 * 84
    assert stored.record_size == 49_432 and standard.record_size == 56_488

    num_envs, steps = 2, 260
    env = make_vector_env(cfg.env, num_envs, seed=7)
    stepper = VectorStepper(env, seed=7)
    folder = NStepFolder(num_envs, agent.n_step, agent.gamma)
    rng = np.random.default_rng(7)
    obs = stepper.reset()
    truth: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}
    client = ReplayClient(redis_url, namespace=namespace)
    client.create_table(TableConfig("replay", capacity=2_000), stored)
    client.create_table(TableConfig("plain", capacity=2_000), standard)
    try:
        with (
            client.writer("replay", chunk_size=cfg.replay.chunk_size) as writer,
            client.writer("plain", chunk_size=64) as plain,
        ):
            for t in range(steps):
                ids = t * num_envs + np.arange(num_envs)  # each transition's own id
                step = stepper.step(rng.integers(0, 6, num_envs))
                out = folder.step(
                    obs, rng.integers(0, 6, num_envs), step.reward, step.terminated,
                    step.truncated, step.next_obs, extras={"policy_version": ids},
                )  # fmt: skip
                obs = step.obs
                if not len(out["reward"]):
                    continue
                out.pop("env_index", None)
                out["actor_id"] = np.zeros(len(out["reward"]), np.int32)
                for i, pv in enumerate(out["policy_version"]):
                    truth[int(pv)] = (out["obs"][i], out["next_obs"][i], int(out["n_steps"][i]))
                writer.append(layout.pack(out))
                plain.append(out)
        stepper.close()
        assert client.size("replay") == client.size("plain") == len(truth) > 400
        assert any(m < 3 for _, _, m in truth.values())  # episodes ended inside windows
        sampler = client.sampler("replay", prioritized=False, seed=3)
        seen: set[int] = set()
        for _ in range(8):
            data = layout.unpack(sampler.sample(64, timeout_ms=2_000).data)
            for i, pv in enumerate(data["policy_version"]):
                want_obs, want_next, m = truth[int(pv)]
                np.testing.assert_array_equal(data["obs"][i], want_obs)
                np.testing.assert_array_equal(data["next_obs"][i], want_next)
                assert int(data["n_steps"][i]) == m
                seen.add(int(pv))
        assert len(seen) > 200
        # the stacks really move: obs and next_obs differ
        assert any(not np.array_equal(truth[p][0], truth[p][1]) for p in seen)
        # Redis memory of the same transitions, stored once per record (the preset's chunk
        # size, which fits jemalloc's size classes) vs as they come (the default chunk size)
        packed_b, plain_b = (_redis_bytes(client, t) / len(truth) for t in ("replay", "plain"))
        assert packed_b < 0.9 * plain_b, (packed_b, plain_b)
    finally:
        client.close()


def _redis_bytes(client: ReplayClient, table: str) -> int:
    """Bytes Redis reports for the table's chunk keys (MEMORY USAGE: allocator rounding in)."""
    match = client.table_keys(table).chunk_prefix + "*"
    keys = list(client.redis.scan_iter(match=match))
    assert keys
    return sum(int(client.redis.memory_usage(k)) for k in keys)
