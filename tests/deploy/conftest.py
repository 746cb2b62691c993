"""Fixtures of the deployment tests: the rendered manifests, the compose file, the renderer."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import yaml
from deploy_helpers import DOCKER_DIR, OVERLAYS, load_render_module, load_rendered


@pytest.fixture(scope="session")
def render_module() -> ModuleType:
    return load_render_module()


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """The overlays as checked in under k8s/rendered/ (test_deploy_render proves them current)."""
    return {name: load_rendered(name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER_DIR / "compose.yaml").read_text())
