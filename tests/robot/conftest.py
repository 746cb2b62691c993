"""Fixtures for the robot link: real edge servers on loopback ZeroMQ, real key pairs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from envs.gopigo_bridge.client import EdgeClient
from robot_edge import keys
from robot_edge.server import EdgeConfig, EdgeServer


@pytest.fixture()
def make_server() -> Iterator[Callable[..., EdgeServer]]:
    """Start in-process edge servers (sim backend, loopback, free port); closed after the test."""
    servers: list[EdgeServer] = []

    def _make(**overrides: object) -> EdgeServer:
        cfg = {"bind": "tcp://127.0.0.1:0", "insecure": True, "log_level": "ERROR"}
        cfg.update(overrides)
        if cfg.get("keys_dir"):
            cfg["insecure"] = False
        server = EdgeServer(EdgeConfig(**cfg)).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield _make
    for s in servers:
        s.close()


@pytest.fixture()
def server(make_server: Callable[..., EdgeServer]) -> EdgeServer:
    return make_server()


@pytest.fixture()
def client(server: EdgeServer) -> Iterator[EdgeClient]:
    with EdgeClient(server.endpoint, timeout_ms=2000, retries=1) as c:
        yield c


@pytest.fixture()
def paired(tmp_path: Path) -> tuple[Path, Path]:
    """(host key home, pi key home), paired with each other by robot_edge.pair."""
    from robot_edge.pair import main as pair_main

    host, pi = tmp_path / "host", tmp_path / "pi"
    assert pair_main(["local", "--host-dir", str(host), "--pi-dir", str(pi)]) == 0
    assert keys.trusted(pi).keys() == {"host"}
    return host, pi
