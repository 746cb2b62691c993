"""The RESP requests a sampler sends: the rate-limiter gate and one GETRANGE per draw,
built as bytes without per-draw Python string work."""

from __future__ import annotations

import numpy as np

from replay import scripts
from replay.keys import TableKeys
from replay.rawpipe import resp_command

#: Most new chunks one ``index``/``gate`` answer carries.
INDEX_BATCH_CHUNKS = 2048

_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)


def digits(x: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative int64s, vectorized."""
    return 1 + (x[:, None] >= _POW10[None, :]).sum(axis=1)


def gate_command(keys: TableKeys, batch_size: int, next_seq: int, count: bool) -> bytes:
    """``EVALSHA gate``: may a batch be drawn now (counted when ``count``), plus the
    chunks inserted since ``next_seq``."""
    return resp_command(
        "EVALSHA", scripts.SHAS["gate"], 2, keys.meta, keys.state, keys.chunk_prefix,
        batch_size, next_seq, INDEX_BATCH_CHUNKS, 1 if count else 0,
    )  # fmt: skip


class RecordReads:
    """``GETRANGE c:<seq> <off> <off + record_size - 1>`` per draw, in RESP, built with
    one ``%`` formatting call (templates cached per batch size)."""

    def __init__(self, keys: TableKeys, record_size: int) -> None:
        self.record_size = int(record_size)
        self._cp = keys.chunk_prefix.encode()
        self._cp_len = len(self._cp)
        self._templates: dict[int, bytes] = {}

    def command(self, seqs: np.ndarray, offsets: np.ndarray) -> bytes:
        b = seqs.shape[0]
        template = self._templates.get(b)
        if template is None:
            cp = self._cp.replace(b"%", b"%%")
            one = b"*4\r\n$8\r\nGETRANGE\r\n$%d\r\n" + cp + b"%d\r\n$%d\r\n%d\r\n$%d\r\n%d\r\n"
            template = self._templates[b] = one * b
        ends = offsets + (self.record_size - 1)
        args = np.empty((b, 6), dtype=np.int64)
        args[:, 0] = self._cp_len + digits(seqs)
        args[:, 1] = seqs
        args[:, 2] = digits(offsets)
        args[:, 3] = offsets
        args[:, 4] = digits(ends)
        args[:, 5] = ends
        return template % tuple(args.ravel().tolist())
