"""CURVE pairing: only clients in the Pi's allow-list drive anything; the server fails closed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from envs.gopigo_bridge.client import EdgeClient, EdgeUnreachableError
from robot_edge import keys
from robot_edge.server import EdgeConfig, EdgeConfigError, EdgeServer


def test_paired_client_drives(
    make_server: Callable[..., EdgeServer], paired: tuple[Path, Path]
) -> None:
    host, pi = paired
    server = make_server(keys_dir=str(pi))
    with EdgeClient(server.endpoint, timeout_ms=2000, retries=0, keys_dir=host) as c:
        c.reset(seed=1)
        reading = c.step(300.0, 300.0, 100.0)
        assert reading.left_encoder_deg == 30
    assert server.counters.commands_executed == 2


def _try_drive(endpoint: str, **client_kwargs: object) -> None:
    with EdgeClient(endpoint, timeout_ms=300, retries=1, hello=False, **client_kwargs) as c:
        c.hello()
        c.step(500.0, 500.0, 100.0)


def test_unpaired_client_is_refused(
    make_server: Callable[..., EdgeServer], paired: tuple[Path, Path], tmp_path: Path
) -> None:
    _host, pi = paired
    server = make_server(keys_dir=str(pi))
    stranger = tmp_path / "stranger"
    keys.generate(stranger)
    keys.trust(stranger, keys.public_key_path(pi), "pi")  # knows the Pi, but the Pi never paired it
    with pytest.raises(EdgeUnreachableError, match=server.endpoint):
        _try_drive(server.endpoint, keys_dir=stranger)
    assert server.counters.commands_executed == 0
    assert not server.motors_running()


def test_wrong_server_key_is_refused(
    make_server: Callable[..., EdgeServer], paired: tuple[Path, Path], tmp_path: Path
) -> None:
    host, pi = paired
    server = make_server(keys_dir=str(pi))
    impostor = tmp_path / "impostor"
    keys.generate(impostor)
    with pytest.raises(EdgeUnreachableError):
        _try_drive(server.endpoint, keys_dir=host, server_key_file=keys.public_key_path(impostor))
    assert server.counters.commands_executed == 0


def test_plaintext_client_is_refused(
    make_server: Callable[..., EdgeServer], paired: tuple[Path, Path]
) -> None:
    _host, pi = paired
    server = make_server(keys_dir=str(pi))
    with pytest.raises(EdgeUnreachableError):
        _try_drive(server.endpoint)
    assert server.counters.commands_executed == 0


def test_server_fails_closed(tmp_path: Path) -> None:
    # real motors without keys: refused before the GoPiGo3 driver is even imported
    with pytest.raises(EdgeConfigError, match="CURVE is required to drive real motors"):
        EdgeServer(EdgeConfig(backend="gopigo3", bind="tcp://127.0.0.1:0"))
    for backend in ("sim", "gopigo3"):
        with pytest.raises(EdgeConfigError, match="not loopback"):
            EdgeServer(EdgeConfig(backend=backend, bind="tcp://0.0.0.0:0", insecure=True))
    lonely = tmp_path / "lonely"
    keys.generate(lonely)
    with pytest.raises(EdgeConfigError, match="no paired client keys"):
        EdgeServer(EdgeConfig(bind="tcp://127.0.0.1:0", keys_dir=str(lonely)))
    with pytest.raises(keys.KeyFileError, match="no secret key"):
        EdgeServer(EdgeConfig(bind="tcp://127.0.0.1:0", keys_dir=str(tmp_path / "missing")))


def test_pair_cli_two_machine_flow(tmp_path: Path) -> None:
    from robot_edge.pair import main as pair_main

    host, pi = tmp_path / "h", tmp_path / "p"
    assert pair_main(["init", str(host)]) == 0
    assert pair_main(["init", str(pi)]) == 0
    assert pair_main(["trust", str(pi), str(keys.public_key_path(host)), "--name", "host"]) == 0
    assert pair_main(["trust", str(host), str(keys.public_key_path(pi)), "--name", "pi"]) == 0
    assert keys.trusted(pi)["host"] == keys.load_keypair(host)[0]
    assert keys.trusted(host)["pi"] == keys.load_keypair(pi)[0]
    assert (pi / "self.key_secret").stat().st_mode & 0o077 == 0
    assert pair_main(["trust", str(pi), str(tmp_path / "nope.key"), "--name", "x"]) == 2
