"""`make e2e`: a multi-host fsrl cluster on Docker networks (see cluster.py).

These tests run only when ``FSRL_E2E=1`` (what `make e2e` sets); a plain `make test`
deselects them (deselected, not skipped: they are not part of that run). With
``FSRL_E2E=1`` and no working Docker, the session fails at once naming what is missing:
it never skips. Each scenario prints its verdict and figures and appends them to
``out/e2e/verdicts.json``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from cluster import Cluster, require_docker  # noqa: E402
from e2e_report import reset  # noqa: E402

HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: multi-host runs on Docker networks (make e2e)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("FSRL_E2E") == "1":
        return
    mine = [i for i in items if HERE in Path(str(i.fspath)).parents]
    if mine:
        config.hook.pytest_deselected(items=mine)
        items[:] = [i for i in items if i not in mine]


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    require_docker()  # raises (fails every test) where Docker cannot run
    reset()
    t0 = time.monotonic()
    with Cluster(workers=2, worker_cpus=2, cpus_by_host={"w2": 1}) as c:
        # w2 offers 1 CPU: an actor asking for 2 (the robot's) fits on w1 only.
        print(f"\n[e2e] cluster up in {time.monotonic() - t0:.0f} s: {c.prefix}")
        yield c
