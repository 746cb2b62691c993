"""Policy over every rendered workload, KubeRay pod templates included: probes,
resources, the restricted security context, Redis' persistence and memory settings,
secrets kept out of git, and the scaling knobs the docs rely on."""

from __future__ import annotations

import re
from typing import Any

import pytest
from deploy_helpers import K8S_DIR, OVERLAYS, containers, find, load_rendered, pod_templates

WORKLOAD_KINDS = {
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Pod",
    "RayCluster",
    "RayJob",
}


def _pods(overlay: str) -> list[tuple[str, dict[str, Any]]]:
    pods = []
    for doc in load_rendered(overlay):
        if doc["kind"] in WORKLOAD_KINDS:
            pods.extend((f"{overlay}:{where}", pod) for where, pod in pod_templates(doc))
    return pods


PODS = [item for overlay in OVERLAYS for item in _pods(overlay)]
CONTAINERS = [(f"{where}/{c['name']}", pod, c) for where, pod in PODS for c in containers(pod)]
IDS = [w for w, _, _ in CONTAINERS]


def test_the_workloads_are_all_there() -> None:
    for overlay in OVERLAYS:
        wheres = {w.split(":", 1)[1] for w, _ in _pods(overlay)}
        assert wheres == {
            "StatefulSet/redis",
            "RayCluster/fsrl/head",
            "RayCluster/fsrl/actors",
            "RayCluster/fsrl/learner",
        }, overlay


@pytest.mark.parametrize(("where", "pod", "container"), CONTAINERS, ids=IDS)
def test_container_has_requests_and_limits(where: str, pod: dict, container: dict) -> None:
    resources = container.get("resources", {})
    for section in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources.get(section, {})), f"{where}: {section}"
    gpus = {k: v for k, v in resources["limits"].items() if k == "nvidia.com/gpu"}
    if gpus:  # extended resources: requests must equal limits
        assert resources["requests"].get("nvidia.com/gpu") == gpus["nvidia.com/gpu"], where


@pytest.mark.parametrize(("where", "pod", "container"), CONTAINERS, ids=IDS)
def test_container_has_readiness_and_liveness(where: str, pod: dict, container: dict) -> None:
    for probe in ("readinessProbe", "livenessProbe"):
        handler = container.get(probe, {})
        assert {"exec", "httpGet", "tcpSocket", "grpc"} & set(handler), f"{where}: {probe}"


def _probe_text(probe: dict[str, Any]) -> str:
    return (
        " ".join(str(x) for x in probe.get("exec", {}).get("command", []))
        + str(probe.get("httpGet", {}))
        + str(probe.get("tcpSocket", {}))
    )


# Redis' own liveness is Redis (a TCP check on its port); every other container's is not.
NON_REDIS = [(w, p, c) for w, p, c in CONTAINERS if "/redis/" not in w + "/"]


@pytest.mark.parametrize(("where", "pod", "container"), NON_REDIS, ids=[w for w, _, _ in NON_REDIS])
def test_liveness_never_depends_on_redis(where: str, pod: dict, container: dict) -> None:
    text = _probe_text(container["livenessProbe"]).lower()
    assert "redis" not in text and "6379" not in text, f"{where}: liveness reaches Redis"


@pytest.mark.parametrize(("where", "pod", "container"), CONTAINERS, ids=IDS)
def test_restricted_security_context(where: str, pod: dict, container: dict) -> None:
    pod_sc = pod.get("securityContext", {})
    sc = container.get("securityContext", {})
    assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, where
    assert sc.get("runAsUser", pod_sc.get("runAsUser", 1)) != 0, where
    assert sc.get("allowPrivilegeEscalation") is False, where
    assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
    assert not sc.get("capabilities", {}).get("add"), where
    assert sc.get("readOnlyRootFilesystem") is True, where
    seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
    assert seccomp.get("type") == "RuntimeDefault", where
    assert sc.get("privileged") is not True, where
    # A read-only root needs somewhere to write: /tmp is a volume in every pod.
    mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
    assert "/tmp" in mounts, f"{where}: no writable /tmp"
    assert pod.get("automountServiceAccountToken") is False, where
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key), f"{where}: {key}"
    for volume in pod.get("volumes", []):
        assert "hostPath" not in volume, f"{where}: hostPath volume {volume['name']}"


@pytest.mark.parametrize(("where", "pod", "container"), CONTAINERS, ids=IDS)
def test_images_are_pinned(where: str, pod: dict, container: dict) -> None:
    image = container["image"]
    tag = image.rsplit("/", 1)[-1].partition("@")[0]
    assert ":" in tag or "@sha256:" in image, f"{where}: {image} has no tag"
    assert not tag.endswith(":latest"), f"{where}: {image}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ray_pods_mount_shared_memory(overlay: str) -> None:
    for where, pod in _pods(overlay):
        if "RayCluster" not in where:
            continue
        vols = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        assert vols[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory", where


# --------------------------------------------------------------------------- Redis


def _redis_settings(overlay: str) -> dict[str, str]:
    """redis.conf as Redis reads it: the file, then the command-line arguments on top."""
    docs = load_rendered(overlay)
    sts = find(docs, "StatefulSet", "redis")
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    config_volume = next(v for v in pod["volumes"] if "configMap" in v)
    config_map = find(docs, "ConfigMap", config_volume["configMap"]["name"])
    args = list(container.get("command", [])) + list(container.get("args", []))
    assert args[0] == "redis-server", args
    conf_path = args[1]
    mount = next(m for m in container["volumeMounts"] if conf_path.startswith(m["mountPath"]))
    assert mount["name"] == config_volume["name"], "redis.conf is not the mounted ConfigMap"
    settings: dict[str, str] = {}
    for line in config_map["data"][conf_path.rsplit("/", 1)[1]].splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            settings[key.lower()] = value.strip()
    rest = args[2:]
    for i in range(0, len(rest), 2):
        assert rest[i].startswith("--"), rest
        settings[rest[i][2:].lower()] = rest[i + 1]
    return settings


def _bytes(value: str) -> int:
    match = re.fullmatch(r"(\d+)(kb|mb|gb|k|m|g|b)?", value.lower().strip('"'))
    assert match, value
    scale = {"k": 1000, "kb": 1024, "m": 10**6, "mb": 1024**2, "g": 10**9, "gb": 1024**3}
    return int(match.group(1)) * scale.get(match.group(2) or "b", 1)


def _quantity(value: str) -> int:
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G)?", str(value))
    assert match, value
    scale = {
        "Ki": 1024,
        "Mi": 1024**2,
        "Gi": 1024**3,
        "Ti": 1024**4,
        "k": 10**3,
        "M": 10**6,
        "G": 10**9,
    }
    return int(match.group(1)) * scale.get(match.group(2) or "", 1)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_persists_with_aof_and_never_evicts(overlay: str) -> None:
    settings = _redis_settings(overlay)
    assert settings["appendonly"] == "yes"
    assert settings["appendfsync"] in ("everysec", "always")
    assert settings["dir"] == "/data"
    assert settings["maxmemory-policy"] == "noeviction"
    maxmemory = _bytes(settings["maxmemory"])
    assert maxmemory > 0
    # The container limit leaves room above maxmemory for the AOF rewrite's fork.
    sts = find(load_rendered(overlay), "StatefulSet", "redis")
    limit = _quantity(
        sts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    )
    assert limit >= 1.25 * maxmemory, (overlay, limit, maxmemory)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_password_comes_from_a_secret(overlay: str) -> None:
    settings = _redis_settings(overlay)
    assert settings["requirepass"] == "$(REDIS_PASSWORD)"
    sts = find(load_rendered(overlay), "StatefulSet", "redis")
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    ref = env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == ("fsrl-redis", "password")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_has_a_volume_a_service_and_a_drainable_pdb(overlay: str) -> None:
    docs = load_rendered(overlay)
    sts = find(docs, "StatefulSet", "redis")
    assert sts["spec"]["replicas"] == 1
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert _quantity(claim["spec"]["resources"]["requests"]["storage"]) > 0
    mounts = {
        m["name"]: m["mountPath"]
        for m in sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    }
    assert mounts["data"] == "/data"
    labels = sts["spec"]["template"]["metadata"]["labels"]
    service = find(docs, "Service", "redis")
    assert service["spec"]["ports"][0]["port"] == 6379
    assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items())
    assert find(docs, "Service", sts["spec"]["serviceName"])["spec"]["clusterIP"] == "None"
    pdb = find(docs, "PodDisruptionBudget", "redis")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    assert all(labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_fsrl_pods_reach_redis(overlay: str) -> None:
    docs = load_rendered(overlay)
    policy = find(docs, "NetworkPolicy", "redis")["spec"]
    redis_labels = find(docs, "StatefulSet", "redis")["spec"]["template"]["metadata"]["labels"]
    assert all(redis_labels.get(k) == v for k, v in policy["podSelector"]["matchLabels"].items())
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert [p["port"] for p in rule["ports"]] == [6379]
    allowed = [peer["podSelector"]["matchLabels"] for peer in rule["from"]]
    cluster = find(docs, "RayCluster", "fsrl")["spec"]
    templates = [cluster["headGroupSpec"]["template"]] + [
        g["template"] for g in cluster["workerGroupSpecs"]
    ]
    for template in templates:
        labels = template["metadata"]["labels"]
        assert any(all(labels.get(k) == v for k, v in sel.items()) for sel in allowed), labels


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_actor_pods_can_hold_the_robot_keys(overlay: str) -> None:
    """The bridge side of `python -m robot_edge.pair`: an optional Secret, read-only."""
    cluster = find(load_rendered(overlay), "RayCluster", "fsrl")["spec"]
    actors = next(g for g in cluster["workerGroupSpecs"] if g["groupName"] == "actors")
    pod = actors["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "robot-keys")["secret"]
    assert volume["secretName"] == "fsrl-robot-keys" and volume["optional"] is True
    assert {i["path"] for i in volume["items"]} == {"self.key", "self.key_secret", "peers/pi.key"}
    assert volume["defaultMode"] & 0o007 == 0  # nothing for "other"
    assert volume["defaultMode"] & 0o040  # the fsGroup (runtime user's group) reads it
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "robot-keys")
    assert mount["readOnly"] is True and mount["mountPath"] == "/etc/fsrl/robot-keys"


# --------------------------------------------------------------------------- secrets


def test_no_secret_is_checked_in() -> None:
    for overlay in OVERLAYS:
        kinds = {d["kind"] for d in load_rendered(overlay)}
        assert "Secret" not in kinds, f"{overlay}: a Secret object is rendered from git"
    pattern = re.compile(r"(requirepass|password)\s*[:=]\s*[\"']?[A-Za-z0-9+/]{8,}", re.I)
    for path in K8S_DIR.rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".conf", ".env", ""):
            for line in path.read_text().splitlines():
                assert not pattern.search(line), f"{path}: looks like a secret: {line!r}"


# --------------------------------------------------------------------------- Ray


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ray_cluster_groups_and_knobs(overlay: str) -> None:
    docs = load_rendered(overlay)
    cluster = find(docs, "RayCluster", "fsrl")
    spec = cluster["spec"]
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"  # the head schedules no actors
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    assert set(groups) == {"actors", "learner"}
    for name, group in groups.items():
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], name
    actors, learner = groups["actors"], groups["learner"]
    actor_limits = actors["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert "nvidia.com/gpu" not in actor_limits
    assert "fsrl-actor" in actors["template"]["spec"]["containers"][0]["image"]
    learner_container = learner["template"]["spec"]["containers"][0]
    assert "fsrl-learner" in learner_container["image"]
    assert learner_container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "fsrl-actor" in head["template"]["spec"]["containers"][0]["image"]
    if overlay == "gpu":
        assert learner["replicas"] == 1
    else:  # dev: CPU only, no GPU pod pending forever
        assert learner["replicas"] == 0


def _training_files(docs: list[dict[str, Any]]) -> dict[str, str]:
    return find(docs, "ConfigMap", "fsrl-training")["data"]


def _overrides(docs: list[dict[str, Any]]) -> dict[str, str]:
    lines = _training_files(docs)["overrides"].splitlines()
    pairs = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    for pair in pairs:
        assert re.fullmatch(r"[A-Za-z0-9_.+~/-]+=\S+", pair), f"not a Hydra override: {pair!r}"
    return dict(p.split("=", 1) for p in pairs)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rayjob_runs_learner_main_with_configmap_overrides(overlay: str) -> None:
    docs = load_rendered(overlay)
    job = find(docs, "RayJob", "fsrl-train")
    spec = job["spec"]
    assert spec["clusterSelector"] == {"ray.io/cluster": "fsrl"}
    assert spec["submissionMode"] == "HTTPMode"
    assert spec["shutdownAfterJobFinishes"] is False  # the cluster outlives the job
    entry = spec["entrypoint"]
    assert entry.startswith("python -m learner.main ")
    assert "ray.address=auto" in entry
    assert "replay.redis_url=redis://:${REDIS_PASSWORD}@redis:6379/0" in entry
    assert "actors.num=$(cat /etc/fsrl/training/actors_num)" in entry
    assert "/etc/fsrl/training/overrides" in entry
    # Ray picks the driver's pod, so every Ray pod has what the entrypoint reads.
    for where, pod in pod_templates(find(docs, "RayCluster", "fsrl")):
        volume = next(
            v for v in pod["volumes"] if v.get("configMap", {}).get("name") == "fsrl-training"
        )
        container = pod["containers"][0]
        mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
        assert mount["mountPath"] == "/etc/fsrl/training", where
        env = {e["name"]: e for e in container["env"]}
        ref = env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == ("fsrl-redis", "password"), where
    files = _training_files(docs)
    assert int(files["actors_num"]) >= 1
    overrides = _overrides(docs)
    # Set by the entrypoint only, never twice.
    assert not {"ray.address", "replay.redis_url", "actors.num"} & set(overrides)
    assert overrides["learner.device"] == ("cuda" if overlay == "gpu" else "cpu")


def test_driver_and_learner_land_on_the_gpu_pod() -> None:
    """The learner trains in the driver: entrypointNumGpus puts it on the only GPU group."""
    docs = load_rendered("gpu")
    assert find(docs, "RayJob", "fsrl-train")["spec"]["entrypointNumGpus"] == 1
    groups = find(docs, "RayCluster", "fsrl")["spec"]
    gpu_groups = [
        g
        for g in groups["workerGroupSpecs"]
        if "nvidia.com/gpu" in g["template"]["spec"]["containers"][0]["resources"]["limits"]
    ]
    assert [g["groupName"] for g in gpu_groups] == ["learner"]
    assert gpu_groups[0]["replicas"] >= 1
    assert gpu_groups[0]["rayStartParams"]["num-cpus"] == "0"  # actors stay off it
    # This placement holds while the learner trains in the driver process. A learner
    # moved into a Ray task/actor asking num_gpus=1 would wait forever behind the
    # driver's reservation of the only GPU: then drop entrypointNumGpus instead.
    sources = [p for d in ("learner", "actors") for p in (K8S_DIR.parent / d).glob("*.py")]
    asking = [str(p) for p in sources if re.search(r"num_gpus\s*=", p.read_text())]
    assert not asking, (
        f"{asking} ask Ray for GPUs: revisit entrypointNumGpus in k8s/base/rayjob.yaml"
    )


def test_dev_driver_runs_on_cpu() -> None:
    spec = find(load_rendered("dev"), "RayJob", "fsrl-train")["spec"]
    assert "entrypointNumGpus" not in spec  # no GPU pod in dev: it would never start
    assert spec["entrypointNumCpus"] >= 1  # not on the head (num-cpus 0)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_actor_slots_fit_the_actor_count(overlay: str) -> None:
    """actors.num Ray actors of num_cpus_per_actor CPUs fit on the actor pods as rendered."""
    docs = load_rendered(overlay)
    group = next(
        g
        for g in find(docs, "RayCluster", "fsrl")["spec"]["workerGroupSpecs"]
        if g["groupName"] == "actors"
    )
    cpus = float(group["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"])
    per_actor = float(_overrides(docs)["actors.num_cpus_per_actor"])
    actors_num = int(_training_files(docs)["actors_num"])
    assert group["replicas"] * int(cpus / per_actor) >= actors_num, (
        overlay,
        group["replicas"],
        cpus,
    )
