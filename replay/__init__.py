"""fsrl's Redis-backed replay: what the package promises.

* A transition batch is a ``dict[str, np.ndarray]`` described by a :class:`TransitionSpec`
  (standard columns in docs/architecture.md); chunks travel in a binary codec
  (:mod:`replay.codec`, ``PROTOCOL_VERSION``, checksums) — never pickle.
* :class:`ReplayClient` (picklable by URL + namespace) creates tables
  (:class:`TableConfig`: FIFO ring of ``capacity`` transitions, Reverb-style rate
  limiter validated at construction), opens writers and samplers, reports metrics.
  Every key lives under ``fsrl:{namespace}:``.
* A writer's chunk becomes visible whole or not at all, also when the writer dies
  mid-write or writers race; re-sends after a dropped connection are stored once.
* Samplers (uniform or proportional prioritized, with importance weights and
  priority updates) keep their index in process and rebuild it from Redis on start,
  so a restarted learner loses no experience.
* Errors: :class:`ReplayError` and its subclasses; a malformed chunk is rejected and
  counted, never served.
"""

from replay.client import ReplayClient
from replay.codec import PROTOCOL_VERSION
from replay.config import ReplayConfig, sampler_kwargs, table_config
from replay.errors import (
    MalformedChunkError,
    RateLimiterConfigError,
    ReplayConnectionError,
    ReplayError,
    ReplayTimeoutError,
    SchemaMismatchError,
)
from replay.sampler import ReplaySampler, SampleBatch
from replay.schema import FieldSpec, TransitionSpec
from replay.table import TableConfig
from replay.writer import ReplayWriter

__all__ = [
    "PROTOCOL_VERSION",
    "FieldSpec",
    "MalformedChunkError",
    "RateLimiterConfigError",
    "ReplayClient",
    "ReplayConfig",
    "sampler_kwargs",
    "table_config",
    "ReplayConnectionError",
    "ReplayError",
    "ReplaySampler",
    "ReplayTimeoutError",
    "ReplayWriter",
    "SampleBatch",
    "SchemaMismatchError",
    "TableConfig",
    "TransitionSpec",
]
