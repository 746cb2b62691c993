"""The sampler process against a real Redis, and the frames it speaks."""

from __future__ import annotations

import os
import signal
import socket
import time

import numpy as np
import pytest

from replay import ReplayClient, ReplayError, TableConfig, TransitionSpec
from replay import sampler_wire as wire
from replay.sampler_process import SamplerProcess, interleaved_parts

N = 4096


def _fill(client: ReplayClient, n: int = N) -> TransitionSpec:
    """A table whose transition i has obs[0] == i (its age), all priorities 1."""
    spec = TransitionSpec.standard((4,), np.float32)
    client.create_table(TableConfig("replay", capacity=10_000), spec)
    with client.writer("replay", chunk_size=64) as w:
        batch = spec.empty_batch(n)
        batch["obs"][:] = np.arange(n)[:, None]
        batch["action"][:] = np.arange(n) % 2
        w.append(batch, np.ones(n))
        w.flush(timeout_ms=2000)
    return spec


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): read its state
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _kill_until_restarted(proc: SamplerProcess, pause_s: float = 0.0) -> int:
    """SIGKILL the child, read on (batches it sent before dying) until the learner side
    has started a new one; returns the dead child's pid."""
    pid, restarts = proc.pid, proc.restarts
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    time.sleep(pause_s)
    deadline = time.monotonic() + 30
    while proc.restarts == restarts and time.monotonic() < deadline:
        proc.get(timeout_s=1.0)
    assert proc.restarts == restarts + 1, proc.last_error
    return pid


# ---------------------------------------------------------------------- frames


def test_batch_and_priority_frames_round_trip_through_a_byte_by_byte_stream() -> None:
    spec = TransitionSpec.standard((4,), np.float32)
    records = np.zeros(5, dtype=spec.record_dtype)
    records["obs"] = np.arange(20, dtype=np.float32).reshape(5, 4)
    records["reward"] = [1, 2, 3, 4, 5]
    ids = np.array([7, 1 << 40, 3, 0, 9], dtype=np.int64)
    weights = np.linspace(0.1, 1.0, 5, dtype=np.float32)
    stream = wire.batch_frame(ids, weights, records) + wire.priorities_frame(
        ids[:2], np.array([0.5, 2.5]), credit=3
    )
    buf = wire.FrameBuffer()
    frames = []
    for b in stream:  # one byte at a time: frames appear only when whole
        buf.feed(bytes([b]))
        f = buf.next()
        if f is not None:
            frames.append(f)
    assert [f.kind for f in frames] == [wire.K_BATCH, wire.K_PRIORITIES]
    got_ids, got_w, got_rec = wire.decode_batch(frames[0], spec.record_dtype)
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(got_w, weights)
    np.testing.assert_array_equal(got_rec["obs"], records["obs"])
    np.testing.assert_array_equal(got_rec["reward"], records["reward"])
    p_ids, prio = wire.decode_priorities(frames[1])
    assert frames[1].credit == 3
    np.testing.assert_array_equal(p_ids, ids[:2])
    np.testing.assert_array_equal(prio, [0.5, 2.5])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:4] + b"XX" + b[6:], "magic"),
        (lambda b: b[:6] + bytes([9]) + b[7:], "version 9"),
        (lambda b: b[:7] + bytes([99]) + b[8:], "kind 99"),
        (lambda b: (3).to_bytes(4, "little") + b[4:], "length 3"),
    ],
)
def test_a_malformed_frame_is_refused_naming_the_bad_field(mutate, message) -> None:
    buf = wire.FrameBuffer()
    buf.feed(mutate(wire.frame(wire.K_CREDIT, credit=1)))
    with pytest.raises(wire.WireError, match=message):
        buf.next()


def test_a_batch_body_of_the_wrong_size_is_refused() -> None:
    spec = TransitionSpec.standard((4,), np.float32)
    good = wire.batch_frame(
        np.zeros(2, np.int64), np.ones(2, np.float32), np.zeros(2, spec.record_dtype)
    )
    buf = wire.FrameBuffer()
    buf.feed(good[:4] + good[4:])
    f = buf.next()
    assert f is not None
    other = TransitionSpec.standard((5,), np.float32)  # records of another size
    with pytest.raises(wire.WireError, match="2 rows"):
        wire.decode_batch(f, other.record_dtype)


def test_interleaved_parts_cover_every_draw_once() -> None:
    parts = interleaved_parts(12, 4)
    taken = np.concatenate([np.arange(12)[p] for p in parts])
    assert sorted(taken.tolist()) == list(range(12))
    assert np.arange(12)[parts[1]].tolist() == [1, 5, 9]


# ---------------------------------------------------------------------- the process


def test_batches_span_the_replay_and_priorities_steer_later_draws(
    redis_url: str, namespace: str
) -> None:
    client = ReplayClient(redis_url, namespace=namespace)
    _fill(client)
    proc = SamplerProcess(client, "replay", batch_size=64, depth=8, sampler_kwargs={}, seed=0)
    proc.start()
    try:
        first = [proc.get(timeout_s=20.0) for _ in range(proc.group)]
        for sb in first:
            assert sb is not None and len(sb) == 64
            age = sb.data["obs"][:, 0]
            quarters = np.bincount((age * 4 // N).astype(np.int64), minlength=4)
            assert quarters.min() >= 8, quarters  # every age band in every batch
            assert sb.weights.min() > 0 and sb.weights.max() <= 1.0
            proc.update_priorities(sb.ids, np.full(64, 1e-4))
        # One transition now outweighs all the others together (1e9 ** 0.6 = 2.5e5).
        hot_id, hot_age = first[0].ids[0], first[0].data["obs"][0, 0]
        proc.update_priorities(np.array([hot_id]), np.array([1e9]))
        counts = []
        for _ in range(3 * proc.group):
            sb = proc.get(timeout_s=20.0)
            assert sb is not None
            counts.append(int((sb.data["obs"][:, 0] == hot_age).sum()))
            proc.update_priorities(sb.ids[:0], np.zeros(0))
        # batches drawn after the update reached the child are mostly that transition
        assert min(counts[-proc.group :]) > 48, counts
    finally:
        proc.stop()
        client.close()
    assert proc.pid is None


def test_a_killed_sampler_process_is_started_again(redis_url: str, namespace: str) -> None:
    client = ReplayClient(redis_url, namespace=namespace)
    _fill(client)
    proc = SamplerProcess(client, "replay", batch_size=32, depth=4, sampler_kwargs={}, seed=1)
    proc.start()
    try:
        assert proc.get(timeout_s=20.0) is not None
        pid = _kill_until_restarted(proc)
        got = proc.get(timeout_s=20.0)
        assert got is not None and len(got) == 32  # the new child serves
        assert proc.restarts == 1 and proc.pid != pid
        assert "exit code -9" in (proc.last_error or "")
        assert not _alive(pid)
    finally:
        proc.stop()
        client.close()


def test_the_process_gives_up_after_max_restarts_within_the_window(
    redis_url: str, namespace: str
) -> None:
    client = ReplayClient(redis_url, namespace=namespace)
    _fill(client, 256)
    proc = SamplerProcess(
        client,
        "replay",
        batch_size=8,
        depth=2,
        sampler_kwargs={},
        seed=0,
        max_restarts=2,
        restart_window_s=600.0,
    )
    proc.start()

    try:
        assert proc.get(timeout_s=20.0) is not None
        for _ in range(2):
            _kill_until_restarted(proc)
            assert proc.get(timeout_s=20.0) is not None  # the new child serves
        with pytest.raises(ReplayError, match="gave up after 2 restarts within 600 s"):
            for _ in range(100):
                pid = proc.pid
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                proc.get(timeout_s=2.0)
    finally:
        proc.stop()
        client.close()


def test_restarts_older_than_the_window_do_not_count(redis_url: str, namespace: str) -> None:
    client = ReplayClient(redis_url, namespace=namespace)
    _fill(client, 256)
    proc = SamplerProcess(
        client,
        "replay",
        batch_size=8,
        depth=2,
        sampler_kwargs={},
        seed=0,
        max_restarts=1,
        restart_window_s=0.5,
    )
    proc.start()
    try:
        for _ in range(3):  # three deaths, each alone in its window: each is restarted
            assert proc.get(timeout_s=20.0) is not None
            _kill_until_restarted(proc, pause_s=0.6)
        assert proc.restarts == 3
    finally:
        proc.stop()
        client.close()


def test_the_child_exits_when_the_learner_side_closes_its_socket(
    redis_url: str, namespace: str
) -> None:
    """A learner that dies without stop() must not leave its sampler running."""
    client = ReplayClient(redis_url, namespace=namespace)
    _fill(client, 512)
    proc = SamplerProcess(client, "replay", batch_size=16, depth=4, sampler_kwargs={}, seed=0)
    proc.start()
    try:
        assert proc.get(timeout_s=20.0) is not None
        pid = proc.pid
        child = proc._proc
        assert pid is not None and child is not None
        sock = proc._sock
        assert isinstance(sock, socket.socket)
        sock.close()  # as if this process had died
        child.wait(timeout=10)
        assert child.returncode == 0
    finally:
        proc._sock = None
        proc.stop()
        client.close()


def test_bad_priorities_are_reported_and_sampling_goes_on(redis_url: str, namespace: str) -> None:
    client = ReplayClient(redis_url, namespace=namespace)
    _fill(client, 512)
    proc = SamplerProcess(client, "replay", batch_size=16, depth=2, sampler_kwargs={}, seed=0)
    proc.start()
    try:
        sb = proc.get(timeout_s=20.0)
        assert sb is not None
        proc.update_priorities(sb.ids, np.full(16, -1.0))  # negative: refused by the child
        seen = []
        for _ in range(10):
            got = proc.get(timeout_s=5.0)
            assert got is not None
            seen.append(got)
            proc.update_priorities(got.ids, np.ones(16))
            if proc.errors:
                break
        assert proc.errors >= 1
        assert "priority update refused" in (proc.last_error or "")
        assert "-1.0" in (proc.last_error or "")
    finally:
        proc.stop()
        client.close()


def test_a_sampler_started_from_a_thread_outlives_that_thread(
    redis_url: str, namespace: str
) -> None:
    """The launcher starts the sampler from a set-up thread that then ends; the child
    must stay up (a parent-death signal tied to that thread killed it)."""
    import threading

    client = ReplayClient(redis_url, namespace=namespace)
    _fill(client, 512)
    proc = SamplerProcess(client, "replay", batch_size=16, depth=4, sampler_kwargs={}, seed=0)

    def start_then_end() -> None:
        proc.start()
        time.sleep(1.5)  # the child is up and settled before this thread ends

    starter = threading.Thread(target=start_then_end)
    starter.start()
    starter.join()
    try:  # the first batch may take a while on a loaded machine (child start-up, imports)
        first = proc.get(timeout_s=60.0)
        assert first is not None, proc.last_error
        proc.update_priorities(first.ids, np.ones(16))
        deadline = time.monotonic() + 3.0
        got = 0
        while time.monotonic() < deadline:
            sb = proc.get(timeout_s=1.0)
            assert sb is not None
            proc.update_priorities(sb.ids, np.ones(16))
            got += 1
        assert got > 10
        assert proc.restarts == 0, proc.last_error
    finally:
        proc.stop()
        client.close()
