"""``fsrl replay ls|rm NAMESPACE`` against a real redis-server: tables with sizes, tags with
versions; rm only with --yes and never touching another namespace (also one sharing the prefix)."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from replay import ReplayClient, TableConfig, TransitionSpec
from replay.admin import inspect, main, namespaces
from replay.weights import WeightStore


def _fill(url: str, namespace: str, n: int) -> None:
    spec = TransitionSpec.standard((4,), np.float32)
    with ReplayClient(url, namespace=namespace, connect_timeout_s=2) as client:
        client.create_table(TableConfig(name="replay", capacity=1000, min_size_to_sample=1), spec)
        batch = {
            name: np.zeros((n, *f.shape), f.dtype)
            for name, f in zip(spec.names, spec.fields, strict=True)
        }
        with client.writer("replay", chunk_size=8) as w:
            w.append(batch)
    with WeightStore(url, namespace, history=2) as store:
        for _ in range(3):
            store.publish("cp-mlp", {"w": np.zeros(3, np.float32)}, {"arch": "mlp_dueling"})
    r = redis.Redis.from_url(url)
    r.hset(f"fsrl:{namespace}:actors:0:life", "env_steps", 5)
    r.xadd(f"fsrl:{namespace}:logs", {"line": "{}"})
    r.close()


def test_ls_then_rm_with_confirmation(
    redis_url: str, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(redis_url, namespace, 40)
    _fill(redis_url, f"{namespace}:2", 16)  # shares the prefix: must survive rm of namespace
    assert {namespace, f"{namespace}:2"} <= set(namespaces(redis.Redis.from_url(redis_url)))

    assert main(["--redis-url", redis_url, "ls", namespace]) == 0
    out = capsys.readouterr().out
    assert f"namespace {namespace!r}" in out
    assert "replay" in out and "40 / 1,000 transitions" in out
    assert "cp-mlp" in out and "versions 1,2 (2 kept), latest 2" in out
    assert "actors 1" in out and "logs 1" in out

    assert main(["--redis-url", redis_url, "rm", namespace]) == 1  # no --yes: nothing goes
    assert "pass --yes" in capsys.readouterr().err
    r = redis.Redis.from_url(redis_url)
    assert inspect(r, namespace).tables[0].size == 40

    assert main(["--redis-url", redis_url, "rm", namespace, "--yes"]) == 0
    assert "removed" in capsys.readouterr().out
    assert not inspect(r, namespace).keys
    other = inspect(r, f"{namespace}:2")
    assert other.tables[0].size == 16 and other.tags[0].latest == 2
    r.close()


def test_unreachable_redis_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--redis-url", "redis://127.0.0.1:1/0", "ls"]) == 2
    assert "redis://127.0.0.1:1/0" in capsys.readouterr().err
