"""fsrl's one weights codec: safetensors read and written with numpy alone.

The learner, the actors, the weight relay and the Pi all use this module, so a blob
means the same everywhere and the Pi needs no ``safetensors``/``torch`` package.

safetensors is an 8-byte little-endian header length, a UTF-8 JSON header
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``,
padded with spaces to a multiple of 8) and one raw little-endian buffer. The
``safetensors`` library reads what this module writes and the other way round (the
byte order of header entries may differ). Nothing is ever unpickled.

Public API:

* :func:`encode_weights` / :func:`decode_weights` — fsrl's versioned weight blob: the
  tensors plus string metadata, stamped with ``fsrl_weights_format`` (checked and
  removed on decode); ``decode_weights(blob, sha256=...)`` also checks the digest.
* :func:`encode_safetensors` / :func:`decode_safetensors` — the plain format, no stamp.
* :func:`read_metadata` — the ``__metadata__`` of a blob without reading its tensors.
* :func:`sha256_hex` — the digest every store and the edge protocol carry.
* :class:`WeightFormatError` — any malformed blob; the message names the tensor or
  field, and decoding never raises anything else for hostile bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from collections.abc import Mapping

import numpy as np

#: Version of fsrl's weight blob (``__metadata__["fsrl_weights_format"]``).
WEIGHTS_FORMAT_VERSION = 1
FORMAT_KEY = "fsrl_weights_format"
#: Largest JSON header accepted (safetensors itself caps it at 100 MB; ours are tiny).
MAX_HEADER_BYTES = 1 << 20
#: Deepest bracket nesting a valid header has is 3 (``{name: {"shape": [..]}}``).
MAX_HEADER_DEPTH = 3
#: Most dimensions a tensor may declare.
MAX_NDIM = 16

_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)


class WeightFormatError(ValueError):
    """A weight blob that is not well-formed (the message says which tensor or field)."""


def sha256_hex(blob: bytes) -> str:
    """The hex sha256 of ``blob`` (what weight stores and SET_POLICY carry)."""
    return hashlib.sha256(blob).hexdigest()


def encode_safetensors(
    tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> bytes:
    """Serialize ``tensors`` (sorted by name) and string ``metadata`` as safetensors bytes."""
    header: dict[str, object] = {}
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise WeightFormatError(
                    f"metadata must be str -> str, got {key!r}: {type(value).__name__}"
                )
        header["__metadata__"] = dict(metadata)
    buffers = []
    offset = 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        if dt not in _NAMES:
            raise WeightFormatError(f"tensor {name!r}: dtype {arr.dtype} is not supported")
        raw = arr.astype(dt, copy=False).tobytes()
        header[name] = {
            "dtype": _NAMES[dt],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        buffers.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(buffers)


def _nesting(raw: bytes) -> int:
    """Deepest ``[``/``{`` nesting of a JSON text (strings ignored), without parsing it."""
    bare = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    steps = np.isin(bare, (0x5B, 0x7B)).astype(np.int64) - np.isin(bare, (0x5D, 0x7D))
    return int(np.cumsum(steps).max(initial=0))


def _header(blob: bytes) -> tuple[dict, int]:
    if len(blob) < 8:
        raise WeightFormatError(f"blob of {len(blob)} bytes has no safetensors header length")
    (n,) = struct.unpack_from("<Q", blob, 0)
    if n > MAX_HEADER_BYTES or 8 + n > len(blob):
        raise WeightFormatError(f"header length {n} does not fit a blob of {len(blob)} bytes")
    raw = bytes(blob[8 : 8 + n])
    depth = _nesting(raw)
    if depth > MAX_HEADER_DEPTH:
        raise WeightFormatError(
            f"safetensors header nests {depth} deep (a valid one nests {MAX_HEADER_DEPTH})"
        )
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WeightFormatError(f"safetensors header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise WeightFormatError("safetensors header is not a JSON object")
    return header, 8 + n


def _metadata(header: dict) -> dict[str, str]:
    meta_raw = header.pop("__metadata__", None) or {}
    if not isinstance(meta_raw, dict):
        raise WeightFormatError("__metadata__ is not an object")
    return {str(k): str(v) for k, v in meta_raw.items()}


def _ints(name: str, field: str, value: object, limit: int) -> tuple[int, ...]:
    """A list of non-negative JSON integers (not bools, not floats), at most ``limit`` long."""
    if (
        not isinstance(value, list)
        or len(value) > limit
        or not all(type(v) is int and v >= 0 for v in value)
    ):
        raise WeightFormatError(
            f"tensor {name!r}: {field} {str(value)[:80]} is not a list of at most {limit} "
            "non-negative integers"
        )
    return tuple(value)


def read_metadata(blob: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors blob (its tensors are not read)."""
    header, _ = _header(blob)
    return _metadata(header)


def decode_safetensors(blob: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Parse safetensors bytes into (tensors, metadata); raise WeightFormatError if malformed."""
    header, start = _header(blob)
    metadata = _metadata(header)
    data = memoryview(blob)[start:]
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if not isinstance(info, dict) or info.get("dtype") not in _DTYPES:
            raise WeightFormatError(f"tensor {name!r}: bad header entry {str(info)[:80]}")
        dtype = _DTYPES[info["dtype"]]
        shape = _ints(name, "shape", info.get("shape"), MAX_NDIM)
        offsets = _ints(name, "data_offsets", info.get("data_offsets"), 2)
        if len(offsets) != 2 or not offsets[0] <= offsets[1] <= len(data):
            raise WeightFormatError(
                f"tensor {name!r}: data_offsets {list(offsets)} out of range 0..{len(data)}"
            )
        begin, end = offsets
        # Python ints: a shape whose product overflows int64 is still caught here.
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise WeightFormatError(
                f"tensor {name!r}: {end - begin} bytes for shape {list(shape)} of {info['dtype']}"
            )
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape).copy()
    return tensors, metadata


def encode_weights(
    tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> bytes:
    """fsrl's weight blob: safetensors of ``tensors`` with ``metadata`` and the format stamp."""
    meta = {FORMAT_KEY: str(WEIGHTS_FORMAT_VERSION), **dict(metadata or {})}
    return encode_safetensors(tensors, meta)


def decode_weights(
    blob: bytes, sha256: str | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of a weight blob, the format stamp checked and removed.

    With ``sha256`` (hex) the blob's digest must match it. A blob without a stamp (plain
    safetensors) is read as format 1. Raises :class:`WeightFormatError` naming the problem.
    """
    if sha256 is not None:
        actual = sha256_hex(blob)
        if actual != sha256.lower():
            raise WeightFormatError(
                f"sha256 {actual[:12]}… does not match the expected {sha256[:12]}…"
            )
    tensors, meta = decode_safetensors(blob)
    fmt = meta.pop(FORMAT_KEY, str(WEIGHTS_FORMAT_VERSION))
    if fmt != str(WEIGHTS_FORMAT_VERSION):
        raise WeightFormatError(f"weights format {fmt!r}, this side reads {WEIGHTS_FORMAT_VERSION}")
    return tensors, meta


__all__ = [
    "FORMAT_KEY",
    "MAX_HEADER_BYTES",
    "WEIGHTS_FORMAT_VERSION",
    "WeightFormatError",
    "decode_safetensors",
    "decode_weights",
    "encode_safetensors",
    "encode_weights",
    "read_metadata",
    "sha256_hex",
]
