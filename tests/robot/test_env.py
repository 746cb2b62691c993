"""The bridge env: Gymnasium API, determinism, its own local sim edge, clear link errors."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs.gopigo_bridge  # noqa: F401 - registers fsrl/GoPiGo-v0
from envs.gopigo_bridge.client import EdgeClient, EdgeUnreachableError
from envs.gopigo_bridge.env import GoPiGoEnv
from robot_edge.server import EdgeServer


def test_check_env_passes(server: EdgeServer) -> None:
    env = GoPiGoEnv(endpoint=server.endpoint)
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_same_seed_same_episode(server: EdgeServer) -> None:
    env = GoPiGoEnv(endpoint=server.endpoint)
    try:
        runs = []
        for _ in range(2):
            obs, _ = env.reset(seed=11)
            trace = [obs]
            for a in [0, 0, 1, 0, 2, 0, 0, 3, 0]:
                obs, r, term, trunc, _ = env.step(a)
                trace.append(np.append(obs, r))
                if term:
                    break
            runs.append(np.concatenate(trace))
        np.testing.assert_array_equal(runs[0], runs[1])
        other, _ = env.reset(seed=12)
        assert not np.array_equal(other, runs[0][:3])  # another seed, another start
    finally:
        env.close()


def test_registered_env_starts_and_stops_its_own_sim_edge() -> None:
    env = gym.make("fsrl/GoPiGo-v0")
    try:
        base = env.unwrapped
        assert isinstance(base, GoPiGoEnv)
        local = base._local
        assert (
            local is not None and local.running() and base.endpoint.startswith("tcp://127.0.0.1:")
        )
        obs, _ = env.reset(seed=0)
        assert env.observation_space.contains(obs)
        steps, terminated, truncated, total = 0, False, False, 0.0
        while not (terminated or truncated):
            obs, reward, terminated, truncated, info = env.step(0)  # drive straight on
            total += reward
            steps += 1
        # driving straight either reaches the time limit or bumps (penalty, termination)
        assert steps <= 200 and (truncated or info["bumped"])
        assert total > 0 or info["bumped"]
    finally:
        env.close()
    assert not local.running()


def test_bad_action_is_named(server: EdgeServer) -> None:
    env = GoPiGoEnv(endpoint=server.endpoint)
    try:
        env.reset(seed=0)
        with pytest.raises(ValueError, match="action 7"):
            env.step(7)
    finally:
        env.close()


def test_unreachable_pi_fails_fast_naming_the_endpoint() -> None:
    from replay.embedded import free_port

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(EdgeUnreachableError, match=endpoint):
        GoPiGoEnv(endpoint=endpoint, step_ms=50.0, step_timeout_ms=100, retries=2)
    assert time.monotonic() - t0 < 5.0
    with pytest.raises(ValueError, match="robot.endpoint"):
        GoPiGoEnv(backend="gopigo3")
    with pytest.raises(ValueError, match="step_timeout_ms=100"):
        GoPiGoEnv(endpoint=endpoint, step_ms=100.0, step_timeout_ms=100)


def test_client_reconnects_after_the_edge_restarts(make_server) -> None:  # type: ignore[no-untyped-def]
    first = make_server()
    endpoint = first.endpoint
    client = EdgeClient(endpoint, timeout_ms=300, retries=5)
    try:
        client.reset(seed=0)
        first.close()
        second = make_server(bind=endpoint)  # same port, a fresh service (no sessions)
        reading = client.step(100.0, -100.0, 10.0)  # re-hellos on NO_SESSION
        assert reading.motors_running
        assert second.counters.commands_executed == 1
    finally:
        client.close()


def test_lazy_pirate_recreates_the_socket_after_a_stall(server: EdgeServer) -> None:
    import threading

    client = EdgeClient(server.endpoint, timeout_ms=250, retries=4)
    try:
        client.reset(seed=0)
        held = threading.Event()

        def stall() -> None:  # the edge stalls: requests wait unanswered for 600 ms
            with server._lock:
                held.set()
                time.sleep(0.6)

        staller = threading.Thread(target=stall)
        staller.start()
        held.wait(5)
        reading = client.step(100.0, -100.0, 10.0)
        staller.join()
        assert reading.motors_running
        assert client.reconnects >= 1
        status = client.status()
        # every try ran at most once: executed, or refused as stale when the edge got to it
        # after max_command_age_ms (or dropped with its closed socket)
        tries = client.reconnects + 1
        assert (
            status.commands_executed >= 2 and status.commands_executed + status.errors <= 1 + tries
        )
    finally:
        client.close()
