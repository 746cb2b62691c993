"""Binary chunk codec: a chunk is N transitions as one byte string, no pickle.

Layout (little-endian; every section starts on an 8-byte boundary)::

    0   magic            4s   b"FSRC"
    4   protocol version u16  PROTOCOL_VERSION
    6   header length    u16  HEADER_SIZE (56)
    8   spec digest      8s   TransitionSpec.digest
    16  n rows           u32
    20  record size      u32  bytes per record
    24  schema length    u32  bytes of the schema JSON
    28  body crc32       u32  zlib.crc32 of the record section
    32  writer id        8s   random per writer (idempotent re-sends)
    40  writer seq       u32  1, 2, ... per writer
    44  flags            u32  reserved, 0
    48  reserved         u32  0
    52  header crc32     u32  zlib.crc32 of bytes 0..52
    56  priorities       n x f32 (padded to 8)        -- mutable: priority updates
        schema JSON      schema length bytes (padded to 8)
        records          n x record size, row-major   -- TransitionSpec.record_dtype

Fixed-size row-major records let a server-side script gather single sampled
transitions with GETRANGE instead of shipping whole chunks.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from replay.errors import MalformedChunkError
from replay.schema import TransitionSpec

PROTOCOL_VERSION = 1
MAGIC = b"FSRC"
HEADER_SIZE = 56
MAX_CHUNK_ROWS = 65_536  # ids pack the row into 16 bits
_FIXED = struct.Struct("<4sHH8sIIII8sIII")  # everything before the header crc
_CRC = struct.Struct("<I")
assert _FIXED.size + _CRC.size == HEADER_SIZE


def _pad8(n: int) -> int:
    return (n + 7) // 8 * 8


@dataclass(frozen=True)
class ChunkHeader:
    """The decoded fixed header of a chunk, plus where its sections start."""

    protocol_version: int
    spec_digest: bytes
    n: int
    record_size: int
    schema_len: int
    body_crc32: int
    writer_id: bytes
    writer_seq: int

    @property
    def priorities_offset(self) -> int:
        return HEADER_SIZE

    @property
    def schema_offset(self) -> int:
        return HEADER_SIZE + _pad8(4 * self.n)

    @property
    def body_offset(self) -> int:
        return self.schema_offset + _pad8(self.schema_len)

    @property
    def total_size(self) -> int:
        return self.body_offset + self.n * self.record_size


def body_offset(n: int, schema_len: int) -> int:
    return HEADER_SIZE + _pad8(4 * n) + _pad8(schema_len)


def encode_chunk(
    spec: TransitionSpec,
    records: np.ndarray,
    priorities: np.ndarray,
    writer_id: bytes = b"\0" * 8,
    writer_seq: int = 0,
    schema_json: bytes | None = None,
) -> bytes:
    """Encode ``records`` (a 1-D array of ``spec.record_dtype``) with their priorities."""
    head, body = encode_chunk_parts(spec, records, priorities, writer_id, writer_seq, schema_json)
    return b"".join((head, body))


def encode_chunk_parts(
    spec: TransitionSpec,
    records: np.ndarray,
    priorities: np.ndarray,
    writer_id: bytes = b"\0" * 8,
    writer_seq: int = 0,
    schema_json: bytes | None = None,
) -> tuple[bytes, memoryview]:
    """:func:`encode_chunk` as ``(everything before the records, the records)`` — the
    records are a zero-copy view of ``records``, for writers that send without joining."""
    n = int(records.shape[0])
    if records.dtype != spec.record_dtype:
        raise TypeError(f"records dtype {records.dtype} is not the spec's record dtype")
    if not 0 < n <= MAX_CHUNK_ROWS:
        raise ValueError(f"a chunk holds 1..{MAX_CHUNK_ROWS} transitions, got {n}")
    prio = np.ascontiguousarray(priorities, dtype="<f4")
    if prio.shape != (n,):
        raise ValueError(f"priorities must have shape ({n},), got {prio.shape}")
    if len(writer_id) != 8:
        raise ValueError("writer_id must be 8 bytes")
    schema = schema_json if schema_json is not None else spec.to_json().encode()
    body = np.ascontiguousarray(records).data.cast("B")
    fixed = _FIXED.pack(
        MAGIC, PROTOCOL_VERSION, HEADER_SIZE, spec.digest, n, spec.record_size, len(schema),
        zlib.crc32(body), writer_id, writer_seq, 0, 0,
    )  # fmt: skip
    pad_p = b"\0" * (_pad8(4 * n) - 4 * n)
    pad_s = b"\0" * (_pad8(len(schema)) - len(schema))
    head = b"".join((fixed, _CRC.pack(zlib.crc32(fixed)), prio.tobytes(), pad_p, schema, pad_s))
    return head, body


def decode_header(blob: bytes | memoryview) -> ChunkHeader:
    """Parse and verify the fixed header (magic, protocol version, header crc)."""
    if len(blob) < HEADER_SIZE:
        raise MalformedChunkError(
            f"chunk of {len(blob)} bytes is shorter than its {HEADER_SIZE}-byte header"
        )
    fields = _FIXED.unpack_from(blob, 0)
    (magic, version, hlen, digest, n, rsize, slen, bcrc, wid, wseq, _flags, _res) = fields
    if magic != MAGIC:
        raise MalformedChunkError(f"bad chunk magic {bytes(magic)!r} (expected {MAGIC!r})")
    if version != PROTOCOL_VERSION:
        raise MalformedChunkError(
            f"chunk protocol version {version}, this reader speaks {PROTOCOL_VERSION}"
        )
    if hlen != HEADER_SIZE:
        raise MalformedChunkError(f"chunk header length {hlen}, expected {HEADER_SIZE}")
    (hcrc,) = _CRC.unpack_from(blob, _FIXED.size)
    if zlib.crc32(bytes(blob[: _FIXED.size])) != hcrc:
        raise MalformedChunkError("chunk header checksum mismatch")
    if not 0 < n <= MAX_CHUNK_ROWS:
        raise MalformedChunkError(f"chunk claims {n} rows (1..{MAX_CHUNK_ROWS} allowed)")
    return ChunkHeader(version, bytes(digest), n, rsize, slen, bcrc, bytes(wid), wseq)


def decode_priorities(blob: bytes | memoryview, header: ChunkHeader) -> np.ndarray:
    """The chunk's priorities; raises if they are not finite and >= 0."""
    end = HEADER_SIZE + 4 * header.n
    if len(blob) < end:
        raise MalformedChunkError(f"chunk truncated in its priorities ({len(blob)} < {end} bytes)")
    prio = np.frombuffer(blob, dtype="<f4", count=header.n, offset=HEADER_SIZE)
    if not np.all(np.isfinite(prio)) or np.any(prio < 0):
        raise MalformedChunkError("chunk priorities must be finite and >= 0")
    return prio


def decode_chunk(
    blob: bytes | memoryview, spec: TransitionSpec | None = None, copy: bool = True
) -> tuple[ChunkHeader, np.ndarray, dict[str, np.ndarray]]:
    """Decode a whole chunk, verifying header, schema digest, lengths and body crc.

    Returns ``(header, priorities, batch)``; with ``spec=None`` the schema embedded in the
    chunk is used. Raises :class:`MalformedChunkError` on any inconsistency.
    """
    header = decode_header(blob)
    if len(blob) != header.total_size:
        raise MalformedChunkError(
            f"chunk is {len(blob)} bytes, its header implies {header.total_size}"
        )
    schema = bytes(blob[header.schema_offset : header.schema_offset + header.schema_len])
    embedded = TransitionSpec.from_json(schema)
    if embedded.digest != header.spec_digest:
        raise MalformedChunkError("chunk schema JSON does not match its digest")
    if spec is not None and spec.digest != header.spec_digest:
        raise MalformedChunkError(
            f"chunk schema {embedded.names} differs from the expected {spec.names}"
        )
    spec = spec or embedded
    if header.record_size != spec.record_size:
        raise MalformedChunkError(
            f"chunk record size {header.record_size} != spec's {spec.record_size}"
        )
    body = memoryview(blob)[header.body_offset :]
    if zlib.crc32(body) != header.body_crc32:
        raise MalformedChunkError("chunk body checksum mismatch")
    prio = decode_priorities(blob, header)
    records = np.frombuffer(body, dtype=spec.record_dtype, count=header.n)
    return header, prio.copy() if copy else prio, records_to_batch(records, copy=copy)


def records_to_batch(records: np.ndarray, copy: bool = True) -> dict[str, np.ndarray]:
    """Split a structured record array into contiguous per-field arrays."""
    names = records.dtype.names or ()
    if copy:
        return {name: np.ascontiguousarray(records[name]) for name in names}
    return {name: records[name] for name in names}
