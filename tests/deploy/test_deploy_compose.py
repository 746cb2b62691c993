"""docker/compose.yaml parses, interpolates like Docker Compose, runs Redis + Ray head +
N actor nodes + the learner + a simulated robot, and names the entry points that the
Kubernetes manifests and the images use."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from deploy_helpers import DOCKER_DIR, exec_form_modules, find, load_rendered

_VAR = re.compile(
    r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)


class MissingVariable(ValueError):
    """A `${VAR:?message}` whose variable is unset (docker compose refuses to start)."""


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose-file interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, arg = match.group(2), match.group(3) or ""
        value = env.get(name)
        if op in (":-", "-"):
            unset = value is None or (op == ":-" and value == "")
            return arg if unset else value  # type: ignore[return-value]
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise MissingVariable(f"{name}: {arg}")
            return value
        return value or ""

    return _VAR.sub(sub, node)


def _resolved(compose: dict[str, Any], **env: str) -> dict[str, Any]:
    return interpolate(compose, {"FSRL_REDIS_PASSWORD": "pw", **env})


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "redis",
        "ray-head",
        "actor",
        "learner",
        "robot-keys",
        "robot",
    }
    assert set(compose["volumes"]) == {"redis-data", "robot-keys-host", "robot-keys-pi"}


def test_actor_count_is_a_variable(compose: dict[str, Any]) -> None:
    default = _resolved(compose)
    assert "actors.num=4" in default["services"]["learner"]["command"][2]
    assert default["services"]["actor"]["deploy"]["replicas"] == "1"
    scaled = _resolved(compose, FSRL_ACTORS="16", FSRL_ACTOR_NODES="4")
    assert "actors.num=16" in scaled["services"]["learner"]["command"][2]
    assert scaled["services"]["actor"]["deploy"]["replicas"] == "4"
    assert "--num-cpus=4" in scaled["services"]["actor"]["command"]


def test_redis_password_is_required_and_never_written_down(compose: dict[str, Any]) -> None:
    with pytest.raises(MissingVariable, match="FSRL_REDIS_PASSWORD"):
        interpolate(compose, {})
    resolved = _resolved(compose, FSRL_REDIS_PASSWORD="s3cret")
    redis = resolved["services"]["redis"]
    assert redis["command"][redis["command"].index("--requirepass") + 1] == "s3cret"
    # The learner expands the password itself ($$ escapes compose's interpolation).
    command = resolved["services"]["learner"]["command"][2]
    assert "replay.redis_url=redis://:${REDIS_PASSWORD}@redis:6379/0" in command
    assert resolved["services"]["learner"]["environment"]["REDIS_PASSWORD"] == "s3cret"


def test_redis_settings_match_the_cluster(compose: dict[str, Any]) -> None:
    redis = _resolved(compose)["services"]["redis"]
    args = redis["command"]
    settings = {args[i][2:]: args[i + 1] for i in range(1, len(args) - 1, 2)}
    assert settings["appendonly"] == "yes"
    assert settings["maxmemory-policy"] == "noeviction"
    assert settings["maxmemory"] == "2gb"
    docs = load_rendered("gpu")
    k8s_redis = find(docs, "StatefulSet", "redis")["spec"]["template"]["spec"]["containers"][0]
    assert redis["image"] == k8s_redis["image"]
    assert redis["volumes"] == ["redis-data:/data"]


def test_same_images_and_entry_points_as_kubernetes(compose: dict[str, Any]) -> None:
    resolved = _resolved(compose)
    services = resolved["services"]
    for overlay in ("dev", "gpu"):
        docs = load_rendered(overlay)
        k8s_modules = exec_form_modules(docs)
        compose_modules = exec_form_modules(resolved)
        assert k8s_modules, overlay
        assert k8s_modules <= compose_modules, (overlay, k8s_modules, compose_modules)
        job = find(docs, "RayJob", "fsrl-train")["spec"]["entrypoint"]
        learner = services["learner"]["command"][2]
        # The same driver invocation: join the Ray cluster, reach the shared Redis.
        for fragment in (
            "python -m learner.main",
            "ray.address=auto",
            "replay.redis_url=redis://:${REDIS_PASSWORD}@redis:6379/0",
            "actors.num=",
        ):
            assert fragment in job and fragment in learner, fragment
        cluster = find(docs, "RayCluster", "fsrl")["spec"]
        head_image = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
        assert head_image.rsplit("/", 1)[-1].split(":")[0] == "fsrl-actor"
    assert services["ray-head"]["image"].startswith("fsrl-actor:")
    assert services["actor"]["image"].startswith("fsrl-actor:")
    assert services["learner"]["image"].startswith("fsrl-learner:")
    assert services["robot"]["image"].startswith("fsrl-edge:")
    assert services["robot"]["command"][:4] == ["python", "-m", "robot_edge.server", "backend=sim"]
    assert services["robot"]["image"] == services["robot-keys"]["image"]
    for name, dockerfile in (("actor", "actor"), ("learner", "learner"), ("robot-keys", "edge")):
        build = services[name]["build"]
        assert build == {"context": "..", "dockerfile": f"docker/{dockerfile}.Dockerfile"}
        assert (DOCKER_DIR / f"{dockerfile}.Dockerfile").is_file()


def test_ray_nodes_join_the_head(compose: dict[str, Any]) -> None:
    services = _resolved(compose)["services"]
    assert "ray start --head" in services["ray-head"]["command"]
    assert "--num-cpus=0" in services["ray-head"]["command"]  # actors go to actor nodes
    assert "--address=ray-head:6379" in services["actor"]["command"]
    assert "--address=ray-head:6379" in services["learner"]["command"][2]
    assert "--num-cpus=0" in services["learner"]["command"][2]  # as the k8s learner pod
    for name in ("ray-head", "actor", "learner"):
        assert services[name]["shm_size"], name


def test_robot_link_is_curve_paired(compose: dict[str, Any]) -> None:
    """The robot binds beyond loopback, so it needs keys: robot-keys pairs both sides first."""
    services = _resolved(compose)["services"]
    keys = services["robot-keys"]
    assert keys["command"][:4] == ["python", "-m", "robot_edge.pair", "local"]
    host_dir = keys["command"][keys["command"].index("--host-dir") + 1]
    pi_dir = keys["command"][keys["command"].index("--pi-dir") + 1]
    assert f"robot-keys-host:{host_dir}" in keys["volumes"]
    assert f"robot-keys-pi:{pi_dir}" in keys["volumes"]
    robot = services["robot"]
    assert "bind=tcp://0.0.0.0:5555" in robot["command"]
    keys_dir = next(a.split("=", 1)[1] for a in robot["command"] if a.startswith("keys_dir="))
    assert robot["volumes"] == [f"robot-keys-pi:{keys_dir}:ro"]
    assert robot["depends_on"]["robot-keys"]["condition"] == "service_completed_successfully"
    assert f"robot-keys-host:{host_dir}:ro" in services["actor"]["volumes"]
    assert "--pi-dir" not in str(services["actor"]["volumes"])  # the Pi's secret stays with it


def test_every_service_is_locked_down(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service.get("read_only") is True, name
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert "privileged" not in service, name


def test_gpu_override_only_adds_the_device() -> None:
    gpu = yaml.safe_load((DOCKER_DIR / "compose.gpu.yaml").read_text())
    assert set(gpu["services"]) == {"learner"}
    (device,) = gpu["services"]["learner"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
