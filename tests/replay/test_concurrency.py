"""Racing writer processes, one SIGKILLed mid-write, and a half-sent command: no torn or
partial chunk is ever visible."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import time
from collections import defaultdict

import numpy as np
from replay_testkit import racing_writer

from replay import ReplayClient, TableConfig, TransitionSpec
from replay.codec import decode_chunk, encode_chunk
from replay.embedded import EmbeddedRedis
from replay.rawpipe import resp_command
from replay.scripts import SHAS

CHUNK = 400
CHUNKS = 30


def _audit(client: ReplayClient, spec: TransitionSpec) -> dict[int, list[int]]:
    """Decode every stored chunk (header + body checksums) and check each row; returns
    writer -> sorted chunk numbers."""
    keys = client.keys.table("replay")
    by_writer: dict[int, list[int]] = defaultdict(list)
    rows = 0
    for key in client.redis.scan_iter(match=keys.chunk_prefix + "*", count=1000):
        header, prio, data = decode_chunk(client.redis.get(key), spec)  # raises if torn
        assert header.n == CHUNK
        writer = int(data["actor_id"][0])
        chunk_no = int(data["policy_version"][0])
        assert (data["actor_id"] == writer).all() and (data["policy_version"] == chunk_no).all()
        np.testing.assert_array_equal(data["action"], np.arange(CHUNK))
        assert (data["obs"] == (writer * 1000 + chunk_no) % 65536).all()
        assert (data["next_obs"] == data["obs"] + 1).all()
        np.testing.assert_array_equal(prio, 1.0 + writer)
        by_writer[writer].append(chunk_no)
        rows += header.n
    assert client.size("replay") == rows  # the counter agrees with what is stored
    return {w: sorted(c) for w, c in by_writer.items()}


def test_racing_writers_and_a_killed_one_leave_no_torn_chunks(
    redis_url: str, namespace: str
) -> None:
    spec = TransitionSpec.standard((128,), np.float32)  # ~1.1 KB records, ~440 KB chunks
    client = ReplayClient(redis_url, namespace=namespace)
    client.create_table(TableConfig("replay", capacity=1_000_000), spec)
    ctx = mp.get_context("fork")
    # Writers 0-2 write CHUNKS chunks each; writer 3 would write forever, so it is
    # surely in the middle of its stream of pipelined sends when it is killed.
    procs = [
        ctx.Process(
            target=racing_writer,
            args=(redis_url, namespace, w, CHUNK, CHUNKS if w < 3 else 10**6),
            daemon=True,
        )
        for w in range(4)
    ]
    for p in procs:
        p.start()
    victim = procs[3]
    deadline = time.monotonic() + 30
    # The others store at most 3 * CHUNKS chunks: beyond that the victim has stored
    # at least 5 of its own and is still sending.
    while client.size("replay") < (3 * CHUNKS + 5) * CHUNK and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(victim.pid, signal.SIGKILL)  # in the middle of its stream of pipelined sends
    for p in procs:
        p.join(60)
    assert victim.exitcode == -signal.SIGKILL
    assert [p.exitcode for p in procs[:3]] == [0, 0, 0]
    chunks = _audit(client, spec)
    for w in range(3):
        assert chunks[w] == list(range(1, CHUNKS + 1)), w  # every chunk exactly once
    killed = chunks.get(3, [])
    assert killed == list(range(1, len(killed) + 1))  # a clean prefix: no gap, no dup
    assert len(killed) >= 5
    # A sampler built from scratch serves only whole transitions.
    s = client.sampler("replay", prioritized=False, seed=0)
    assert s.indexed_size == client.size("replay")
    data = s.sample(2048, timeout_ms=2000).data
    np.testing.assert_array_equal(
        data["obs"][:, 0], (data["actor_id"] * 1000 + data["policy_version"]) % 65536
    )


def test_half_sent_insert_leaves_nothing_behind(
    redis_server: EmbeddedRedis, namespace: str
) -> None:
    spec = TransitionSpec.standard((128,), np.float32)
    client = ReplayClient(redis_server.url, namespace=namespace)
    client.create_table(TableConfig("replay", capacity=10_000), spec)
    keys = client.keys.table("replay")
    blob = encode_chunk(spec, np.zeros(CHUNK, dtype=spec.record_dtype), np.ones(CHUNK), b"h" * 8, 1)
    staged = keys.prefix + "stage:half"
    wire = b"".join(
        resp_command(*cmd)
        for cmd in (
            ("MULTI",),
            ("SET", staged, blob, "PX", 60_000),
            (
                "EVALSHA",
                SHAS["commit"],
                3,
                keys.meta,
                keys.state,
                keys.writers,
                keys.chunk_prefix,
                staged,
            ),
            ("EXEC",),
        )
    )
    cuts = (10, len(wire) // 2, len(wire) - len(b"*1\r\n$4\r\nEXEC\r\n"), len(wire) - 1)
    auth = resp_command("AUTH", redis_server.password) if redis_server.password else b""
    for cut in cuts:
        with socket.create_connection((redis_server.host, redis_server.port)) as sock:
            if auth:  # the embedded server has a password: log in, then die mid-command
                sock.sendall(auth)
                assert sock.recv(64).startswith(b"+OK")
            sock.sendall(wire[:cut])  # the writer "dies" here
        time.sleep(0.05)
    assert client.size("replay") == 0
    assert not list(client.redis.scan_iter(match=keys.prefix + "*c:*"))
    assert not list(client.redis.scan_iter(match=keys.prefix + "stage:*"))
    with socket.create_connection((redis_server.host, redis_server.port)) as sock:
        sock.sendall(auth + wire)  # the whole command: stored once
        deadline = time.monotonic() + 5
        got = b""
        while b"*2\r\n" not in got and time.monotonic() < deadline:
            got += sock.recv(1000)  # +OK, +QUEUED, +QUEUED, then EXEC's array
    assert client.size("replay") == CHUNK
