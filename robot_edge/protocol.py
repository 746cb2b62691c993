"""The robot wire protocol: a fixed binary layout shared by the Pi and the host.

Every message is ONE ZeroMQ frame: a 32-byte header followed by a type-specific
body. Nothing is pickled; bodies are ``struct`` layouts or numpy buffers.

Header (little endian, ``HEADER``)::

    magic        4s   b"FSRE"
    version      u16  PROTOCOL_VERSION
    msg_type     u8   MsgType (a reply sets REPLY_BIT)
    status       u8   Status (0 in requests; error code in replies)
    session      u32  client session id, chosen by the client at HELLO
    seq          u64  strictly increasing per session after HELLO
    timestamp_ns i64  sender's time.time_ns() when the message was built
    body_len     u32  bytes that follow the header

The host imports this module from ``robot_edge``; the Pi never imports host code.
Python >= 3.9, numpy + the standard library only.
"""

from __future__ import annotations

import enum
import json
import struct
import time
from dataclasses import dataclass

import numpy as np

PROTOCOL_VERSION = 1
MAGIC = b"FSRE"
HEADER = struct.Struct("<4sHBBIQqI")
HEADER_SIZE = HEADER.size  # 32
REPLY_BIT = 0x80

#: Largest body a non-policy message may carry (bigger ones get an OVERSIZE error reply).
MAX_CONTROL_BODY = 4096
#: Largest SET_POLICY body accepted (the socket's zmq.MAXMSGSIZE is a little above it:
#: libzmq drops a peer that sends more, and the server stops the motors on that disconnect).
MAX_POLICY_BODY = 32 * 1024 * 1024
MAX_MESSAGE_SIZE = HEADER_SIZE + MAX_POLICY_BODY


class MsgType(enum.IntEnum):
    HELLO = 1
    RESET = 2
    STEP = 3
    SENSE = 4
    STOP = 5
    STATUS = 6
    SET_POLICY = 7
    ACT = 8
    METRICS = 9
    ERROR = 127  # reply type when the request's type could not be read


class Status(enum.IntEnum):
    OK = 0
    MALFORMED = 1
    BAD_VERSION = 2
    UNKNOWN_TYPE = 3
    OVERSIZE = 4
    NO_SESSION = 5
    OUT_OF_ORDER = 6
    STALE = 7
    REFUSED = 8
    INTERNAL = 9
    BACKEND = 10


class ProtocolError(ValueError):
    """A message that does not follow this protocol; ``status`` says how."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Header:
    version: int
    msg_type: int
    status: int
    session: int
    seq: int
    timestamp_ns: int
    body_len: int


def encode(
    msg_type: int,
    body: bytes = b"",
    *,
    session: int = 0,
    seq: int = 0,
    status: int = Status.OK,
    timestamp_ns: int | None = None,
    version: int = PROTOCOL_VERSION,
) -> bytes:
    """Build one frame: header + body."""
    ts = time.time_ns() if timestamp_ns is None else int(timestamp_ns)
    return HEADER.pack(MAGIC, version, msg_type, status, session, seq, ts, len(body)) + body


def decode_header(frame: bytes) -> tuple[Header, memoryview]:
    """Split a frame into its header and body; raise ProtocolError on any inconsistency."""
    if len(frame) < HEADER_SIZE:
        raise ProtocolError(
            Status.MALFORMED,
            f"frame of {len(frame)} bytes is shorter than the {HEADER_SIZE}-byte header",
        )
    magic, version, msg_type, status, session, seq, ts, body_len = HEADER.unpack_from(frame, 0)
    if magic != MAGIC:
        raise ProtocolError(Status.MALFORMED, f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            Status.BAD_VERSION, f"protocol version {version}, this side speaks {PROTOCOL_VERSION}"
        )
    if len(frame) - HEADER_SIZE != body_len:
        raise ProtocolError(
            Status.MALFORMED,
            f"header says body_len={body_len} but {len(frame) - HEADER_SIZE} bytes follow",
        )
    header = Header(version, msg_type, status, session, seq, ts, body_len)
    return header, memoryview(frame)[HEADER_SIZE:]


def unpack_exact(layout: struct.Struct, body: memoryview, what: str) -> tuple:
    """``layout.unpack(body)``, or a MALFORMED ProtocolError naming ``what`` and the sizes."""
    if len(body) != layout.size:
        raise ProtocolError(
            Status.MALFORMED, f"{what} body must be {layout.size} bytes, got {len(body)}"
        )
    return layout.unpack(body)


def finite(name: str, value: float) -> float:
    """``value`` as a float, or a MALFORMED ProtocolError naming the field when NaN/inf."""
    if not np.isfinite(value):
        raise ProtocolError(Status.MALFORMED, f"{name}={value} is not finite")
    return float(value)


# ---- bodies -----------------------------------------------------------------------------

# HELLO request: none.  HELLO reply: robot description.
HELLO_REPLY = struct.Struct("<16sffffffIIQ")


@dataclass(frozen=True)
class RobotInfo:
    """What the edge tells a client at HELLO: backend, geometry, limits, timings."""

    backend: str
    wheel_diameter_mm: float
    wheel_base_mm: float
    max_dps: float
    distance_max_mm: float
    default_step_ms: float
    max_step_ms: float
    watchdog_ms: int
    max_command_age_ms: int
    policy_version: int

    def pack(self) -> bytes:
        return HELLO_REPLY.pack(
            self.backend.encode()[:16],
            self.wheel_diameter_mm,
            self.wheel_base_mm,
            self.max_dps,
            self.distance_max_mm,
            self.default_step_ms,
            self.max_step_ms,
            self.watchdog_ms,
            self.max_command_age_ms,
            self.policy_version,
        )

    @classmethod
    def unpack(cls, body: memoryview) -> RobotInfo:
        f = unpack_exact(HELLO_REPLY, body, "HELLO reply")
        return cls(f[0].rstrip(b"\0").decode(errors="replace"), *f[1:])


# RESET request: seed (i64, -1 = none).
RESET_REQ = struct.Struct("<q")
# STEP request: left_dps, right_dps, duration_ms.
STEP_REQ = struct.Struct("<fff")
# ACT request: duration_ms, max_episode_steps (0 = no limit), new_episode (u8).
ACT_REQ = struct.Struct("<fIB")

SENSOR = struct.Struct("<qiiffffffBBH")


@dataclass(frozen=True)
class SensorReading:
    """One reading of the robot's sensors.

    Encoders are in wheel degrees (as the GoPiGo3 API reports them); speeds in
    degrees per second as commanded after clamping; ``distance_mm`` is the
    distance sensor (its maximum range when nothing is seen); ``step_index`` counts
    steps since the last reset (mod 2**16).
    """

    robot_time_ns: int
    left_encoder_deg: int
    right_encoder_deg: int
    left_dps: float
    right_dps: float
    distance_mm: float
    servo_deg: float
    battery_v: float
    elapsed_ms: float
    bumped: bool
    motors_running: bool
    step_index: int = 0

    def pack(self) -> bytes:
        return SENSOR.pack(
            self.robot_time_ns,
            self.left_encoder_deg,
            self.right_encoder_deg,
            self.left_dps,
            self.right_dps,
            self.distance_mm,
            self.servo_deg,
            self.battery_v,
            self.elapsed_ms,
            int(self.bumped),
            int(self.motors_running),
            self.step_index & 0xFFFF,
        )

    @classmethod
    def unpack(cls, body: memoryview) -> SensorReading:
        f = unpack_exact(SENSOR, body, "sensor reading")
        return cls(*f[:9], bool(f[9]), bool(f[10]), f[11])  # type: ignore[call-arg]


# ACT reply: sensor reading + action, done flag, policy version, reward.
ACT_REPLY_TAIL = struct.Struct("<iBQf")

STATUS_REPLY = struct.Struct("<BBQQQQQfIfQ")


@dataclass(frozen=True)
class EdgeStatus:
    """Counters and state the edge reports on STATUS."""

    motors_running: bool
    last_stop_reason: int
    commands_executed: int
    errors: int
    watchdog_stops: int
    policy_version: int
    uptime_ms: int
    battery_v: float
    sessions: int
    last_watchdog_latency_ms: float
    internal_errors: int

    def pack(self) -> bytes:
        return STATUS_REPLY.pack(
            int(self.motors_running),
            self.last_stop_reason,
            self.commands_executed,
            self.errors,
            self.watchdog_stops,
            self.policy_version,
            self.uptime_ms,
            self.battery_v,
            self.sessions,
            self.last_watchdog_latency_ms,
            self.internal_errors,
        )

    @classmethod
    def unpack(cls, body: memoryview) -> EdgeStatus:
        f = unpack_exact(STATUS_REPLY, body, "STATUS reply")
        return cls(bool(f[0]), *f[1:])


class StopReason(enum.IntEnum):
    NONE = 0
    COMMAND = 1
    WATCHDOG = 2
    BAD_MESSAGE = 3
    SIGNAL = 4
    DISCONNECT = 5
    BUMP = 6
    SESSION = 7


# SET_POLICY request: version u64, sha256 (32 bytes), then the safetensors blob.
SET_POLICY_HEAD = struct.Struct("<Q32s")
# SET_POLICY reply: the version now in use, and whether the pushed one was accepted.
SET_POLICY_REPLY = struct.Struct("<QB")

#: One episode the on-board policy ran; METRICS replies carry an array of these.
EPISODE_DTYPE = np.dtype(
    [
        ("policy_version", "<u8"),
        ("episode_return", "<f4"),
        ("episode_length", "<u4"),
        ("distance_m", "<f4"),
        ("ended_by", "u1"),  # EpisodeEnd
        ("robot_time_ns", "<i8"),
    ]
)


class EpisodeEnd(enum.IntEnum):
    BUMP = 1
    TIME_LIMIT = 2
    POLICY_CHANGE = 3
    HOST_RESET = 4


def pack_episodes(records: list[dict[str, float]]) -> bytes:
    arr = np.zeros(len(records), dtype=EPISODE_DTYPE)
    for i, rec in enumerate(records):
        for key in EPISODE_DTYPE.names or ():
            arr[key][i] = rec[key]
    return arr.tobytes()


def unpack_episodes(body: memoryview) -> np.ndarray:
    if len(body) % EPISODE_DTYPE.itemsize:
        raise ProtocolError(
            Status.MALFORMED,
            f"METRICS body of {len(body)} bytes is not a multiple of {EPISODE_DTYPE.itemsize}",
        )
    return np.frombuffer(bytes(body), dtype=EPISODE_DTYPE)


def error_text(body: memoryview) -> str:
    return bytes(body).decode("utf-8", errors="replace")


def body_limit(msg_type: int) -> int:
    return MAX_POLICY_BODY if msg_type == MsgType.SET_POLICY else MAX_CONTROL_BODY


def describe(header: Header) -> str:
    try:
        name = MsgType(header.msg_type & ~REPLY_BIT).name
    except ValueError:
        name = f"type {header.msg_type}"
    return json.dumps({"type": name, "session": header.session, "seq": header.seq})
