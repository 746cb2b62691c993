"""Issue 13's edge defects: hostile SET_POLICY headers, a future-stamped message, STALE recovery.

Each test drives a real edge server over loopback ZeroMQ with raw frames where the
host client would never send them, and checks the protocol's rules: an error reply
that names the problem (never INTERNAL), motors stopped, the running policy kept, and
the session still usable afterwards.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time

import numpy as np
import pytest

from envs.gopigo_bridge.client import EdgeClient
from robot_edge import protocol as P
from robot_edge.server import EdgeServer
from robot_edge.weights import encode_safetensors


def _good_policy() -> bytes:
    rng = np.random.default_rng(0)
    tensors = {
        "torso.0.weight": rng.normal(size=(8, 3)).astype(np.float32),
        "torso.0.bias": np.zeros(8, np.float32),
        "value.0.weight": rng.normal(size=(1, 8)).astype(np.float32),
        "value.0.bias": np.zeros(1, np.float32),
        "advantage.0.weight": rng.normal(size=(4, 8)).astype(np.float32),
        "advantage.0.bias": np.zeros(4, np.float32),
    }
    return encode_safetensors(tensors, {"arch": "mlp_dueling", "num_actions": "4"})


def _blob_with_header(header: bytes, data: bytes = b"") -> bytes:
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + data


def _send(client: EdgeClient, msg_type: int, body: bytes = b"", **kw: int) -> tuple:
    client.seq += 1
    frame = P.encode(msg_type, body, session=client.session, seq=client.seq, **kw)
    raw = client.request_raw(frame)
    assert raw is not None, "no reply"
    header, rbody = P.decode_header(raw)
    return header, P.error_text(rbody) if header.status else rbody


NESTED = b'{"a":' * 5000 + b"1" + b"}" * 5000
HUGE_SHAPE = json.dumps(
    {"w": {"dtype": "F32", "shape": [2**62, 2**62, 4], "data_offsets": [0, 0]}}
).encode()
NEG_SHAPE = json.dumps({"w": {"dtype": "F32", "shape": [-1, -4], "data_offsets": [0, 16]}}).encode()
BOOL_SHAPE = json.dumps(
    {"w": {"dtype": "F32", "shape": [True, 1e400], "data_offsets": [0, 4]}}
).encode()


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (NESTED, "nests"),
        (b"[" * 100_000 + b"]" * 100_000, "nests"),
        (HUGE_SHAPE, "shape"),
        (NEG_SHAPE, "shape"),
        (BOOL_SHAPE, "shape"),
    ],
    ids=["nested-objects", "nested-lists", "overflowing-shape", "negative-shape", "bool-shape"],
)
def test_hostile_policy_headers_get_a_named_refusal(
    server: EdgeServer, client: EdgeClient, header: bytes, why: str
) -> None:
    assert client.set_policy(5, _good_policy()) == 5
    q_before = server.policy.q_values(np.ones(3, np.float32)).copy()  # type: ignore[union-attr]
    client.reset(seed=0)
    assert client.step(200.0, 200.0, 10.0).motors_running
    blob = _blob_with_header(header, b"\0" * 16)
    body = P.SET_POLICY_HEAD.pack(6, hashlib.sha256(blob).digest()) + blob
    reply, text = _send(client, P.MsgType.SET_POLICY, body)
    assert reply.status == P.Status.REFUSED, text
    assert why in text and "keeping version 5" in text
    assert "Traceback" not in text and "internal" not in text
    assert not server.motors_running()
    assert server.counters.last_stop_reason == P.StopReason.BAD_MESSAGE
    assert server.counters.internal_errors == 0
    assert client.status().policy_version == 5
    np.testing.assert_array_equal(server.policy.q_values(np.ones(3, np.float32)), q_before)  # type: ignore[union-attr]


def test_a_future_stamp_is_refused_without_locking_the_session(
    server: EdgeServer, client: EdgeClient
) -> None:
    client.reset(seed=0)
    executed = server.counters.commands_executed
    hour_ahead = time.time_ns() + 3600 * 10**9
    step = P.STEP_REQ.pack(300.0, 300.0, 10.0)
    reply, text = _send(client, P.MsgType.STEP, step, timestamp_ns=hour_ahead)
    assert reply.status == P.Status.STALE and "future" in text, text
    assert server.counters.commands_executed == executed
    assert not server.motors_running()
    # the same session, no new HELLO: fresh commands are accepted again
    for _ in range(3):
        reply, body = _send(client, P.MsgType.STEP, step)
        assert reply.status == P.Status.OK, body
        assert P.SensorReading.unpack(body).motors_running
    assert server.counters.commands_executed == executed + 3


def test_the_host_rehandshakes_on_stale_and_carries_on(
    server: EdgeServer, client: EdgeClient
) -> None:
    client.reset(seed=0)
    # The session's clock offset was taken from a HELLO stamped an hour ahead (the host's
    # clock was stepped back by NTP since): every honest command now looks an hour old.
    reply, _ = _send(client, P.MsgType.HELLO, timestamp_ns=time.time_ns() + 3600 * 10**9)
    assert reply.status == P.Status.OK
    reply, text = _send(client, P.MsgType.STEP, P.STEP_REQ.pack(1.0, 1.0, 1.0))
    assert reply.status == P.Status.STALE, text
    info = client.info
    reading = client.step(200.0, 200.0, 10.0)  # STALE -> HELLO -> the command once more
    assert reading.motors_running
    assert client.info is not info  # a new handshake happened
    info = client.info
    assert client.step(200.0, 200.0, 10.0).motors_running
    assert client.info is info  # and only when needed


def test_a_late_hello_is_still_corrected_by_the_next_command(
    server: EdgeServer, client: EdgeClient
) -> None:
    # A HELLO delivered 2 s late makes the first offset estimate 2 s too high: the next
    # command looks "2 s in the future" and must correct the estimate, not be refused
    # (raw frames: no client-side re-handshake hides a refusal here).
    reply, _ = _send(client, P.MsgType.HELLO, timestamp_ns=time.time_ns() - 2 * 10**9)
    assert reply.status == P.Status.OK
    for _ in range(3):
        reply, body = _send(client, P.MsgType.STEP, P.STEP_REQ.pack(100.0, 100.0, 10.0))
        assert reply.status == P.Status.OK, body
    # once the session has its estimate, a stamp far ahead is refused again
    reply, text = _send(
        client, P.MsgType.STEP, P.STEP_REQ.pack(1.0, 1.0, 1.0), timestamp_ns=time.time_ns() + 10**9
    )
    assert reply.status == P.Status.STALE and "future" in text, text
