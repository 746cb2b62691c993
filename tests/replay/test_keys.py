"""RunKeys owns every key of a run: what replay writes lands on the documented layout."""

from __future__ import annotations

import dataclasses
import pickle
import re

import numpy as np
import pytest
from replay_testkit import make_batch

from replay import ReplayClient, TableConfig, TransitionSpec
from replay.keys import RunKeys
from replay.registry import ModelRegistry, TagLease
from replay.weights import WeightStore


def _layout(ns: str) -> list[re.Pattern[str]]:
    """The key families of replay.keys' docstring, as patterns."""
    root = re.escape(f"fsrl:{ns}:")
    fams = [
        r"t:replay:(meta|state|writers|bad)",
        r"t:replay:c:\d+",
        r"weights:tags",
        r"weights:q:(next|latest|versions)",
        r"weights:q:v:\d+",
        r"registry:q:(champion|gates|online|lease)",
    ]
    return [re.compile(root + f + "$") for f in fams]


def test_every_key_replay_writes_is_on_the_documented_layout(
    client: ReplayClient, spec: TransitionSpec, redis_url: str, namespace: str
) -> None:
    client.create_table(TableConfig("replay", capacity=100), spec)
    with client.writer("replay", chunk_size=8) as w:
        w.append(make_batch(spec, 0, 20))
    s = client.sampler("replay", seed=0)
    sb = s.sample(16)
    s.update_priorities(sb.ids, np.ones(16))
    store = WeightStore(redis_url, namespace)
    store.publish("q", {"w": np.zeros(2, np.float32)}, {"arch": "x"})
    reg = ModelRegistry(store)
    reg.set_champion("q", 0)
    reg.record_gate("q", 0, True, {})
    reg.record_episodes("q", 0, [1.0])
    lease = TagLease(store.redis, client.keys, "q", owner="me", ttl_s=10).acquire()
    client.redis.sadd(client.keys.table("replay").bad, 1)  # as a sampler counting a bad chunk
    written = sorted(k.decode() for k in client.redis.scan_iter(match=f"fsrl:{namespace}:*"))
    patterns = _layout(namespace)
    assert written and all(any(p.match(k) for p in patterns) for k in written), written
    assert all(any(p.match(k) for k in written) for p in patterns)  # each family used
    lease.release()


def test_run_keys_value_object() -> None:
    k = RunKeys("run-a")
    assert k == RunKeys("run-a") and hash(k) == hash(RunKeys("run-a"))
    assert pickle.loads(pickle.dumps(k)) == k
    with pytest.raises(dataclasses.FrozenInstanceError):
        k.namespace = "b"  # type: ignore[misc]
    assert k.table("replay").chunk(7) == "fsrl:run-a:t:replay:c:7"
    assert k.weights("q").version(3) == "fsrl:run-a:weights:q:v:3"
    assert k.registry("q").lease == "fsrl:run-a:registry:q:lease"
    assert (k.episodes, k.switches, k.actors_stop, k.edge_metrics) == (
        "fsrl:run-a:episodes",
        "fsrl:run-a:actors:switches",
        "fsrl:run-a:actors:stop",
        "fsrl:run-a:edge_metrics",
    )
    assert (k.actor_status(2), k.actor_life(2)) == (
        "fsrl:run-a:actors:2",
        "fsrl:run-a:actors:2:life",
    )
    for bad in ("", "a b", "x{y}", "é"):
        with pytest.raises(ValueError, match="namespace"):
            RunKeys(bad)
    with pytest.raises(ValueError, match="model tag"):
        k.weights("a:b")
