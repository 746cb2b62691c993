"""The replay's error hierarchy: every failure a caller can act on is a :class:`ReplayError`."""

from __future__ import annotations


class ReplayError(Exception):
    """Base class of every error raised by :mod:`replay`."""


class ReplayTimeoutError(ReplayError, TimeoutError):
    """A blocking call (insert held back by the rate limiter, sample, flush) ran out of time.

    Nothing is lost: a writer keeps its unsent chunks and a later ``flush`` sends them.
    """


class ReplayConnectionError(ReplayError, ConnectionError):
    """Redis could not be reached or refused our credentials; the message names the URL
    (with the password masked)."""


class MalformedChunkError(ReplayError, ValueError):
    """A chunk failed validation (magic, protocol version, schema digest, lengths, checksum).

    Malformed chunks are never stored or served; the table counts them
    (``replay/malformed_chunks``).
    """


class RateLimiterConfigError(ReplayError, ValueError):
    """A table's rate limiter settings are invalid or could deadlock inserts or samples."""


class SchemaMismatchError(ReplayError, ValueError):
    """A batch or an existing table does not match the expected :class:`TransitionSpec`."""


class WeightIntegrityError(ReplayError):
    """A stored blob does not match its sha256 (or is not valid safetensors).

    Nothing changes on the reader's side: callers keep the version they had.
    """


class WeightNotFoundError(ReplayError, LookupError):
    """The tag has no stored version, or the asked version was dropped from the history."""


class ReplayOutOfMemoryError(ReplayError, MemoryError):
    """Redis refused a write because it reached ``maxmemory`` (OOM). The message names the
    table, its capacity and Redis's ``maxmemory`` and used memory, and what to change.

    Nothing sent is half-stored: the chunk that hit the limit was not committed, and the
    writer keeps it.
    """
