"""The ``replay`` section's meaning for the replay package: table settings and sampler options.

The section itself (:class:`conf.infra.ReplayConfig`) lives with the rest of the typed
schema; these functions turn it into the validated :class:`~replay.table.TableConfig`
and the sampler's keyword arguments.
"""

from __future__ import annotations

from typing import Any

from conf.infra import ReplayConfig
from replay.table import TableConfig


def table_config(section: Any) -> TableConfig:
    """The validated table settings (raises RateLimiterConfigError on a deadlock)."""
    spi = section.samples_per_insert if section.samples_per_insert else None
    return TableConfig(
        name=section.table,
        capacity=int(section.capacity),
        min_size_to_sample=max(1, int(section.min_size_to_sample)),
        samples_per_insert=None if spi is None else float(spi),
        error_buffer=None if section.error_buffer is None else float(section.error_buffer),
    )


def sampler_kwargs(section: Any) -> dict[str, object]:
    """Keyword arguments for :meth:`ReplayClient.sampler`."""
    return {
        "prioritized": section.prioritized,
        "alpha": section.alpha,
        "beta": section.beta,
        "priority_eps": section.priority_eps,
        "persist_priorities": section.persist_priorities,
    }


__all__ = ["ReplayConfig", "sampler_kwargs", "table_config"]
