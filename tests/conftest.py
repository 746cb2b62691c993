"""Session-wide fixtures: real servers only.

* ``redis_server`` — a private ``redis-server`` on a free port (never the machine's
  own 6379), one per test module; ``redis_url`` is its URL. Tests that need a fresh
  store flush it themselves or use a unique namespace (``namespace`` fixture).
* ``ray_session`` — ``ray.init(num_cpus=2)`` once per test session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from replay.embedded import EmbeddedRedis


@pytest.fixture(scope="module")
def redis_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture()
def redis_url(redis_server: EmbeddedRedis) -> str:
    if not redis_server.running():  # a test may have killed it
        redis_server.start()
    return redis_server.url


@pytest.fixture()
def namespace() -> str:
    """A run namespace unique to one test, so tests sharing a server never collide."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if not ray.is_initialized():
        # address="local": never join a cluster some `ray start` left behind on this machine.
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    yield
    ray.shutdown()
