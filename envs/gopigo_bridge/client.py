"""Host-side client of the robot edge service: Lazy Pirate REQ with timeouts and retries.

Each request waits ``timeout_ms`` for its reply; on a timeout the REQ socket is
closed (LINGER 0, so nothing stale is left queued) and recreated, and the request
is re-sent with a fresh sequence number and timestamp, ``retries`` times. Then
:class:`EdgeUnreachableError` names the endpoint. A NO_SESSION or STALE refusal (the
edge restarted, or the session's clock offset no longer fits) makes the client send
HELLO and the request once more.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import numpy as np
import zmq

from robot_edge import keys as keyfiles
from robot_edge import protocol as P
from robot_edge.weights import sha256_hex

logger = logging.getLogger(__name__)

#: Error statuses after which the client opens a new session and retries once.
_RESYNC = (P.Status.NO_SESSION, P.Status.STALE)


class EdgeError(RuntimeError):
    """Base of the bridge's errors; every message names the endpoint."""


class EdgeUnreachableError(EdgeError, ConnectionError):
    """No reply from the edge service within the timeout after every retry."""


class EdgeReplyError(EdgeError):
    """The edge answered with an error status (``status`` holds the protocol Status)."""

    def __init__(self, endpoint: str, status: int, message: str) -> None:
        try:
            name = P.Status(status).name
        except ValueError:
            name = str(status)
        super().__init__(f"{endpoint}: {name}: {message}")
        self.endpoint = endpoint
        self.status = status


class EdgeClient:
    """One session with one robot_edge service.

    Promises: a reply is matched to its request by type and sequence number; a
    timeout never leaves a half-used socket behind; with ``keys_dir`` the link is
    CURVE-encrypted and the server must hold the key in ``server_key_file``
    (default ``<keys_dir>/peers/pi.key``).
    """

    def __init__(
        self,
        endpoint: str,
        timeout_ms: int = 1000,
        retries: int = 3,
        keys_dir: str | os.PathLike | None = None,
        server_key_file: str | os.PathLike | None = None,
        context: zmq.Context | None = None,
        hello: bool = True,
    ) -> None:
        if timeout_ms <= 0 or retries < 0:
            raise ValueError(f"timeout_ms={timeout_ms} must be > 0 and retries={retries} >= 0")
        self.endpoint = endpoint
        self.timeout_ms = int(timeout_ms)
        self.retries = int(retries)
        self._curve: tuple[bytes, bytes, bytes] | None = None
        if keys_dir is not None:
            public, secret = keyfiles.load_keypair(keys_dir)
            server_file = server_key_file or Path(keys_dir) / keyfiles.PEERS / "pi.key"
            self._curve = (public, secret, keyfiles.load_public(server_file))
        elif server_key_file is not None:
            raise ValueError("server_key_file needs keys_dir (this client's own key pair)")
        self._own_context = context is None
        self.context = context or zmq.Context()
        self.session = secrets.randbits(32) | 1
        self.seq = 0
        self.reconnects = 0
        self.socket: zmq.Socket | None = None
        self._connect()
        self.info: P.RobotInfo | None = self.hello() if hello else None

    # ---- socket ---------------------------------------------------------------------------
    def _connect(self) -> None:
        sock = self.context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        if self._curve is not None:
            public, secret, server = self._curve
            sock.curve_publickey = public
            sock.curve_secretkey = secret
            sock.curve_serverkey = server
        sock.connect(self.endpoint)
        self.socket = sock

    def _reconnect(self) -> None:
        if self.socket is not None:
            self.socket.close(linger=0)
        self.reconnects += 1
        self._connect()

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close(linger=0)
            self.socket = None
        if self._own_context:
            self.context.term()

    def __enter__(self) -> EdgeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- requests -------------------------------------------------------------------------
    def request_raw(self, frame: bytes, timeout_ms: int | None = None) -> bytes | None:
        """Send one raw frame and return the raw reply (None on timeout; the socket is reset)."""
        if self.socket is None:
            raise EdgeError(f"{self.endpoint}: client is closed")
        self.socket.send(frame)
        if self.socket.poll(self.timeout_ms if timeout_ms is None else timeout_ms, zmq.POLLIN):
            return self.socket.recv()
        self._reconnect()
        return None

    def request(self, msg_type: int, body: bytes = b"", _rehello: bool = True) -> memoryview:
        """Send a request and return the reply body; raise on error status or no reply."""
        for attempt in range(self.retries + 1):
            self.seq += 1
            seq = self.seq
            frame = P.encode(msg_type, body, session=self.session, seq=seq)
            raw = self.request_raw(frame)
            if raw is None:
                logger.warning(
                    "%s: no reply to %s within %d ms (try %d/%d); reconnecting",
                    self.endpoint,
                    P.MsgType(msg_type).name,
                    self.timeout_ms,
                    attempt + 1,
                    self.retries + 1,
                )
                continue
            try:
                header, rbody = P.decode_header(raw)
            except P.ProtocolError as exc:
                raise EdgeError(f"{self.endpoint}: malformed reply: {exc}") from exc
            if header.seq != seq or header.msg_type != (msg_type | P.REPLY_BIT):
                raise EdgeError(
                    f"{self.endpoint}: reply {P.describe(header)} does not answer seq {seq}"
                )
            if header.status != P.Status.OK:
                if header.status in _RESYNC and _rehello and msg_type != P.MsgType.HELLO:
                    # NO_SESSION: the edge restarted. STALE: the session's clock offset no
                    # longer fits ours (a clock step, a stamp from the future). Either way
                    # the edge refused the request without running it: open a new session
                    # and send it once more, freshly stamped.
                    logger.warning(
                        "%s: %s refused (%s: %s); handshaking again",
                        self.endpoint,
                        P.MsgType(msg_type).name,
                        P.Status(header.status).name,
                        P.error_text(rbody),
                    )
                    self.hello()
                    return self.request(msg_type, body, _rehello=False)
                raise EdgeReplyError(self.endpoint, header.status, P.error_text(rbody))
            return rbody
        raise EdgeUnreachableError(
            f"robot edge at {self.endpoint} did not answer {P.MsgType(msg_type).name} "
            f"within {self.timeout_ms} ms after {self.retries + 1} tries: is the service "
            "running, reachable and paired with this host?"
        )

    def hello(self) -> P.RobotInfo:
        self.info = P.RobotInfo.unpack(self.request(P.MsgType.HELLO, _rehello=False))
        return self.info

    def reset(self, seed: int | None = None) -> P.SensorReading:
        body = P.RESET_REQ.pack(-1 if seed is None else int(seed) & 0x7FFFFFFFFFFFFFFF)
        return P.SensorReading.unpack(self.request(P.MsgType.RESET, body))

    def step(self, left_dps: float, right_dps: float, duration_ms: float = 0.0) -> P.SensorReading:
        body = P.STEP_REQ.pack(left_dps, right_dps, duration_ms)
        return P.SensorReading.unpack(self.request(P.MsgType.STEP, body))

    def sense(self) -> P.SensorReading:
        return P.SensorReading.unpack(self.request(P.MsgType.SENSE))

    def stop(self) -> None:
        self.request(P.MsgType.STOP)

    def status(self) -> P.EdgeStatus:
        return P.EdgeStatus.unpack(self.request(P.MsgType.STATUS))

    def set_policy(self, version: int, blob: bytes, sha256: bytes | None = None) -> int:
        """Push a safetensors blob; return the version the edge now runs."""
        digest = sha256 if sha256 is not None else bytes.fromhex(sha256_hex(blob))
        reply = self.request(P.MsgType.SET_POLICY, P.SET_POLICY_HEAD.pack(version, digest) + blob)
        running, _accepted = P.SET_POLICY_REPLY.unpack(reply)
        return int(running)

    def act(
        self, duration_ms: float = 0.0, max_episode_steps: int = 0, new_episode: bool = False
    ) -> tuple[P.SensorReading, int, bool, int, float]:
        """Run the on-board policy for one step: (reading, action, done, version, reward)."""
        body = P.ACT_REQ.pack(duration_ms, max_episode_steps, int(new_episode))
        reply = self.request(P.MsgType.ACT, body)
        reading = P.SensorReading.unpack(reply[: P.SENSOR.size])
        action, done, version, reward = P.ACT_REPLY_TAIL.unpack(reply[P.SENSOR.size :])
        return reading, int(action), bool(done), int(version), float(reward)

    def metrics(self) -> np.ndarray:
        """Episodes the on-board policy finished since the last call (EPISODE_DTYPE array)."""
        return P.unpack_episodes(self.request(P.MsgType.METRICS))
