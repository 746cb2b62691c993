"""Weight relay: store versions reach the Pi (refused ones don't), metrics flow back per version."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import redis
import torch

from agents.dqn.networks import build_q_network, export_for_edge
from envs.gopigo_bridge.client import EdgeClient
from envs.gopigo_bridge.relay import WeightRelay, metrics_by_version, metrics_stream
from replay.weights import WeightStore
from robot_edge import protocol as P
from robot_edge.server import EdgeServer

SPACE = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)


def _weights(seed: int, forward_bias: float) -> tuple[dict, dict]:
    torch.manual_seed(seed)
    model = build_q_network({"arch": "mlp_dueling", "hidden_sizes": [16]}, SPACE, 4)
    tensors, meta = export_for_edge(model)
    tensors["advantage.0.bias"] = np.array([forward_bias, 0.0, 0.0, -1.0], np.float32)
    return tensors, meta


def test_relay_pushes_versions_and_streams_metrics(
    server: EdgeServer, client: EdgeClient, redis_url: str, namespace: str
) -> None:
    store = WeightStore(redis_url, namespace)
    relay = WeightRelay(store, "gopigo-mlp", client, redis_url, namespace, poll_interval_s=0.05)
    try:
        assert not relay.push_latest()  # nothing published yet
        v1 = store.publish("gopigo-mlp", *_weights(0, 5.0))
        assert relay.push_latest() and relay.pushed_version == v1 == server.policy_version
        assert not relay.push_latest()  # unchanged: one GET, no push
        relay.drive(40, step_ms=100.0, max_episode_steps=10)
        assert relay.forward_metrics() >= 3

        # a version the robot cannot run (wrong observation size) is refused once, v1 stays
        torch.manual_seed(1)
        bad = build_q_network(
            {"arch": "mlp_dueling", "hidden_sizes": [8]}, gym.spaces.Box(-1, 1, (9,), np.float32), 4
        )
        v2 = store.publish("gopigo-mlp", *export_for_edge(bad))
        assert not relay.push_latest() and relay.refused == 1
        assert not relay.push_latest() and relay.refused == 1  # not retried
        assert server.policy_version == v1
        relay.drive(12, step_ms=100.0, max_episode_steps=10)

        before = relay.forward_metrics() + relay.episodes_forwarded
        v3 = store.publish("gopigo-mlp", *_weights(2, 5.0))
        relay.start(drive_steps_per_poll=5)
        deadline = 0
        while server.policy_version != v3 and deadline < 200:
            relay._stop.wait(0.02)
            deadline += 1
        assert server.policy_version == v3 > v2
        while relay.episodes_forwarded < before + 2 and deadline < 400:
            relay._stop.wait(0.02)
            deadline += 1
    finally:
        relay.stop()
        store.close()

    r = redis.Redis.from_url(redis_url)
    entries = r.xrange(metrics_stream(namespace))
    r.close()
    fields = {k.decode(): v.decode() for k, v in entries[0][1].items()}
    assert fields["protocol_version"] == str(P.PROTOCOL_VERSION)
    assert fields["model_tag"] == "gopigo-mlp" and fields["policy_version"] == str(v1)
    assert fields["ended_by"] in ("bump", "time_limit", "policy_change", "host_reset")
    per_version = metrics_by_version(redis_url, namespace)
    assert v1 in per_version and v3 in per_version and v2 not in per_version
    assert per_version[v1]["episodes"] >= 3 and per_version[v1]["mean_length"] > 0
