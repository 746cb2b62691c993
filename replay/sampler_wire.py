"""Frames between a learner and its sampler process (:mod:`replay.sampler_process`).

A frame is a little-endian ``u32`` length followed by that many bytes::

    0   magic      2s   b"FQ"
    2   version    u8   WIRE_VERSION
    3   kind       u8   one of the ``K_*`` constants below
    4   n          u32  rows in the body (batch, priorities), else 0
    8   credit     u64  batches the learner took since its previous frame
    16  body       kind-specific, fixed layout (no pickle anywhere)

Bodies: ``K_BATCH`` ids i64[n], weights f32[n], records (n × record size bytes, the
table's :attr:`~replay.schema.TransitionSpec.record_dtype`); ``K_PRIORITIES`` ids i64[n],
priorities f64[n]; ``K_BETA`` one f64; ``K_CONFIG`` and ``K_NOTICE`` UTF-8 (JSON for
the config); ``K_CREDIT`` and ``K_STOP`` nothing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

WIRE_VERSION = 1
MAGIC = b"FQ"
_LEN = struct.Struct("<I")
_HEAD = struct.Struct("<2sBBIQ")
HEAD_SIZE = _HEAD.size
MAX_FRAME = 1 << 30

# sampler process -> learner
K_BATCH = 1
K_NOTICE = 2
# learner -> sampler process
K_CONFIG = 10
K_PRIORITIES = 11
K_CREDIT = 12
K_BETA = 13
K_STOP = 14
KINDS = {K_BATCH, K_NOTICE, K_CONFIG, K_PRIORITIES, K_CREDIT, K_BETA, K_STOP}


class WireError(ValueError):
    """A frame that does not follow this module's layout (the message says which part)."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its kind, row count, credit and raw body."""

    kind: int
    n: int
    credit: int
    body: memoryview


def frame(kind: int, body: bytes = b"", n: int = 0, credit: int = 0) -> bytes:
    """Encode one frame, length prefix included."""
    if kind not in KINDS:
        raise WireError(f"unknown frame kind {kind}")
    head = _HEAD.pack(MAGIC, WIRE_VERSION, kind, n, credit)
    return _LEN.pack(len(head) + len(body)) + head + body


def batch_frame(ids: np.ndarray, weights: np.ndarray, records: np.ndarray) -> bytes:
    n = int(ids.shape[0])
    if weights.shape[0] != n or records.shape[0] != n:
        raise WireError(
            f"batch of {n} ids has {weights.shape[0]} weights, {records.shape[0]} records"
        )
    body = b"".join(
        (
            np.ascontiguousarray(ids, dtype="<i8").tobytes(),
            np.ascontiguousarray(weights, dtype="<f4").tobytes(),
            np.ascontiguousarray(records).tobytes(),
        )
    )
    return frame(K_BATCH, body, n=n)


def priorities_frame(ids: np.ndarray, priorities: np.ndarray, credit: int) -> bytes:
    n = int(ids.shape[0])
    if priorities.shape[0] != n:
        raise WireError(f"{n} ids but {priorities.shape[0]} priorities")
    body = (
        np.ascontiguousarray(ids, dtype="<i8").tobytes()
        + np.ascontiguousarray(priorities, dtype="<f8").tobytes()
    )
    return frame(K_PRIORITIES, body, n=n, credit=credit)


def decode_batch(f: Frame, record_dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, weights, records) of a ``K_BATCH`` frame; copies nothing it can view."""
    n, rs = f.n, record_dtype.itemsize
    want = n * (8 + 4 + rs)
    if f.kind != K_BATCH or len(f.body) != want:
        raise WireError(
            f"batch frame of {n} rows with {rs}-byte records needs a {want}-byte body, "
            f"got kind {f.kind} with {len(f.body)} bytes"
        )
    ids = np.frombuffer(f.body, dtype="<i8", count=n)
    weights = np.frombuffer(f.body, dtype="<f4", count=n, offset=8 * n)
    records = np.frombuffer(f.body, dtype=record_dtype, count=n, offset=12 * n)
    return ids, weights, records


def decode_priorities(f: Frame) -> tuple[np.ndarray, np.ndarray]:
    n = f.n
    if f.kind != K_PRIORITIES or len(f.body) != 16 * n:
        raise WireError(
            f"priorities frame of {n} rows needs a {16 * n}-byte body, "
            f"got kind {f.kind} with {len(f.body)} bytes"
        )
    return (
        np.frombuffer(f.body, dtype="<i8", count=n),
        np.frombuffer(f.body, dtype="<f8", count=n, offset=8 * n),
    )


class FrameBuffer:
    """Accumulates received bytes and yields whole frames, checking each header.

    Promises: :meth:`next` returns frames in the order their bytes arrived, None until
    a whole frame is there; a frame with a bad magic, version, kind or length raises
    :class:`WireError` naming the offending value (the stream cannot be resynchronised).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def next(self) -> Frame | None:
        avail = len(self._buf) - self._pos
        if avail < _LEN.size:
            return None
        (length,) = _LEN.unpack_from(self._buf, self._pos)
        if not HEAD_SIZE <= length <= MAX_FRAME:
            raise WireError(f"frame length {length} outside [{HEAD_SIZE}, {MAX_FRAME}]")
        if avail < _LEN.size + length:
            return None
        start = self._pos + _LEN.size
        magic, version, kind, n, credit = _HEAD.unpack_from(self._buf, start)
        if magic != MAGIC:
            raise WireError(f"frame magic {magic!r}, expected {MAGIC!r}")
        if version != WIRE_VERSION:
            raise WireError(f"frame version {version}, this side speaks {WIRE_VERSION}")
        if kind not in KINDS:
            raise WireError(f"unknown frame kind {kind}")
        body = bytearray(self._buf[start + HEAD_SIZE : start + length])  # arrays on it are writable
        self._pos = start + length
        if self._pos > (1 << 20):  # drop consumed bytes now and then
            del self._buf[: self._pos]
            self._pos = 0
        return Frame(kind, n, credit, memoryview(body))


__all__ = [
    "K_BATCH",
    "K_BETA",
    "K_CONFIG",
    "K_CREDIT",
    "K_NOTICE",
    "K_PRIORITIES",
    "K_STOP",
    "WIRE_VERSION",
    "Frame",
    "FrameBuffer",
    "WireError",
    "batch_frame",
    "decode_batch",
    "decode_priorities",
    "frame",
    "priorities_frame",
]
