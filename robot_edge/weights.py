"""Weights on the wire: the safetensors format read and written with numpy alone.

safetensors is an 8-byte little-endian header length, a UTF-8 JSON header
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``)
and one raw little-endian buffer. The Pi has no ``safetensors`` package, so this
module implements the layout; nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping

import numpy as np

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
MAX_HEADER_BYTES = 1 << 20


class WeightFormatError(ValueError):
    """A weight blob that is not well-formed safetensors (the message says where)."""


def sha256_hex(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def encode_safetensors(
    tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> bytes:
    """Serialize ``tensors`` (sorted by name) and string ``metadata`` as safetensors bytes."""
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
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


def decode_safetensors(blob: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Parse safetensors bytes into (tensors, metadata); raise WeightFormatError if malformed."""
    if len(blob) < 8:
        raise WeightFormatError(f"blob of {len(blob)} bytes has no safetensors header length")
    (n,) = struct.unpack_from("<Q", blob, 0)
    if n > MAX_HEADER_BYTES or 8 + n > len(blob):
        raise WeightFormatError(f"header length {n} does not fit a blob of {len(blob)} bytes")
    try:
        header = json.loads(bytes(blob[8 : 8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WeightFormatError(f"safetensors header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise WeightFormatError("safetensors header is not a JSON object")
    meta_raw = header.pop("__metadata__", {}) or {}
    if not isinstance(meta_raw, dict):
        raise WeightFormatError("__metadata__ is not an object")
    metadata = {str(k): str(v) for k, v in meta_raw.items()}
    data = memoryview(blob)[8 + n :]
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        try:
            dtype: np.dtype = _DTYPES[info["dtype"]]
            shape = tuple(int(s) for s in info["shape"])
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightFormatError(f"tensor {name!r}: bad header entry {info!r}") from exc
        count = int(np.prod(shape)) if shape else 1
        if min(shape, default=0) < 0 or not 0 <= begin <= end <= len(data):
            raise WeightFormatError(f"tensor {name!r}: offsets {begin}..{end} out of range")
        if end - begin != count * dtype.itemsize:
            raise WeightFormatError(
                f"tensor {name!r}: {end - begin} bytes for shape {shape} of {info['dtype']}"
            )
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape).copy()
    return tensors, metadata
