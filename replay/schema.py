"""Transition schema: which fields a transition has, their per-transition shapes and dtypes,
and the fixed-size row-major record layout the codec stores them in.

A transition batch is a ``dict[str, np.ndarray]`` whose arrays share the leading dimension
N. A ``Dict`` observation is flattened with a slash (``obs/board``). See
docs/architecture.md ("Transitions") for the standard columns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from replay.errors import SchemaMismatchError

DTypeLike = Any
ShapeLike = int | Sequence[int]


def _canonical_dtype(dtype: DTypeLike) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind not in "biuf":
        raise TypeError(f"unsupported dtype {dt} (bool, int, uint and float only)")
    return dt.newbyteorder("<") if dt.itemsize > 1 else dt


def _canonical_shape(shape: ShapeLike) -> tuple[int, ...]:
    if isinstance(shape, int | np.integer):
        shape = (int(shape),)
    out = tuple(int(d) for d in shape)
    if any(d < 0 for d in out):
        raise ValueError(f"negative dimension in shape {out}")
    return out


@dataclass(frozen=True)
class FieldSpec:
    """One column of a transition: its name, per-transition shape and dtype (little-endian)."""

    name: str
    # Given as an int or a sequence; stored as tuple[int, ...].
    shape: Any = ()
    # Given as anything numpy.dtype accepts; stored as its little-endian str ("<f4").
    dtype: Any = "<f4"

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"field name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "shape", _canonical_shape(self.shape))
        object.__setattr__(self, "dtype", _canonical_dtype(self.dtype).str)

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.np_dtype.itemsize

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class TransitionSpec:
    """An ordered tuple of :class:`FieldSpec`; it fixes the record layout and its digest.

    Promises: equal specs have equal :attr:`digest`; :attr:`record_dtype` is a numpy
    structured dtype whose fields are aligned to their item size and whose item size is
    a multiple of 8, so a record buffer decodes with one ``np.frombuffer``.
    """

    fields: tuple[FieldSpec, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        fields = tuple(self.fields)
        if not fields:
            raise ValueError("a TransitionSpec needs at least one field")
        names = [f.name for f in fields]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate field names in TransitionSpec: {sorted(dup)}")
        object.__setattr__(self, "fields", fields)

    # ----------------------------------------------------------------- builders
    @classmethod
    def standard(
        cls,
        obs: ShapeLike | Mapping[str, tuple[ShapeLike, DTypeLike]],
        obs_dtype: DTypeLike = np.float32,
        action_shape: ShapeLike = (),
        action_dtype: DTypeLike = np.int64,
        extra: Iterable[FieldSpec] = (),
    ) -> TransitionSpec:
        """The standard columns (docs/architecture.md) for an observation of shape ``obs``
        (or a mapping ``{key: (shape, dtype)}`` for a ``Dict`` observation, flattened to
        ``obs/<key>`` and ``next_obs/<key>``) and a (by default discrete) action."""
        if isinstance(obs, Mapping):
            obs_fields = [(f"/{k}", shape, dt) for k, (shape, dt) in obs.items()]
        else:
            obs_fields = [("", obs, obs_dtype)]
        fields = [FieldSpec(f"obs{suffix}", shape, dt) for suffix, shape, dt in obs_fields]
        fields += [
            FieldSpec("action", action_shape, action_dtype),
            FieldSpec("reward", (), np.float32),
            FieldSpec("discount", (), np.float32),
        ]
        fields += [FieldSpec(f"next_obs{suffix}", shape, dt) for suffix, shape, dt in obs_fields]
        fields += [
            FieldSpec("terminated", (), np.bool_),
            FieldSpec("truncated", (), np.bool_),
            FieldSpec("n_steps", (), np.uint8),
            FieldSpec("policy_version", (), np.int64),
            FieldSpec("actor_id", (), np.int32),
        ]
        fields += list(extra)
        return cls(tuple(fields))

    @classmethod
    def from_spaces(
        cls, observation_space: Any, action_space: Any, extra: Iterable[FieldSpec] = ()
    ) -> TransitionSpec:
        """The standard columns for Gymnasium ``Box``/``Discrete``/``MultiBinary``/``Dict``
        observation spaces and a ``Discrete`` (int64) or ``Box`` action space."""
        from gymnasium import spaces

        def leaf(space: Any, where: str) -> tuple[tuple[int, ...], np.dtype]:
            if isinstance(space, spaces.Discrete):
                return (), np.dtype(np.int64)
            if isinstance(space, spaces.Box | spaces.MultiBinary | spaces.MultiDiscrete):
                return tuple(space.shape), np.dtype(space.dtype)
            raise TypeError(f"unsupported space {space!r} at {where}")

        if isinstance(observation_space, spaces.Dict):
            obs: Any = {k: leaf(s, f"obs/{k}") for k, s in observation_space.spaces.items()}
            obs_dtype: Any = None
        else:
            obs, obs_dtype = leaf(observation_space, "obs")
        act_shape, act_dtype = leaf(action_space, "action")
        return cls.standard(obs, obs_dtype, act_shape, act_dtype, extra)

    # ----------------------------------------------------------------- layout
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def __getitem__(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"no field {name!r} in TransitionSpec {self.names}")

    @cached_property
    def record_dtype(self) -> np.dtype:
        """Structured dtype of one record: fields in declaration order, each aligned."""
        names, formats, offsets = [], [], []
        offset = 0
        for f in self.fields:
            base = f.np_dtype
            align = base.itemsize
            offset = (offset + align - 1) // align * align
            names.append(f.name)
            formats.append((base, f.shape) if f.shape else base)
            offsets.append(offset)
            offset += f.nbytes
        itemsize = max(8, (offset + 7) // 8 * 8)
        return np.dtype(
            {"names": names, "formats": formats, "offsets": offsets, "itemsize": itemsize}
        )

    @property
    def record_size(self) -> int:
        return int(self.record_dtype.itemsize)

    def to_json(self) -> str:
        return json.dumps(
            {"fields": [f.to_dict() for f in self.fields], "record_size": self.record_size},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> TransitionSpec:
        try:
            doc = json.loads(text)
            spec = cls(
                tuple(FieldSpec(d["name"], tuple(d["shape"]), d["dtype"]) for d in doc["fields"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaMismatchError(f"invalid TransitionSpec JSON {text[:200]!r}: {exc}") from exc
        if doc.get("record_size", spec.record_size) != spec.record_size:
            raise SchemaMismatchError(
                f"TransitionSpec JSON says record_size={doc['record_size']}, layout gives {spec.record_size}"
            )
        return spec

    @cached_property
    def digest(self) -> bytes:
        """8-byte BLAKE2b digest of the canonical JSON; travels in every chunk header."""
        return hashlib.blake2b(self.to_json().encode(), digest_size=8).digest()

    # ----------------------------------------------------------------- batches
    def check_batch(self, batch: Mapping[str, Any]) -> int:
        """Validate ``batch`` against the spec and return its leading dimension N.

        Raises :class:`SchemaMismatchError` naming the missing/unknown field, or the field
        whose shape or dtype does not fit (dtypes must cast ``same_kind``).
        """
        missing = [n for n in self.names if n not in batch]
        unknown = [n for n in batch if n not in self.names]
        if missing or unknown:
            raise SchemaMismatchError(
                f"batch fields do not match spec: missing {missing}, unknown {unknown}"
            )
        n: int | None = None
        for f in self.fields:
            arr = np.asarray(batch[f.name])
            if arr.ndim != len(f.shape) + 1 or tuple(arr.shape[1:]) != f.shape:
                raise SchemaMismatchError(
                    f"field {f.name!r}: expected shape (N, {', '.join(map(str, f.shape))}) "
                    f"got {arr.shape}"
                )
            if n is None:
                n = int(arr.shape[0])
            elif arr.shape[0] != n:
                raise SchemaMismatchError(
                    f"field {f.name!r} has leading dimension {arr.shape[0]}, other fields have {n}"
                )
            if arr.dtype != f.np_dtype and not np.can_cast(arr.dtype, f.np_dtype, "same_kind"):
                raise SchemaMismatchError(
                    f"field {f.name!r}: dtype {arr.dtype} does not cast to {f.np_dtype}"
                )
        return int(n or 0)

    def empty_batch(self, n: int = 0) -> dict[str, np.ndarray]:
        """A zero-filled batch of ``n`` transitions (handy for tests and buffers)."""
        return {f.name: np.zeros((n, *f.shape), dtype=f.np_dtype) for f in self.fields}
