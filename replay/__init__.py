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
* :class:`ReplayWriter` is the one place transitions are cut into chunks (of exactly
  ``chunk_size``; initial priorities from its ``priority_fn`` per sealed chunk; partial
  chunks sent by age through ``flush_due``).
* :class:`RunKeys` (:mod:`replay.keys`) names every Redis key of a run;
  :class:`ReplayLink` is the connection writers and samplers share (retries, scripts,
  tables), :class:`ReplayClient` the link that also opens them.
* Versioned weights (:mod:`replay.weights`: ``WeightStore``, ``WeightFollower``) and
  the model registry (:mod:`replay.registry`: champions, gates, online returns per
  version, ``TagLease``) are imported from their modules.
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
    ReplayOutOfMemoryError,
    ReplayTimeoutError,
    SchemaMismatchError,
)
from replay.keys import RunKeys
from replay.link import ReplayLink
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
    "ReplayLink",
    "ReplayOutOfMemoryError",
    "ReplaySampler",
    "ReplayTimeoutError",
    "ReplayWriter",
    "RunKeys",
    "SampleBatch",
    "SchemaMismatchError",
    "TableConfig",
    "TransitionSpec",
]
