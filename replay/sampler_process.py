"""Prioritized sampling in a process of its own, batches streamed to the learner.

The sampler's work — sum-tree draws, the pipelined Redis reads, priority updates and
their persistence — is Python and numpy that holds the GIL. In a thread of the learner
it competes with the learner's own loop: each torch op releases the GIL and then waits
to get it back, and on the 2-core box an update took ~3 ms instead of ~1.4 ms. Here it
runs in a child process (``python -m replay.sampler_process``), so the learner only
decodes ready batches.

:class:`SamplerProcess` (learner side) starts the child on a socketpair and speaks
:mod:`replay.sampler_wire` with it: the config (JSON) first, then priorities, credit
(batches taken) and β updates one way, batches and notices the other. The child keeps
at most ``depth`` batches in flight, draws ``group`` batches per sampler call (each
takes every group-th draw, so each spans the whole priority mass), applies every
pending priority update before its next draw, and exits when the learner asks, closes
its end, or dies. The child's side is :mod:`replay.sampler_child`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from replay import sampler_wire as wire
from replay.codec import records_to_batch
from replay.errors import ReplayError
from replay.sampler import SampleBatch
from replay.sampler_child import RECV_BYTES, child_main, interleaved_parts

logger = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[1]


class WaitMeter:
    """The share of wall time, since :meth:`reset`, spent in the waits passed to :meth:`add`."""

    def __init__(self) -> None:
        self.waited_s = 0.0
        self._t0 = time.monotonic()

    def add(self, seconds: float) -> None:
        self.waited_s += seconds

    def reset(self) -> None:
        self.waited_s = 0.0
        self._t0 = time.monotonic()

    @property
    def fraction(self) -> float:
        total = time.monotonic() - self._t0
        return self.waited_s / total if total > 0 else 0.0


class SamplerProcess:
    """A child process sampling ``table`` for one learner; batches arrive in order.

    Promises: :meth:`get` returns a :class:`~replay.sampler.SampleBatch` (decoded
    columns, importance weights) or None after ``timeout_s``; priorities passed to
    :meth:`update_priorities` reach the child before it draws again; a child that dies
    is started again (``restarts`` counts it; a death beyond ``max_restarts`` within
    ``restart_window_s`` makes :meth:`get` raise :class:`~replay.errors.ReplayError`
    with its exit code); :meth:`stop` is idempotent
    and leaves no process behind. ``wait_fraction`` is the share of wall time spent
    blocked in :meth:`get`.
    """

    def __init__(
        self,
        client: Any,
        table: str,
        batch_size: int,
        depth: int,
        sampler_kwargs: dict[str, Any],
        seed: int,
        sample_timeout_ms: int = 200,
        max_restarts: int = 5,
        restart_window_s: float = 600.0,
    ) -> None:
        if batch_size < 1 or depth < 1:
            raise ValueError(f"batch_size and depth must be >= 1, got {batch_size}, {depth}")
        self.table = table
        self.batch_size = int(batch_size)
        self.depth = int(depth)
        self.group = max(1, self.depth // 2)
        self.max_restarts = int(max_restarts)
        self.restart_window_s = float(restart_window_s)
        self._restart_times: list[float] = []
        _, spec = client.table_info(table)
        self.record_dtype = spec.record_dtype
        self._config = {
            "url": client.url,
            "namespace": client.namespace,
            "connect_timeout_s": client.connect_timeout_s,
            "socket_timeout_s": client.socket_timeout_s,
            "reconnect_timeout_s": client.reconnect_timeout_s,
            "table": table,
            "batch_size": self.batch_size,
            "depth": self.depth,
            "group": self.group,
            "seed": int(seed),
            "sample_timeout_ms": int(sample_timeout_ms),
            "sampler": dict(sampler_kwargs),
        }
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._frames = wire.FrameBuffer()
        self._credit = 0
        self._stopped = False
        self.restarts = 0
        self.errors = 0
        self.last_error: str | None = None
        self.sampled = 0
        self.wait = WaitMeter()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SamplerProcess:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p
            )
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "replay.sampler_process", str(child.fileno())],
                pass_fds=(child.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            child.close()
        self._sock = parent
        self._frames = wire.FrameBuffer()
        self._credit = 0
        self._send(wire.frame(wire.K_CONFIG, json.dumps(self._config).encode()))
        if not self.restarts:
            self.wait.reset()
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stop(self, timeout_s: float = 3.0) -> None:
        """Ask the child to exit, wait up to ``timeout_s``, then kill it."""
        if self._stopped:
            return
        self._stopped = True
        self._close_child(timeout_s)

    def _close_child(self, timeout_s: float) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.sendall(wire.frame(wire.K_STOP))
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
            self._proc = None

    def _restart(self, why: str) -> None:
        code = None
        if self._proc is not None:  # its socket closed: it is exiting, or about to
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._proc.wait(timeout=2.0)
        self.errors += 1
        self.last_error = f"sampler process {why} (exit code {code})"
        now = time.monotonic()
        recent = [t for t in self._restart_times if now - t < self.restart_window_s]
        if len(recent) >= self.max_restarts:
            self.stop(timeout_s=1.0)
            raise ReplayError(
                f"{self.last_error}; gave up after {len(recent)} restarts within "
                f"{self.restart_window_s:.0f} s of the sampler of table {self.table!r}"
            )
        self._restart_times = [*recent, now]
        self.restarts += 1
        logger.error(
            "%s; starting it again (%d in the last %.0f s, at most %d)",
            self.last_error,
            len(self._restart_times),
            self.restart_window_s,
            self.max_restarts,
        )
        self._close_child(timeout_s=1.0)
        self.start()

    # ------------------------------------------------------------------ learner side
    @property
    def wait_fraction(self) -> float:
        return self.wait.fraction

    def reset_wait(self) -> None:
        self.wait.reset()

    def _send(self, data: bytes) -> None:
        if self._sock is None:
            raise ReplayError(f"sampler process of {self.table!r} is stopped")
        try:
            self._sock.sendall(data)
        except OSError as exc:  # the child is gone: the next get() restarts it
            self.last_error = f"sending to the sampler process failed: {exc}"

    def update_priorities(self, ids: np.ndarray, priorities: np.ndarray) -> None:
        """Send new priorities for sampled ``ids`` (and the credit of batches taken)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        prio = np.asarray(priorities, dtype=np.float64).reshape(-1)
        if ids.shape != prio.shape:
            raise ValueError(f"ids {ids.shape} and priorities {prio.shape} differ in shape")
        self._send(wire.priorities_frame(ids, prio, self._credit))
        self._credit = 0

    def set_beta(self, beta: float) -> None:
        """The importance-sampling exponent for the child's next draws (and a restarted one's)."""
        self._config["sampler"]["beta"] = float(beta)
        self._send(wire.frame(wire.K_BETA, np.float64(beta).tobytes()))

    def get(self, timeout_s: float) -> SampleBatch | None:
        """The next batch, or None when none arrived within ``timeout_s``."""
        if self._stopped:
            raise ReplayError(f"sampler process of {self.table!r} is stopped")
        deadline = time.monotonic() + timeout_s
        while True:
            f = self._frames.next()
            if f is not None:
                batch = self._handle(f)
                if batch is not None:
                    return batch
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            assert self._sock is not None
            t0 = time.monotonic()
            ready, _, _ = select.select([self._sock], [], [], left)
            self.wait.add(time.monotonic() - t0)  # only the blocking: decoding is work
            if not ready:
                return None
            try:
                data = self._sock.recv(RECV_BYTES)
            except OSError as exc:
                data = b""
                self.last_error = str(exc)
            if not data:
                self._restart("closed its socket")
                continue
            self._frames.feed(data)

    def _handle(self, f: wire.Frame) -> SampleBatch | None:
        if f.kind == wire.K_NOTICE:
            text = bytes(f.body).decode("utf-8", "replace")
            self.errors += 1
            self.last_error = text
            logger.warning("sampler process: %s", text)
            return None
        if f.kind != wire.K_BATCH:
            raise wire.WireError(f"the sampler process sent frame kind {f.kind}")
        ids, weights, records = wire.decode_batch(f, self.record_dtype)
        self._credit += 1
        if self._credit >= self.group:  # hand the credit back before it starves the child
            self._send(wire.frame(wire.K_CREDIT, credit=self._credit))
            self._credit = 0
        self.sampled += f.n
        return SampleBatch(
            ids=ids,
            data=records_to_batch(records),
            weights=weights,
            probabilities=np.full(f.n, np.nan),
        )


__all__ = ["SamplerProcess", "WaitMeter", "interleaved_parts"]


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        raise SystemExit("usage: python -m replay.sampler_process FD (started by SamplerProcess)")
    sys.exit(child_main(int(sys.argv[1])))
