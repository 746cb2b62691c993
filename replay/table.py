"""A table's settings and its rate limiter, with Reverb's semantics.

The limiter compares three counters kept in Redis (transitions inserted, deleted by
the FIFO ring, sampled) — writers and samplers live in different processes:

* samples wait until ``inserts - deletes >= min_size_to_sample``;
* with ``samples_per_insert`` (SPI) set, ``diff = inserts * SPI - samples`` is held in
  ``[min_diff, max_diff]``: an insert waits while ``(inserts + 1) * SPI - samples >
  max_diff`` (inserts are free until the table holds ``min_size_to_sample``) and a
  sample waits while ``inserts * SPI - samples - 1 < min_diff``.

A chunk of N transitions (or a sample batch of B) is admitted when its *first*
transition is, and then counts N (or B) — so the ratio drifts by at most one chunk or
one batch, and chunk/batch sizes can never deadlock the limiter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from replay.errors import RateLimiterConfigError


@dataclass(frozen=True)
class TableConfig:
    """A replay table: a FIFO ring of ``capacity`` transitions plus its rate limiter.

    Promises: a config that could block inserts and samples forever is rejected here,
    with a message naming the offending values (never later, mid-run).
    """

    name: str = "replay"
    # Most transitions kept; the oldest chunks are dropped first (FIFO ring).
    capacity: int = 1_000_000
    # Samples wait until the table holds at least this many transitions.
    min_size_to_sample: int = 1
    # Target sampled/inserted transitions ratio; None = no ratio limit (Reverb's MinSize).
    samples_per_insert: float | None = None
    # Allowed drift of inserts*SPI - samples around SPI*min_size_to_sample: a number
    # (symmetric) or an explicit (min_diff, max_diff); None = max(100, 2*max(1, SPI)).
    error_buffer: float | tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if (
            not isinstance(self.name, str)
            or not self.name
            or not self.name.isascii()
            or any(c in self.name for c in ": \t\n{}")
        ):
            raise ValueError(
                f"table name must be a non-empty ASCII string without ':', spaces or braces, "
                f"got {self.name!r}"
            )
        if int(self.capacity) < 1:
            raise ValueError(f"table {self.name!r}: capacity must be >= 1, got {self.capacity}")
        if int(self.min_size_to_sample) < 1:
            raise RateLimiterConfigError(
                f"table {self.name!r}: min_size_to_sample must be >= 1, got {self.min_size_to_sample}"
            )
        if self.min_size_to_sample > self.capacity:
            raise RateLimiterConfigError(
                f"table {self.name!r}: min_size_to_sample={self.min_size_to_sample} exceeds "
                f"capacity={self.capacity}; the table could never hold enough to sample (deadlock)"
            )
        spi = self.samples_per_insert
        if spi is None:
            return
        if not (isinstance(spi, int | float) and math.isfinite(spi) and spi > 0):
            raise RateLimiterConfigError(
                f"table {self.name!r}: samples_per_insert must be > 0, got {spi!r}"
            )
        min_diff, max_diff = self.diff_bounds()
        need = 2.0 * max(1.0, spi)
        if max_diff - min_diff < need:
            raise RateLimiterConfigError(
                f"table {self.name!r}: error_buffer={self.error_buffer!r} gives max_diff - min_diff = "
                f"{max_diff - min_diff:g} < 2 * max(1, samples_per_insert) = {need:g}; such a narrow "
                "buffer can block inserts and samples forever (deadlock)"
            )
        offset = spi * self.min_size_to_sample
        if min_diff > offset - 1 and max_diff < offset + spi:
            raise RateLimiterConfigError(
                f"table {self.name!r}: error_buffer={self.error_buffer!r} blocks both the first sample "
                f"(needs min_diff <= {offset - 1:g}) and the next insert (needs max_diff >= "
                f"{offset + spi:g}) once min_size_to_sample={self.min_size_to_sample} is reached (deadlock)"
            )

    @property
    def rate_limited(self) -> bool:
        return self.samples_per_insert is not None

    def diff_bounds(self) -> tuple[float, float]:
        """``(min_diff, max_diff)``; infinite when there is no ratio limit."""
        spi = self.samples_per_insert
        if spi is None:
            return -math.inf, math.inf
        eb = self.error_buffer
        if isinstance(eb, tuple | list):
            if len(eb) != 2:
                raise RateLimiterConfigError(
                    f"table {self.name!r}: error_buffer must be a number or (min_diff, max_diff), got {eb!r}"
                )
            return float(eb[0]), float(eb[1])
        if eb is None:
            eb = max(100.0, 2.0 * max(1.0, spi))
        if not (isinstance(eb, int | float) and eb >= 0):
            raise RateLimiterConfigError(
                f"table {self.name!r}: error_buffer must be >= 0, got {eb!r}"
            )
        offset = spi * self.min_size_to_sample
        return offset - float(eb), offset + float(eb)
