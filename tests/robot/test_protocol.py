"""The wire protocol: layouts round-trip, and every message type works over real sockets."""

from __future__ import annotations

import time

import numpy as np
import pytest

from envs.gopigo_bridge.client import EdgeClient, EdgeReplyError
from robot_edge import protocol as P
from robot_edge.server import EdgeServer


def test_header_round_trip_carries_version_type_seq_and_timestamp() -> None:
    frame = P.encode(P.MsgType.STEP, b"abc", session=7, seq=42, timestamp_ns=123456789)
    header, body = P.decode_header(frame)
    assert len(frame) == P.HEADER_SIZE + 3 == 35
    assert (header.version, header.msg_type, header.session, header.seq) == (
        P.PROTOCOL_VERSION,
        P.MsgType.STEP,
        7,
        42,
    )
    assert header.timestamp_ns == 123456789 and bytes(body) == b"abc"


@pytest.mark.parametrize(
    ("frame", "status"),
    [
        (b"", P.Status.MALFORMED),
        (b"XXXX" + bytes(28), P.Status.MALFORMED),
        (P.encode(1, b"", version=P.PROTOCOL_VERSION + 1), P.Status.BAD_VERSION),
        (P.encode(1, b"abc")[:-1], P.Status.MALFORMED),
    ],
)
def test_bad_headers_are_named(frame: bytes, status: P.Status) -> None:
    with pytest.raises(P.ProtocolError) as err:
        P.decode_header(frame)
    assert err.value.status == status


def test_bodies_round_trip() -> None:
    reading = P.SensorReading(5, -3, 7, 100.0, -100.0, 250.0, 10.0, 9.5, 100.0, True, False, 3)
    assert P.SensorReading.unpack(memoryview(reading.pack())) == reading
    info = P.RobotInfo("sim", 66.5, 117.0, 1000.0, 2300.0, 100.0, 250.0, 300, 250, 4)
    assert P.RobotInfo.unpack(memoryview(info.pack())) == info
    status = P.EdgeStatus(True, 2, 10, 1, 3, 4, 1000, 9.5, 1, 305.0, 0)
    assert P.EdgeStatus.unpack(memoryview(status.pack())) == status
    recs = [
        {
            "policy_version": 3,
            "episode_return": 1.5,
            "episode_length": 10,
            "distance_m": 0.5,
            "ended_by": 1,
            "robot_time_ns": 99,
        }
    ]
    arr = P.unpack_episodes(memoryview(P.pack_episodes(recs)))
    assert arr["policy_version"][0] == 3 and arr["episode_length"][0] == 10


def test_round_trip_over_loopback(server: EdgeServer, client: EdgeClient) -> None:
    info = client.info
    assert info is not None and info.backend == "sim" and info.watchdog_ms == 300
    first = client.reset(seed=3)
    assert first.left_encoder_deg == 0 and not first.motors_running
    moved = client.step(300.0, 300.0, 100.0)
    assert moved.motors_running and moved.elapsed_ms == pytest.approx(100.0)
    assert moved.left_encoder_deg == 30 and moved.right_encoder_deg == 30  # 300 dps x 0.1 s
    assert (first.step_index, moved.step_index) == (0, 1)
    assert moved.distance_mm != first.distance_mm or moved.bumped
    sensed = client.sense()
    assert sensed.left_encoder_deg == 30
    client.stop()
    assert not server.motors_running()
    status = client.status()
    assert status.commands_executed == 2 and status.errors == 0 and not status.motors_running
    assert client.metrics().shape == (0,)
    # the same seed puts the robot at the same place
    again = client.reset(seed=3)
    assert again.distance_mm == pytest.approx(first.distance_mm, abs=30.0)


def test_reply_echoes_session_seq_and_is_versioned(server: EdgeServer) -> None:
    with EdgeClient(server.endpoint, timeout_ms=2000) as c:
        frame = P.encode(P.MsgType.STATUS, session=c.session, seq=c.seq + 1)
        raw = c.request_raw(frame)
        assert raw is not None
        header, _ = P.decode_header(raw)
        assert header.version == P.PROTOCOL_VERSION
        assert header.msg_type == P.MsgType.STATUS | P.REPLY_BIT
        assert (header.session, header.seq, header.status) == (c.session, c.seq + 1, P.Status.OK)
        assert abs(header.timestamp_ns - time.time_ns()) < 5e9


def test_out_of_order_message_is_refused_and_stops(server: EdgeServer, client: EdgeClient) -> None:
    client.reset(seed=0)
    client.step(200.0, 200.0, 50.0)
    assert server.motors_running()
    replay = P.encode(
        P.MsgType.STEP, P.STEP_REQ.pack(200, 200, 50), session=client.session, seq=client.seq
    )  # a sequence number already used
    raw = client.request_raw(replay)
    assert raw is not None
    header, body = P.decode_header(raw)
    assert header.status == P.Status.OUT_OF_ORDER and b"seq" in bytes(body)
    assert not server.motors_running()


def test_unknown_session_must_say_hello(server: EdgeServer, client: EdgeClient) -> None:
    raw = client.request_raw(
        P.encode(P.MsgType.STEP, P.STEP_REQ.pack(1, 1, 1), session=12345, seq=1)
    )
    assert raw is not None
    assert P.decode_header(raw)[0].status == P.Status.NO_SESSION


def test_bad_values_name_the_field(client: EdgeClient) -> None:
    with pytest.raises(EdgeReplyError, match="left_dps=nan"):
        client.step(float("nan"), 0.0, 100.0)
    with pytest.raises(EdgeReplyError, match="duration_ms"):
        client.step(0.0, 0.0, -5.0)


def test_episode_dtype_is_fixed_layout() -> None:
    assert P.EPISODE_DTYPE.itemsize == 8 + 4 + 4 + 4 + 1 + 8
    assert np.zeros(2, P.EPISODE_DTYPE).tobytes() == bytes(2 * P.EPISODE_DTYPE.itemsize)


def test_oversize_messages_are_refused_or_dropped_without_a_crash(
    server: EdgeServer, client: EdgeClient
) -> None:
    client.reset(seed=0)
    client.step(100.0, -100.0, 10.0)
    body = P.STEP_REQ.pack(1, 1, 1) + bytes(P.MAX_CONTROL_BODY)
    raw = client.request_raw(
        P.encode(P.MsgType.STEP, body, session=client.session, seq=client.seq + 1)
    )
    assert raw is not None and P.decode_header(raw)[0].status == P.Status.OVERSIZE
    assert not server.motors_running()
    client.seq += 1
    client.step(100.0, -100.0, 10.0)
    # beyond zmq.MAXMSGSIZE libzmq drops the peer: no reply, motors stopped on the disconnect
    huge = P.encode(
        P.MsgType.SET_POLICY,
        bytes(P.MAX_POLICY_BODY + 1024),
        session=client.session,
        seq=client.seq + 1,
    )
    assert client.request_raw(huge, timeout_ms=1500) is None
    assert not server.motors_running()
    client.seq += 1
    assert client.status().internal_errors == 0  # the service answers as before


def test_a_newer_protocol_version_is_refused_by_name(
    server: EdgeServer, client: EdgeClient
) -> None:
    client.reset(seed=0)
    client.step(100.0, -100.0, 10.0)
    frame = P.encode(
        P.MsgType.STEP,
        P.STEP_REQ.pack(1, 1, 1),
        session=client.session,
        seq=client.seq + 1,
        version=P.PROTOCOL_VERSION + 1,
    )
    raw = client.request_raw(frame)
    assert raw is not None
    header, body = P.decode_header(raw)
    assert header.status == P.Status.BAD_VERSION
    assert f"protocol version {P.PROTOCOL_VERSION + 1}" in bytes(body).decode()
    assert not server.motors_running()
