"""The ``replay`` section of the root config (composed by ``conf/schema.py``).

Plain types only, so Hydra/OmegaConf can type-check overrides such as
``replay.capacity=2000000``; :meth:`ReplayConfig.table_config` turns it into the
validated :class:`~replay.table.TableConfig`.
"""

from dataclasses import dataclass
from typing import Optional

from replay.table import TableConfig


@dataclass
class ReplayConfig:
    """Where the replay lives, how big it is, how it samples and how fast it may be read."""

    # Redis URL of the replay (and weight store), e.g. redis://user:pass@host:6379/0;
    # null starts a private embedded redis-server for the run and stops it afterwards.
    redis_url: Optional[str] = None  # noqa: UP045 - OmegaConf reads the annotation
    # Key namespace of this run: every key lives under fsrl:{namespace}:; null derives one.
    namespace: Optional[str] = None  # noqa: UP045
    # Name of the replay table.
    table: str = "replay"
    # Most transitions kept; the oldest chunks are dropped first (FIFO ring).
    capacity: int = 100_000
    # Prioritized (proportional) sampling; false samples uniformly.
    prioritized: bool = True
    # Priority exponent: P(i) ~ (priority_i + priority_eps) ** alpha.
    alpha: float = 0.6
    # Importance-sampling exponent of the weights (N * P(i)) ** -beta.
    beta: float = 0.4
    # Added to every priority so no transition gets probability 0.
    priority_eps: float = 1e-6
    # Write updated priorities back into Redis, so a restarted learner starts from them.
    persist_priorities: bool = True
    # Samples wait until the table holds this many transitions (0 is treated as 1).
    min_size_to_sample: int = 1_000
    # Target sampled/inserted transitions ratio (Reverb semantics); null or 0 = no limit.
    samples_per_insert: Optional[float] = 0.0  # noqa: UP045
    # Allowed drift of inserts*SPI - samples, in transitions; null = max(100, 2*max(1, SPI)).
    error_buffer: Optional[float] = None  # noqa: UP045
    # Transitions per chunk (one atomic Redis write); tens to hundreds.
    chunk_size: int = 64
    # Chunks buffered before a writer sends them in one pipelined round trip.
    max_pending_chunks: int = 16
    # A partial chunk older than this is sent by the writer's flush_due (every env step).
    max_chunk_age_ms: int = 1_000
    # Time allowed to reach Redis (and authenticate) before failing, seconds.
    connect_timeout_s: float = 5.0
    # Time one Redis call may take before it counts as a lost connection, seconds.
    socket_timeout_s: float = 30.0
    # How long a lost connection is retried (with backoff) before the run fails, seconds.
    reconnect_timeout_s: float = 60.0
    # Longest a writer's flush may wait on the rate limiter, milliseconds.
    flush_timeout_ms: int = 10_000
    # Redis maxmemory for the embedded server in MiB (noeviction backstop); null = unlimited.
    maxmemory_mb: Optional[int] = None  # noqa: UP045

    def table_config(self) -> TableConfig:
        """The validated table settings (raises RateLimiterConfigError on a deadlock)."""
        spi = self.samples_per_insert if self.samples_per_insert else None
        return TableConfig(
            name=self.table,
            capacity=int(self.capacity),
            min_size_to_sample=max(1, int(self.min_size_to_sample)),
            samples_per_insert=None if spi is None else float(spi),
            error_buffer=None if self.error_buffer is None else float(self.error_buffer),
        )

    def writer_kwargs(self) -> dict[str, object]:
        """Keyword arguments for :meth:`ReplayClient.writer` (add the agent's ``priority_fn``)."""
        return {
            "chunk_size": int(self.chunk_size),
            "max_pending_chunks": int(self.max_pending_chunks),
            "timeout_ms": int(self.flush_timeout_ms),
            "max_age_ms": int(self.max_chunk_age_ms),
        }

    def sampler_kwargs(self) -> dict[str, object]:
        """Keyword arguments for :meth:`ReplayClient.sampler`."""
        return {
            "prioritized": self.prioritized,
            "alpha": self.alpha,
            "beta": self.beta,
            "priority_eps": self.priority_eps,
            "persist_priorities": self.persist_priorities,
        }
