"""10,000 Hypothesis-generated malformed frames against a live edge on loopback.

Every frame gets a well-formed reply; every error reply leaves the motors
stopped; the service never crashes and never hits an unexpected exception.
"""

from __future__ import annotations

import time

import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robot_edge import protocol as P
from robot_edge.server import EdgeConfig, EdgeServer

SESSION = 0x5EED5EED
N_FRAMES = 10_000

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)

# (magic, version, type, status, session, seq, timestamp, body_len, body); None = "valid here"
structured = st.tuples(
    st.one_of(st.just(P.MAGIC), st.binary(min_size=4, max_size=4)),
    st.one_of(st.just(P.PROTOCOL_VERSION), u16),
    st.one_of(st.sampled_from([int(t) for t in P.MsgType]), u8),
    st.one_of(st.just(0), u8),
    st.one_of(st.just(SESSION), u32),
    st.one_of(st.none(), u64),
    st.one_of(st.none(), i64),
    st.one_of(st.none(), u32),
    st.one_of(
        st.binary(max_size=64),
        st.builds(
            lambda a, b, c: P.STEP_REQ.pack(a, b, c),
            st.floats(width=32),
            st.floats(width=32),
            st.floats(width=32),
        ),
        st.builds(
            lambda n: b"\0" * n, st.integers(P.MAX_CONTROL_BODY - 2, P.MAX_CONTROL_BODY + 64)
        ),
        st.builds(
            lambda v, h, blob: P.SET_POLICY_HEAD.pack(v, h) + blob,
            u64,
            st.binary(min_size=32, max_size=32),
            st.binary(max_size=200),
        ),
    ),
)
frames_strategy = st.one_of(
    st.binary(max_size=128).map(lambda b: [b]),
    structured.map(lambda s: ["structured", s]),
    st.lists(st.binary(max_size=48), min_size=2, max_size=4),
)


def test_malformed_frames_never_crash_and_always_stop(tmp_path: object) -> None:
    server = EdgeServer(EdgeConfig(bind="tcp://127.0.0.1:0", insecure=True, log_level="ERROR"))
    server.start()
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(server.endpoint)
    state = {"seq": 1, "n": 0, "errors": 0, "ok": 0}

    def roundtrip(frames: list[bytes]) -> bytes:
        sock.send_multipart(frames)
        assert sock.poll(5000), "no reply: the service stopped answering"
        return sock.recv()

    hello = roundtrip([P.encode(P.MsgType.HELLO, session=SESSION, seq=1)])
    assert P.decode_header(hello)[0].status == P.Status.OK

    @settings(
        max_examples=N_FRAMES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(frames_strategy)
    def check(spec: list) -> None:
        if spec and spec[0] == "structured":
            magic, ver, typ, status, session, seq, ts, body_len, body = spec[1]
            if seq is None:
                state["seq"] += 1
                seq = state["seq"]
            ts = time.time_ns() if ts is None else ts
            body_len = len(body) if body_len is None else body_len
            frames = [P.HEADER.pack(magic, ver, typ, status, session, seq, ts, body_len) + body]
        else:
            frames = spec
        server.backend.set_wheel_dps(100.0, 100.0)  # motors running before every frame
        reply = roundtrip(frames)
        header, _ = P.decode_header(reply)  # every reply is a well-formed protocol message
        assert header.msg_type & P.REPLY_BIT
        state["n"] += 1
        if header.status == P.Status.OK:
            state["ok"] += 1
        else:
            state["errors"] += 1
            assert not server.motors_running(), f"motors still running after {frames!r:.200}"
        assert server._threads[-1].is_alive()

    t0 = time.monotonic()
    try:
        check()
        elapsed_s = time.monotonic() - t0
        assert state["n"] >= N_FRAMES
        assert server.counters.internal_errors == 0
        assert state["errors"] > 0.9 * state["n"]
        # still serving normally afterwards
        status = roundtrip([P.encode(P.MsgType.HELLO, session=SESSION + 1, seq=1)])
        assert P.decode_header(status)[0].status == P.Status.OK
        print(
            f"{state['n']} frames in {elapsed_s:.1f} s: {state['errors']} errors, {state['ok']} ok"
        )
    finally:
        sock.close(linger=0)
        server.close()
