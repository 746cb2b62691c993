"""A multi-host fsrl cluster on Docker networks, for `make e2e` and bench/scale_out.py.

Hosts (containers, each with its own address):

* ``redis``: Redis with a password and AOF (``appendfsync everysec``), on the ``data`` network;
* ``head``: the Ray head (no CPUs for Ray, so no actor lands there) that runs
  ``python -m learner.main`` and the learner, on ``ray`` and ``data``;
* ``w1``, ``w2``, ...: Ray worker nodes where the actors run, on ``ray`` and ``data``; ``w1``
  also on ``robot``;
* ``robot``: ``python -m robot_edge.server backend=sim`` with CURVE keys, on ``robot`` only:
  reachable from ``w1`` (the bridge's host, where the robot's actor runs) and ``head``
  (the learner builds the env for its spaces and greedy evaluations), from nowhere else.

Three networks let a fault cut one link and leave the others: ``docker network disconnect
data w2`` partitions w2 from Redis while its Ray traffic goes on. Every container and
network this module creates is recorded by id and removed by :meth:`Cluster.close`.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

VERSION = os.environ.get("FSRL_IMAGE_VERSION", "0.1.0")
ACTOR_IMAGE = os.environ.get("FSRL_ACTOR_IMAGE", f"fsrl-actor:{VERSION}")
LEARNER_IMAGE = os.environ.get("FSRL_LEARNER_IMAGE", f"fsrl-learner:{VERSION}-cpu")
EDGE_IMAGE = os.environ.get("FSRL_EDGE_IMAGE", f"fsrl-edge:{VERSION}")
REDIS_IMAGE = os.environ.get("FSRL_REDIS_IMAGE", "fsrl-e2e-redis:bookworm")
ROBOT_PORT = 5555
RAY_CLIENT_PORT = 10001
OBJECT_STORE_BYTES = 100_000_000
# The head notices a dead worker host within ~3 s instead of Ray's default ~30 s.
HEAD_ENV = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


class DockerError(RuntimeError):
    """A docker command failed; the message holds the command and its output."""


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    """Run ``docker ARGS``; its stdout. Raises :class:`DockerError` naming the command."""
    cmd = ["docker", *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise DockerError(f"{' '.join(cmd)}: no answer within {timeout} s") from exc
    if check and done.returncode != 0:
        raise DockerError(f"{' '.join(cmd)} -> {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


def require_docker() -> None:
    """Fail loudly (never skip) where Docker cannot run, or an image is missing."""
    if shutil.which("docker") is None:
        raise DockerError("no docker client on PATH: run `make images` (it installs docker.io)")
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        raise DockerError(f"docker daemon not answering (`docker info`): {probe.stderr.strip()}")
    for image in (ACTOR_IMAGE, LEARNER_IMAGE, EDGE_IMAGE, REDIS_IMAGE):
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode:
            raise DockerError(f"image {image} missing: run `make images` first")


@dataclass
class Run:
    """One ``python -m learner.main`` started in a container (``docker exec``)."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    run_dir: Path  # on this machine (bind-mounted into the head at /runs)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise TimeoutError(f"run {self.name} still going after {timeout:.0f} s") from None

    def summary(self) -> dict[str, Any]:
        path = self.run_dir / "summary.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no summary; log tail:\n{self.tail()}")
        return dict(json.loads(path.read_text()))

    def metrics(self) -> list[dict[str, Any]]:
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


@dataclass
class Cluster:
    """Networks and containers of one e2e session; :meth:`close` removes them by id."""

    workers: int = 2
    worker_cpus: int = 2  # what each worker node offers Ray (--num-cpus): scheduling, not CPU
    cpus_by_host: dict[str, int] = field(default_factory=dict)  # per-host --num-cpus overrides
    worker_cpu_quota: float | None = None  # docker --cpus per worker host
    robot: bool = True
    prefix: str = field(default_factory=lambda: f"fsrl-e2e-{uuid.uuid4().hex[:6]}")
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    ray_token: str = field(default_factory=lambda: secrets.token_hex(32))
    containers: dict[str, str] = field(default_factory=dict)  # name -> id
    networks: dict[str, str] = field(default_factory=dict)  # name -> id
    subnets: dict[str, str] = field(default_factory=dict)  # name -> "10.x.y"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fsrl-e2e-")))
    _runs: list[Run] = field(default_factory=list)

    # ------------------------------------------------------------------ names
    def cname(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def net(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    @property
    def redis_url(self) -> str:
        """The URL the containers use (``redis`` resolves on the data network)."""
        return f"redis://:{self.password}@redis:6379/0"

    def redis_url_from_here(self) -> str:
        """The URL this machine uses: the Redis container's address on the data network."""
        return f"redis://:{self.password}@{self.ip('redis', 'data')}:6379/0"

    # ------------------------------------------------------------------ bring-up
    def up(self) -> Cluster:
        require_docker()
        (self.workdir / "runs").mkdir(parents=True, exist_ok=True)
        for name in ("ray", "data", "robot"):
            self._create_network(name)
        self.start_redis()
        self.start_head()
        for i in range(1, self.workers + 1):
            self.start_worker(f"w{i}")
        if self.robot:
            self.start_robot()
        self.wait_nodes(self.workers)
        return self

    def _create_network(self, name: str) -> None:
        """A network with a subnet of our own, so every host has a fixed address on it
        (Ray advertises the ray-network address, whatever the container's default route)."""
        last: Exception | None = None
        for _ in range(20):
            subnet = f"10.{random.randint(100, 250)}.{random.randint(0, 255)}"
            try:
                self.networks[name] = docker(
                    "network", "create", "--label", f"fsrl-e2e={self.prefix}",
                    "--subnet", f"{subnet}.0/24", self.net(name),
                )  # fmt: skip
                self.subnets[name] = subnet
                return
            except DockerError as exc:  # overlaps a network that exists: another subnet
                last = exc
        raise DockerError(f"cannot create network {self.net(name)}: {last}")

    def addr(self, host: str, network: str) -> str:
        """The fixed address of ``host`` on ``network``."""
        if host.startswith("w") and host[1:].isdigit():
            last = 10 + int(host[1:])
        else:
            last = {"head": 2, "redis": 3, "robot": 4, "client": 5}[host]
        return f"{self.subnets[network]}.{last}"

    def _run(self, host: str, network: str, aliases: list[str], args: list[str]) -> str:
        name = self.cname(host)
        cid = docker(
            "run", "-d", "--name", name, "--hostname", host, "--network", self.net(network),
            "--ip", self.addr(host, network),
            *[a for al in aliases for a in ("--network-alias", al)],
            "--label", f"fsrl-e2e={self.prefix}", *args,
        )  # fmt: skip
        self.containers[host] = cid
        return cid

    def connect(self, host: str, network: str) -> None:
        # No alias: "head" resolves to its ray-network address only, where Ray listens.
        docker(
            "network", "connect", "--ip", self.addr(host, network), self.net(network),
            self.cname(host),
        )  # fmt: skip

    def disconnect(self, host: str, network: str) -> None:
        docker("network", "disconnect", self.net(network), self.cname(host))

    def start_redis(self) -> None:
        self._run(
            "redis", "data", ["redis"],
            ["--memory", "512m", REDIS_IMAGE, "redis-server", "--appendonly", "yes",
             "--appendfsync", "everysec", "--save", "", "--dir", "/data",
             "--requirepass", self.password, "--maxmemory", "400mb",
             "--maxmemory-policy", "noeviction"],
        )  # fmt: skip
        self._wait(lambda: self.redis_cli("PING") == "PONG", 30, "redis answers PING")

    def redis_cli(self, *args: str) -> str:
        return docker(
            "exec", "-e", f"REDISCLI_AUTH={self.password}", self.cname("redis"),
            "redis-cli", *args, check=False,
        ).strip()  # fmt: skip

    def _ray_env(self) -> list[str]:
        env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.ray_token}
        env.update({"RAY_USAGE_STATS_ENABLED": "0", "REDIS_PASSWORD": self.password})
        return [x for k, v in env.items() for x in ("-e", f"{k}={v}")]

    def start_head(self) -> None:
        runs = self.workdir / "runs"
        os.chown(runs, 1000, 1000)
        self._run(
            "head", "ray", ["head"],
            ["--shm-size", "256m", "-v", f"{runs}:/runs", *self._ray_env(), *self._key_mount(),
             *[x for k, v in HEAD_ENV.items() for x in ("-e", f"{k}={v}")],
             LEARNER_IMAGE, "ray", "start", "--head", "--block", "--port=6379",
             f"--node-ip-address={self.addr('head', 'ray')}",
             "--num-cpus=0", f"--object-store-memory={OBJECT_STORE_BYTES}",
             "--dashboard-host=0.0.0.0", f"--ray-client-server-port={RAY_CLIENT_PORT}"],
        )  # fmt: skip
        self.connect("head", "data")
        if self.robot:  # the learner evaluates on the robot (and reads its spaces) too
            self.connect("head", "robot")
        # A worker's `ray start` gives up when the head is not registered in its GCS yet.
        self._wait(
            lambda: any(n["head"] and n["state"] == "ALIVE" for n in self.ray_state()["nodes"]),
            180,
            "the Ray head up",
            period=2.0,
        )

    def _key_mount(self) -> list[str]:
        return ["-v", f"{self.keys_dir()}/host:/keys/host:ro"] if self.robot else []

    def start_worker(self, host: str, cpus: int | None = None) -> None:
        args = ["--shm-size", "256m", *self._ray_env()]
        if self.worker_cpu_quota:
            args += ["--cpus", str(self.worker_cpu_quota)]
        if host == "w1":
            args += self._key_mount()
        self._run(
            host, "ray", [host],
            [*args, ACTOR_IMAGE, "ray", "start", f"--address={self.addr('head', 'ray')}:6379",
             "--block",
             f"--node-ip-address={self.addr(host, 'ray')}",
             f"--num-cpus={cpus or self.cpus_by_host.get(host, self.worker_cpus)}",
             f"--object-store-memory={OBJECT_STORE_BYTES}"],
        )  # fmt: skip
        self.connect(host, "data")
        if host == "w1" and self.robot:
            self.connect(host, "robot")

    def keys_dir(self) -> Path:
        """CURVE key homes of the bridge's host (host/) and the robot (pi/), made once."""
        keys = self.workdir / "keys"
        if not keys.exists():
            subprocess.run(
                [os.environ.get("FSRL_PYTHON", "python3"), "-m", "robot_edge.pair", "local",
                 "--host-dir", str(keys / "host"), "--pi-dir", str(keys / "pi")],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            for root, dirs, files in os.walk(keys):
                for n in [root, *[os.path.join(root, d) for d in dirs + files]]:
                    os.chown(n, 1000, 1000)
        return keys

    def start_robot(self, watchdog_ms: int = 300) -> None:
        self._run(
            "robot", "robot", ["robot"],
            ["-v", f"{self.keys_dir()}/pi:/keys:ro", EDGE_IMAGE, "python", "-m",
             "robot_edge.server", "backend=sim", f"bind=tcp://0.0.0.0:{ROBOT_PORT}",
             "keys_dir=/keys", f"watchdog_ms={watchdog_ms}"],
        )  # fmt: skip

    # ------------------------------------------------------------------ state
    def ip(self, host: str, network: str) -> str:
        fmt = "{{json .NetworkSettings.Networks}}"
        nets = json.loads(docker("inspect", "-f", fmt, self.cname(host)))
        return str(nets[self.net(network)]["IPAddress"])

    def ray_state(self) -> dict[str, Any]:
        """Ray's own view, from the head: nodes (id, IP, alive) and actors (class, node, state)."""
        code = (
            "import json, ray\n"
            "from ray.util.state import list_actors, list_nodes\n"
            "ray.init(address='auto', logging_level='ERROR')\n"
            "n = [dict(id=x.node_id, ip=x.node_ip, state=x.state, head=x.is_head_node)"
            " for x in list_nodes(limit=1000)]\n"
            "a = [dict(id=x.actor_id, cls=x.class_name, node=x.node_id, state=x.state,"
            " restarts=getattr(x, 'num_restarts', None), pid=x.pid)"
            " for x in list_actors(limit=10000, detail=True)]\n"
            "print('STATE' + json.dumps(dict(nodes=n, actors=a)))\n"
        )
        out = docker("exec", self.cname("head"), "python", "-c", code, timeout=90)
        line = next(ln for ln in out.splitlines() if ln.startswith("STATE"))
        return dict(json.loads(line[len("STATE") :]))

    def alive_workers(self) -> list[dict[str, Any]]:
        nodes = self.ray_state()["nodes"]
        return [n for n in nodes if n["state"] == "ALIVE" and not n["head"]]

    def wait_nodes(self, n: int, timeout: float = 180) -> None:
        self._wait(lambda: len(self.alive_workers()) >= n, timeout, f"{n} worker nodes alive")

    def worker_ips(self) -> dict[str, str]:
        """Worker host name -> its address on the ray network (the IP Ray reports)."""
        return {h: self.ip(h, "ray") for h in self.containers if h.startswith("w")}

    def _wait(self, ok: Any, timeout: float, what: str, period: float = 1.0) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if ok():
                    return
            except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
                last = exc
            time.sleep(period)
        raise TimeoutError(f"{what}: not within {timeout:.0f} s (last error: {last})")

    # ------------------------------------------------------------------ runs and faults
    def learner(
        self,
        name: str,
        *overrides: str,
        host: str = "head",
        env: dict[str, str] | None = None,
        ray_address: str | None = "auto",
    ) -> Run:
        """Start ``python -m learner.main`` on ``host`` (a Ray node), its run dir /runs/NAME;
        ``ray_address=None`` passes no ``ray.address`` (RAY_ADDRESS then decides)."""
        run_dir = self.workdir / "runs" / name
        log = self.workdir / f"{name.replace('/', '_')}.log"
        args = [
            "python", "-m", "learner.main",
            *([f"ray.address={ray_address}"] if ray_address else []),
            f"replay.redis_url=redis://:{self.password}@redis:6379/0",
            "logging.console=false", "logging.tensorboard=false",
            f"hydra.run.dir=/runs/{name}", *overrides,
        ]  # fmt: skip
        extra = [x for k, v in (env or {}).items() for x in ("-e", f"{k}={v}")]
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                ["docker", "exec", *extra, self.cname(host), *args],
                stdout=fh, stderr=subprocess.STDOUT,
            )  # fmt: skip
        run = Run(name, proc, log, run_dir)
        self._runs.append(run)
        return run

    def kill(self, host: str) -> None:
        docker("kill", self.cname(host))

    def docker_restart(self, host: str) -> None:
        docker("restart", "-t", "10", self.cname(host), timeout=90)

    def remove(self, host: str) -> None:
        cid = self.containers.pop(host, None)
        if cid:
            docker("rm", "-f", cid, check=False)

    def logs(self, host: str) -> str:
        done = subprocess.run(
            ["docker", "logs", self.cname(host)], capture_output=True, text=True, timeout=60
        )
        return done.stdout + done.stderr

    def close(self) -> None:
        """Remove every container and network of this cluster (by id), then the workdir."""
        for run in self._runs:
            if run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait(10)
        for cid in self.containers.values():
            docker("rm", "-f", "-v", cid, check=False, timeout=60)
        self.containers.clear()
        for nid in self.networks.values():
            docker("network", "rm", nid, check=False)
        self.networks.clear()
        if os.environ.get("FSRL_E2E_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        try:
            return self.up()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()
