"""Every Redis key of one fsrl run, in one place.

A run is a *namespace*; every key it writes lives under ``fsrl:{namespace}:`` so
several runs share one Redis. :class:`RunKeys` names them all (and nothing else
spells a key by hand)::

    fsrl:{ns}:t:{table}:meta             HASH   spec, digest, capacity, limiter bounds, epoch, config
    fsrl:{ns}:t:{table}:state            HASH   head/tail chunk seqs, size, inserts, deletes, samples,
                                                malformed, insert/sample blocked seconds
    fsrl:{ns}:t:{table}:writers          HASH   writer id -> last accepted writer seq
    fsrl:{ns}:t:{table}:c:{seq}          STRING one chunk (replay.codec)
    fsrl:{ns}:t:{table}:stage:{nonce}    STRING a chunk in flight (expires on its own)
    fsrl:{ns}:t:{table}:bad              SET    chunk seqs already counted as malformed

    fsrl:{ns}:weights:tags               SET    every tag with at least one version
    fsrl:{ns}:weights:{tag}:next         STRING INCR counter: next version (never reset)
    fsrl:{ns}:weights:{tag}:latest       STRING newest complete version
    fsrl:{ns}:weights:{tag}:versions     ZSET   stored versions (score = version)
    fsrl:{ns}:weights:{tag}:v:{version}  HASH   blob (safetensors), sha256 (hex), created_ms

    fsrl:{ns}:registry:{tag}:champion    HASH   proto, version, set_ms, previous   (replay.registry)
    fsrl:{ns}:registry:{tag}:gates       HASH   version -> JSON {proto, passed, detail, time_ms}
    fsrl:{ns}:registry:{tag}:online      HASH   proto, {version}:n, {version}:mean, {version}:m2
    fsrl:{ns}:registry:{tag}:lease       STRING JSON {proto, owner, token, acquired_ms}, PX ttl

    fsrl:{ns}:episodes                   STREAM finished actor episodes (actors.worker)
    fsrl:{ns}:actors:switches            STREAM an actor started acting with a new version
    fsrl:{ns}:actors:{i}                 HASH   actor i's heartbeat and counters (expires)
    fsrl:{ns}:actors:{i}:life            HASH   actor i's restarts and env steps (no expiry)
    fsrl:{ns}:actors:stop                STRING when present, every actor leaves run()

    fsrl:{ns}:edge_metrics               STREAM the robot's on-board episodes (written by
                                                envs.gopigo_bridge.relay, which may not import
                                                replay and spells this one key itself)

Values are plain strings, integers, JSON or the binary codecs of :mod:`replay.codec`
and safetensors — never pickle.
"""

from __future__ import annotations

from dataclasses import dataclass

_BAD_NAME_CHARS = " \t\n{}"


def check_namespace(namespace: str) -> str:
    """``namespace`` if it is usable in a key, else ValueError naming it."""
    if (
        not isinstance(namespace, str)
        or not namespace
        or not namespace.isascii()
        or any(c in namespace for c in _BAD_NAME_CHARS)
    ):
        raise ValueError(
            f"namespace must be a non-empty ASCII string without spaces or braces, got {namespace!r}"
        )
    return namespace


def check_tag(tag: str) -> str:
    """``tag`` if it is a usable model tag (no ``:`` or spaces), else ValueError naming it."""
    if not isinstance(tag, str) or not tag or any(c in tag for c in ": \n\t"):
        raise ValueError(f"model tag must be a non-empty string without ':' or spaces: {tag!r}")
    return tag


@dataclass(frozen=True)
class TableKeys:
    """Redis keys of one table, all under ``fsrl:{namespace}:t:{table}:``."""

    prefix: str

    @property
    def meta(self) -> str:
        return self.prefix + "meta"

    @property
    def state(self) -> str:
        return self.prefix + "state"

    @property
    def writers(self) -> str:
        return self.prefix + "writers"

    @property
    def bad(self) -> str:
        return self.prefix + "bad"

    @property
    def chunk_prefix(self) -> str:
        return self.prefix + "c:"

    @property
    def stage_prefix(self) -> str:
        return self.prefix + "stage:"

    def chunk(self, seq: int) -> str:
        return f"{self.prefix}c:{seq}"


@dataclass(frozen=True)
class WeightKeys:
    """Redis keys of one model tag's weight versions, under ``fsrl:{namespace}:weights:{tag}:``."""

    prefix: str

    @property
    def next(self) -> str:
        return self.prefix + "next"

    @property
    def latest(self) -> str:
        return self.prefix + "latest"

    @property
    def versions(self) -> str:
        return self.prefix + "versions"

    @property
    def version_prefix(self) -> str:
        return self.prefix + "v:"

    def version(self, version: int) -> str:
        return f"{self.prefix}v:{int(version)}"


@dataclass(frozen=True)
class RegistryKeys:
    """Redis keys of one model tag's registry entries, under ``fsrl:{namespace}:registry:{tag}:``."""

    prefix: str

    @property
    def champion(self) -> str:
        return self.prefix + "champion"

    @property
    def gates(self) -> str:
        return self.prefix + "gates"

    @property
    def online(self) -> str:
        return self.prefix + "online"

    @property
    def lease(self) -> str:
        return self.prefix + "lease"


@dataclass(frozen=True)
class RunKeys:
    """Every key of the run ``namespace`` (see the module docstring for the layout).

    Promises: a value object (frozen, hashable, picklable); the namespace is checked at
    construction (ValueError naming it); two runs never share a key.
    """

    namespace: str

    def __post_init__(self) -> None:
        check_namespace(self.namespace)

    @property
    def root(self) -> str:
        return f"fsrl:{self.namespace}:"

    # ---------------------------------------------------------------- replay tables
    def table(self, name: str) -> TableKeys:
        return TableKeys(f"{self.root}t:{name}:")

    # ---------------------------------------------------------------- weights
    @property
    def weight_tags(self) -> str:
        return f"{self.root}weights:tags"

    def weights(self, tag: str) -> WeightKeys:
        return WeightKeys(f"{self.root}weights:{check_tag(tag)}:")

    # ---------------------------------------------------------------- registry
    def registry(self, tag: str) -> RegistryKeys:
        return RegistryKeys(f"{self.root}registry:{check_tag(tag)}:")

    # ---------------------------------------------------------------- actors
    @property
    def episodes(self) -> str:
        return f"{self.root}episodes"

    @property
    def switches(self) -> str:
        return f"{self.root}actors:switches"

    def actor_status(self, actor_id: int) -> str:
        return f"{self.root}actors:{int(actor_id)}"

    def actor_life(self, actor_id: int) -> str:
        return f"{self.root}actors:{int(actor_id)}:life"

    @property
    def actor_life_pattern(self) -> str:
        """A SCAN pattern matching every actor's life hash of the run."""
        return f"{self.root}actors:*:life"

    @property
    def actors_stop(self) -> str:
        return f"{self.root}actors:stop"

    # ---------------------------------------------------------------- edge
    @property
    def edge_metrics(self) -> str:
        return f"{self.root}edge_metrics"


__all__ = [
    "RegistryKeys",
    "RunKeys",
    "TableKeys",
    "WeightKeys",
    "check_namespace",
    "check_tag",
]
