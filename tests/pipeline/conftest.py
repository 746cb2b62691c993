"""Helpers for the pipeline tests: configs for short runs on the test Redis."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import conf
from conf.schema import Config


@pytest.fixture()
def run_cfg(redis_url: str, namespace: str) -> Callable[..., Config]:
    """``run_cfg(*overrides)``: the smoke preset on the test Redis and namespace."""

    def make(*overrides: str, ns: str | None = None) -> Config:
        return conf.load_config(
            [
                "experiment=smoke",
                f"replay.redis_url={redis_url}",
                f"replay.namespace={ns or namespace}",
                *overrides,
            ]
        )

    return make
