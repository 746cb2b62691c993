"""Issue 13's host-side bad input: Redis URLs checked at config time, passwords kept secret.

* ``replay.redis_url`` with a bad scheme, host, port or db fails in ``conf.load_config``
  (before Ray or Redis is touched), in one line naming the URL with its password masked;
* the embedded Redis has a random password (not on its command line), binds loopback
  and keeps protected mode on; its URL carries the password;
* a run's ``.hydra/*.yaml`` (written by Hydra itself here) and a checkpoint's
  ``config.yaml`` keep no password in clear.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis
import torch
import yaml

import conf
from conf.urls import redact_text, redact_url
from learner.checkpoint import redact_run_dir, save_checkpoint
from replay.embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis://127.0.0.1:notaport/0", "valid port"),
        (f"redis://:{SECRET}@127.0.0.1:notaport/0", "valid port"),
        ("redis://127.0.0.1:6379/zero", "database is a number"),
        ("redis:///0", "with a host"),
        ("redis://127.0.0.1:0/0", "port in 1..65535"),
        ("http://127.0.0.1:6379/0", "redis://"),
        ("unix://", "socket path"),
    ],
)
def test_a_bad_redis_url_fails_at_config_time_naming_it(url: str, why: str) -> None:
    with pytest.raises(ValueError) as err:
        conf.load_config([f"replay.redis_url='{url}'"])
    message = str(err.value)
    assert "replay.redis_url" in message and why in message
    assert redact_url(url) in message and SECRET not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "url",
    ["redis://127.0.0.1:6379/0", f"redis://:{SECRET}@redis:6379/2", "unix:///tmp/r.sock?db=1"],
)
def test_good_redis_urls_pass(url: str) -> None:
    assert conf.load_config([f"replay.redis_url='{url}'"]).replay.redis_url == url


def test_the_embedded_redis_needs_its_random_password() -> None:
    with EmbeddedRedis() as a, EmbeddedRedis() as b:
        assert a.password and b.password and a.password != b.password
        assert f":{a.password}@127.0.0.1:{a.port}/0" in a.url
        cmdline = Path(f"/proc/{a.pid}/cmdline").read_bytes()
        assert a.password.encode() not in cmdline  # not visible in `ps` to other users
        anonymous = redis.Redis(host=a.host, port=a.port, socket_timeout=5)
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        anonymous.close()
        client = redis.Redis.from_url(a.url, socket_timeout=5)
        assert client.ping()
        assert client.config_get("protected-mode") == {"protected-mode": "yes"}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        client.close()


HYDRA_APP = textwrap.dedent(
    """
    import hydra

    @hydra.main(config_path="pkg://conf", config_name="config", version_base="1.3")
    def main(cfg):
        pass

    main()
    """
)


def test_redact_run_dir_masks_what_hydra_wrote(tmp_path: Path) -> None:
    url = f"redis://user:{SECRET}@redis.example:6379/0"
    run_dir = tmp_path / "run"
    subprocess.run(
        [sys.executable, "-c", HYDRA_APP, f"replay.redis_url={url}", f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    files = sorted((run_dir / ".hydra").glob("*.yaml"))
    assert any(SECRET in f.read_text() for f in files)  # what Hydra leaves behind
    changed = redact_run_dir(run_dir)
    assert {p.name for p in changed} >= {"config.yaml", "overrides.yaml", "hydra.yaml"}
    for f in files:
        assert SECRET not in f.read_text(), f
    masked = "redis://user:***@redis.example:6379/0"
    assert (
        yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())["replay"]["redis_url"]
        == masked
    )
    assert f"replay.redis_url={masked}" in yaml.safe_load(
        (run_dir / ".hydra" / "overrides.yaml").read_text()
    )
    assert redact_run_dir(run_dir) == []  # idempotent


def test_a_checkpoint_config_keeps_no_password(tmp_path: Path) -> None:
    config = {"replay": {"redis_url": f"redis://:{SECRET}@10.0.0.5:6379/0"}, "seed": 1}
    path = save_checkpoint(tmp_path, {"w": torch.zeros(2)}, {}, {"updates": 1}, config, keep=1)
    text = (path / "config.yaml").read_text()
    assert SECRET not in text
    assert yaml.safe_load(text)["replay"]["redis_url"] == "redis://:***@10.0.0.5:6379/0"
    assert redact_text(f"x {config['replay']['redis_url']} y") == "x redis://:***@10.0.0.5:6379/0 y"
