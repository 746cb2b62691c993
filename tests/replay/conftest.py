"""Fixtures for the replay tests: a client on the module's private redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from replay import ReplayClient, TransitionSpec


@pytest.fixture()
def client(redis_url: str, namespace: str) -> Iterator[ReplayClient]:
    c = ReplayClient(
        redis_url, namespace=namespace, connect_timeout_s=2.0, reconnect_timeout_s=20.0
    )
    yield c
    c.close()


@pytest.fixture()
def spec() -> TransitionSpec:
    return TransitionSpec.standard((4,), np.float32)
