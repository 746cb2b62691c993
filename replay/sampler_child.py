"""The sampler process's own side: a :class:`~replay.sampler.ReplaySampler` driven by
frames from its learner (:mod:`replay.sampler_wire`) — priorities in, batches out,
credit-limited. Started as ``python -m replay.sampler_process FD`` by
:class:`~replay.sampler_process.SamplerProcess`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import sys
from typing import Any

import numpy as np

from replay import sampler_wire as wire
from replay.client import ReplayClient
from replay.errors import ReplayError, ReplayTimeoutError

logger = logging.getLogger(__name__)

#: Most bytes read from the socket at once.
RECV_BYTES = 1 << 20


def interleaved_parts(total: int, group: int) -> list[slice]:
    """``group`` slices of ``range(total)`` taking every group-th index.

    The sampler's draws are stratified over the priority mass in ring (age) order, so a
    contiguous slice would hold one age band only; every group-th draw spans it all."""
    return [slice(g, total, group) for g in range(group)]


class _Child:
    """The loop of the child process: priorities in, batches out, credit-limited."""

    def __init__(self, sock: socket.socket, config: dict[str, Any], frames: wire.FrameBuffer):
        self.sock = sock
        self.cfg = config
        self.frames = frames
        self.client = ReplayClient(
            config["url"],
            namespace=config["namespace"],
            connect_timeout_s=config["connect_timeout_s"],
            socket_timeout_s=config["socket_timeout_s"],
            reconnect_timeout_s=config["reconnect_timeout_s"],
        )
        self.sampler = self.client.sampler(
            config["table"], seed=config["seed"], **config["sampler"]
        )
        self.in_flight = 0
        self.stop = False
        # The learner's death closes its end of the socket (EOF here); a changed parent
        # pid catches it too. (Not PR_SET_PDEATHSIG: that fires when the *thread* that
        # started us ends, and the launcher starts the sampler from a set-up thread.)
        self.parent_pid = os.getppid()
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []

    def notice(self, text: str) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(wire.frame(wire.K_NOTICE, text.encode("utf-8", "replace")))

    def pump(self, timeout_s: float) -> None:
        """Read whatever the learner sent (waiting up to ``timeout_s`` for something)."""
        ready, _, _ = select.select([self.sock], [], [], timeout_s)
        while ready:
            try:
                data = self.sock.recv(RECV_BYTES)
            except OSError:
                data = b""
            if not data:  # the learner closed its end or died
                self.stop = True
                return
            self.frames.feed(data)
            ready, _, _ = select.select([self.sock], [], [], 0)
        while (f := self.frames.next()) is not None:
            self.in_flight = max(0, self.in_flight - f.credit)
            if f.kind == wire.K_PRIORITIES:
                ids, prio = wire.decode_priorities(f)
                self.pending.append((ids.copy(), prio.copy()))
            elif f.kind == wire.K_BETA:
                self.sampler.beta = float(np.frombuffer(f.body, dtype="<f8", count=1)[0])
            elif f.kind == wire.K_STOP:
                self.stop = True
            elif f.kind != wire.K_CREDIT:
                raise wire.WireError(f"the learner sent frame kind {f.kind}")

    def apply_priorities(self) -> None:
        if not self.pending:
            return
        ids = np.concatenate([i for i, _ in self.pending])
        prio = np.concatenate([p for _, p in self.pending])
        self.pending.clear()
        try:
            self.sampler.update_priorities(ids, prio)
        except ValueError as exc:  # bad priorities: say so, keep sampling
            self.notice(f"priority update refused: {exc}")

    def run(self) -> None:
        batch, depth, group = self.cfg["batch_size"], self.cfg["depth"], self.cfg["group"]
        timeout_ms = self.cfg["sample_timeout_ms"]
        while not self.stop and os.getppid() == self.parent_pid:
            # Draw a whole group per call (one round trip, one priority write): wait
            # until the learner has taken that many.
            self.pump(0.0 if depth - self.in_flight >= group else 0.05)
            if self.stop:
                break
            if depth - self.in_flight < group:
                continue
            k = group
            try:
                self.apply_priorities()
                sb = self.sampler.sample(batch * k, timeout_ms=timeout_ms, decode=False)
            except ReplayTimeoutError:
                continue
            except (ReplayError, OSError) as exc:  # Redis away for a moment: keep trying
                self.notice(f"sampling failed, retrying: {exc}")
                self.pump(0.5)
                continue
            assert sb.records is not None
            out = [
                wire.batch_frame(sb.ids[part], sb.weights[part], sb.records[part])
                for part in interleaved_parts(batch * k, k)
            ]
            try:
                self.sock.sendall(b"".join(out))
            except OSError:  # the learner is gone
                break
            self.in_flight += k
        with contextlib.suppress(Exception):
            self.apply_priorities()  # what the learner computed is not lost
        self.sampler.close()
        self.client.close()


def child_main(fd: int) -> int:
    """Entry point of ``python -m replay.sampler_process FD``."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s sampler %(levelname)s %(message)s"
    )
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the learner; it stops us
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sock = socket.socket(fileno=fd)
    frames = wire.FrameBuffer()
    config: dict[str, Any] | None = None
    while config is None:  # the first frame is the config
        data = sock.recv(RECV_BYTES)
        if not data:
            return 0
        frames.feed(data)
        f = frames.next()
        if f is not None:
            if f.kind != wire.K_CONFIG:
                raise wire.WireError(f"expected the config frame first, got kind {f.kind}")
            config = json.loads(bytes(f.body).decode())
    try:
        child = _Child(sock, config, frames)
    except (ReplayError, OSError) as exc:
        with contextlib.suppress(OSError):
            sock.sendall(wire.frame(wire.K_NOTICE, f"cannot start sampling: {exc}".encode()))
        return 1
    child.run()
    return 0
