"""The chunk codec: bit-exact round trips and rejection of damaged chunks."""

from __future__ import annotations

import numpy as np
import pytest

from replay import FieldSpec, MalformedChunkError, TransitionSpec
from replay.codec import HEADER_SIZE, PROTOCOL_VERSION, decode_chunk, decode_header, encode_chunk


def _all_dtypes_spec() -> TransitionSpec:
    return TransitionSpec(
        (
            FieldSpec("b", (), np.bool_),
            FieldSpec("u8", (3, 2), np.uint8),
            FieldSpec("i32", (5,), np.int32),
            FieldSpec("i64", (), np.int64),
            FieldSpec("f32", (2, 3, 4), np.float32),
            FieldSpec("f64", (7,), np.float64),
            FieldSpec("obs/board", (20, 10), np.uint8),
        )
    )


def _random_batch(spec: TransitionSpec, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for f in spec.fields:
        shape = (n, *f.shape)
        if f.np_dtype.kind == "b":
            out[f.name] = rng.random(shape) < 0.5
        elif f.np_dtype.kind in "iu":
            info = np.iinfo(f.np_dtype)
            out[f.name] = rng.integers(
                info.min, info.max, size=shape, dtype=f.np_dtype, endpoint=True
            )
        else:  # arbitrary bit patterns, NaN payloads and infinities included
            raw = rng.integers(0, 256, size=(*shape, f.np_dtype.itemsize), dtype=np.uint8)
            out[f.name] = raw.view(f.np_dtype).reshape(shape)
    return out


def _to_records(spec: TransitionSpec, batch: dict[str, np.ndarray], n: int) -> np.ndarray:
    rec = np.zeros(n, dtype=spec.record_dtype)
    for name, arr in batch.items():
        rec[name] = arr
    return rec


@pytest.mark.parametrize("n", [1, 7, 256])
def test_round_trip_is_bit_exact_for_every_dtype(n: int) -> None:
    spec = _all_dtypes_spec()
    batch = _random_batch(spec, n, np.random.default_rng(n))
    prio = np.random.default_rng(0).random(n).astype(np.float32)
    blob = encode_chunk(spec, _to_records(spec, batch, n), prio, b"w" * 8, 3)
    header, prio_out, out = decode_chunk(blob, spec)
    assert (header.n, header.writer_id, header.writer_seq) == (n, b"w" * 8, 3)
    assert header.protocol_version == PROTOCOL_VERSION
    np.testing.assert_array_equal(prio_out, prio)
    assert set(out) == set(batch)
    for name, arr in batch.items():
        assert out[name].dtype == arr.dtype and out[name].shape == arr.shape, name
        assert out[name].flags.c_contiguous
        assert out[name].tobytes() == np.ascontiguousarray(arr).tobytes(), name  # bit-exact


def test_decode_without_spec_uses_the_embedded_schema() -> None:
    spec = TransitionSpec.standard({"board": ((20, 10), np.uint8), "piece": ((), np.int64)})
    batch = _random_batch(spec, 5, np.random.default_rng(1))
    blob = encode_chunk(spec, _to_records(spec, batch, 5), np.ones(5))
    _, _, out = decode_chunk(blob)
    assert list(out) == list(spec.names)
    assert "obs/board" in out and "next_obs/piece" in out
    np.testing.assert_array_equal(out["obs/board"], batch["obs/board"])


def test_record_layout_is_aligned() -> None:
    spec = _all_dtypes_spec()
    dt = spec.record_dtype
    for name in dt.names:
        base = dt.fields[name][0].base
        assert dt.fields[name][1] % base.itemsize == 0, name
    assert dt.itemsize % 8 == 0


@pytest.mark.parametrize(
    "damage",
    ["truncate", "magic", "version", "header_bit", "body_bit", "schema", "extra_byte"],
)
def test_damaged_chunks_are_rejected(damage: str) -> None:
    spec = _all_dtypes_spec()
    batch = _random_batch(spec, 4, np.random.default_rng(2))
    blob = bytearray(encode_chunk(spec, _to_records(spec, batch, 4), np.ones(4)))
    if damage == "truncate":
        blob = blob[:-1]
    elif damage == "magic":
        blob[0:4] = b"JUNK"
    elif damage == "version":
        blob[4] ^= 0xFF
    elif damage == "header_bit":
        blob[17] ^= 0x01  # row count
    elif damage == "body_bit":
        blob[-3] ^= 0x10
    elif damage == "schema":
        other = TransitionSpec((FieldSpec("x", (), np.float32),))
        with pytest.raises(MalformedChunkError, match="differs from the expected"):
            decode_chunk(bytes(blob), other)
        return
    elif damage == "extra_byte":
        blob += b"\0"
    with pytest.raises(MalformedChunkError):
        decode_chunk(bytes(blob), spec)


def test_header_is_checked_on_its_own() -> None:
    spec = TransitionSpec.standard((4,), np.float32)
    blob = bytearray(encode_chunk(spec, np.zeros(2, dtype=spec.record_dtype), np.ones(2)))
    assert decode_header(bytes(blob[:HEADER_SIZE])).n == 2
    blob[40] ^= 1  # writer seq, covered by the header crc
    with pytest.raises(MalformedChunkError, match="checksum"):
        decode_header(bytes(blob))


def test_spec_helpers_build_standard_columns() -> None:
    spec = TransitionSpec.standard((84, 84, 4), np.uint8)
    assert spec.names == (
        "obs", "action", "reward", "discount", "next_obs", "terminated", "truncated",
        "n_steps", "policy_version", "actor_id",
    )  # fmt: skip
    assert spec["terminated"].dtype == "|b1" and spec["truncated"].dtype == "|b1"
    assert spec["obs"].shape == (84, 84, 4) and spec["action"].dtype == "<i8"
    assert TransitionSpec.from_json(spec.to_json()) == spec
    assert TransitionSpec.from_json(spec.to_json()).digest == spec.digest

    gym = pytest.importorskip("gymnasium")
    box = gym.spaces.Box(0, 1, (4,), np.float32)
    s2 = TransitionSpec.from_spaces(box, gym.spaces.Discrete(2))
    assert s2 == TransitionSpec.standard((4,), np.float32)
    d = gym.spaces.Dict(
        {"board": gym.spaces.Box(0, 1, (20, 10), np.uint8), "piece": gym.spaces.Discrete(7)}
    )
    s3 = TransitionSpec.from_spaces(d, gym.spaces.Discrete(40))
    assert {"obs/board", "obs/piece", "next_obs/board", "next_obs/piece"} <= set(s3.names)


def test_bad_batches_name_the_field() -> None:
    spec = TransitionSpec.standard((4,), np.float32)
    batch = spec.empty_batch(3)
    batch["obs"] = np.zeros((3, 5), np.float32)
    with pytest.raises(ValueError, match="'obs'"):
        spec.check_batch(batch)
    batch = spec.empty_batch(3)
    del batch["reward"]
    with pytest.raises(ValueError, match="reward"):
        spec.check_batch(batch)
    batch = spec.empty_batch(3)
    batch["action"] = np.zeros(3, np.float64)
    with pytest.raises(ValueError, match="'action'"):
        spec.check_batch(batch)
