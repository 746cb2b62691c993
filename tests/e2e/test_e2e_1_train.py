"""Training across hosts: CartPole to 475 with the actors on the worker hosts, the sim
robot through the bridge's network (and its link cut mid-motion), Ray client mode with
token authentication through RAY_ADDRESS, and a user's env module shipped by a runtime env."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from cluster import LEARNER_IMAGE, ROBOT_PORT, Cluster, docker
from e2e_report import verdict
from placement import actor_hosts, worker_actor_ids

from replay import ReplayClient

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

WATCHDOG_MS = 300
CUT_ATTEMPTS = 3


def test_cartpole_solves_with_actors_on_worker_hosts(cluster: Cluster) -> None:
    before = worker_actor_ids(cluster)
    run = cluster.learner(
        "cartpole",
        "replay.namespace=cartpole",
        "actors.num=2",
        "actors.num_cpus_per_actor=0.5",
        "budget.target_eval_return=475",
        "budget.wall_time_s=600",
    )
    rc = run.wait(720)
    summary = run.summary()
    hosts = actor_hosts(cluster, since_ids=before)
    workers = cluster.worker_ips()
    head_ip = cluster.ip("head", "ray")
    on_workers = set(hosts) <= set(workers.values()) and head_ip not in hosts
    solved = summary["stop_reason"].startswith("target eval return")
    passed = rc == 0 and solved and on_workers and sum(map(len, hosts.values())) == 2
    verdict(
        "CartPole to 475 across hosts",
        passed,
        summary["stop_reason"],
        wall_s=summary["wall_time_s"],
        env_steps=summary["env_steps"],
        best_eval=summary["best_eval_mean_return"],
        actors_by_node_ip=hosts,
        worker_ips=workers,
        head_ip=head_ip,
    )
    assert passed, run.tail()


def test_sim_robot_through_the_bridge_network_and_link_cut(cluster: Cluster) -> None:
    """The robot is on the robot network only; w1 (the bridge's host) is the one Ray node
    on it, and the one with room for a 2-CPU actor. Mid-run, while the actor is seen
    stepping, w1 is cut from the robot: the robot's own watchdog stops the motors, measured
    on the robot host. A cut that lands while the wheels already stand (between a bump and
    the next step) has nothing to stop; it is recorded and the cut repeated, at most
    ``CUT_ATTEMPTS`` times."""
    before = worker_actor_ids(cluster)
    run = cluster.learner(
        "gopigo",
        "experiment=gopigo",
        "replay.namespace=gopigo",
        f"robot.endpoint=tcp://robot:{ROBOT_PORT}",
        "++env.kwargs.keys_dir=/keys/host",
        f"robot.watchdog_ms={WATCHDOG_MS}",
        "actors.num_cpus_per_actor=2",
        "replay.min_size_to_sample=200",
        "budget.env_steps=8000",  # ~15 s of stepping: room for the cuts and the recovery
        "budget.wall_time_s=150",
        "budget.target_eval_return=null",
    )
    client = ReplayClient(cluster.redis_url_from_here(), namespace="gopigo")
    episodes_key = "fsrl:gopigo:episodes"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and int(client.redis.xlen(episodes_key)) < 2:
        assert run.proc.poll() is None, run.tail()
        time.sleep(0.5)
    episodes_before_cut = int(client.redis.xlen(episodes_key))
    stops: list[float] = []
    cuts: list[dict[str, object]] = []
    for _ in range(CUT_ATTEMPTS):
        # the actor is stepping now: an episode ended within the last ~0.2 s
        seen = int(client.redis.xlen(episodes_key))
        while time.monotonic() < deadline and run.proc.poll() is None:
            time.sleep(0.05)
            if int(client.redis.xlen(episodes_key)) > seen:
                break
        if run.proc.poll() is not None:
            break
        # Cut the bridge's link while the robot drives, then restore it.
        since = time.time()
        cluster.disconnect("w1", "robot")
        time.sleep(2.0)
        cluster.connect("w1", "robot")
        log = subprocess.run(
            ["docker", "logs", "--since", f"{since:.3f}", cluster.cname("robot")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        found = re.findall(r"watchdog: no command for (\d+) ms", log.stdout + log.stderr)
        cuts.append({"at_unix_s": round(since, 3), "watchdog_stops_ms": [float(m) for m in found]})
        if found:
            stops = [float(m) for m in found]
            break
        time.sleep(1.0)  # let the actor reconnect before the next cut
    rc = run.wait(400)
    summary = run.summary()
    hosts = actor_hosts(cluster, since_ids=before)
    w1 = cluster.ip("w1", "ray")
    stop_ok = bool(stops) and stops[0] <= WATCHDOG_MS + 50
    passed = rc == 0 and summary["episodes"] >= 1 and set(hosts) == {w1} and stop_ok
    verdict(
        "sim robot through the bridge; link cut mid-motion",
        passed,
        f"{summary['stop_reason']}; robot watchdog after the cut",
        episodes=summary["episodes"],
        episodes_before_cut=episodes_before_cut,
        env_steps=summary["env_steps"],
        actor_node_ips=sorted(hosts),
        w1_ip=w1,
        watchdog_ms=WATCHDOG_MS,
        stop_after_last_command_ms=stops[:3],
        cuts=cuts,
        limit_ms=WATCHDOG_MS + 50,
    )
    assert passed, run.tail()


def test_token_auth_ray_address_and_user_code(cluster: Cluster) -> None:
    """The cluster runs with Ray's token authentication (RAY_AUTH_MODE=token): the worker
    hosts joined with the token, and a wrong token is refused by the job API. With no
    ray.address, learner.main joins what RAY_ADDRESS names (a private local Ray would put
    the actors on the head). A user's env module, in no image, reaches the workers through
    a runtime env (`ray job submit --working-dir`)."""
    name = "client"
    cluster._run(
        name, "ray", [name],
        ["-e", "RAY_AUTH_MODE=token", "-e", f"RAY_AUTH_TOKEN={cluster.ray_token}",
         "-e", "RAY_ADDRESS=http://head:8265", "-e", "RAY_USAGE_STATS_ENABLED=0",
         LEARNER_IMAGE, "sleep", "infinity"],
    )  # fmt: skip
    # 1. a wrong token is refused (the right one is what the worker hosts joined with)
    bad = subprocess.run(
        ["docker", "exec", "-e", "RAY_AUTH_TOKEN=" + "0" * 64, cluster.cname(name),
         "ray", "job", "list"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    good = subprocess.run(
        ["docker", "exec", cluster.cname(name), "ray", "job", "list"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    refused = bad.returncode != 0 and good.returncode == 0
    # 2. RAY_ADDRESS honoured: no ray.address override
    before = worker_actor_ids(cluster)
    t0 = time.monotonic()
    run = cluster.learner(
        "rayaddress",
        "replay.namespace=rayaddress",
        "actors.num=2",
        "actors.num_cpus_per_actor=0.5",
        "budget.env_steps=3000",
        "budget.target_eval_return=null",
        "replay.min_size_to_sample=500",
        ray_address=None,
        env={"RAY_ADDRESS": f"{cluster.addr('head', 'ray')}:6379"},
    )
    rc = run.wait(400)
    wall = time.monotonic() - t0
    hosts = actor_hosts(cluster, since_ids=before)
    workers = set(cluster.worker_ips().values())
    address_ok = rc == 0 and bool(hosts) and set(hosts) <= workers
    # 3. a user's env module through a runtime env
    before = worker_actor_ids(cluster)
    user_dir = Path(__file__).parent / "user_code"
    docker("cp", str(user_dir), f"{cluster.cname(name)}:/tmp/user_code")
    job = subprocess.run(
        ["docker", "exec", cluster.cname(name),
         "ray", "job", "submit", "--working-dir", "/tmp/user_code", "--",
         "python", "-m", "learner.main", "ray.address=auto",
         f"replay.redis_url={cluster.redis_url}", "replay.namespace=usercode",
         "env.id=e2e_user_env:E2EUser/CartPole-v0", "logging.console=false",
         "logging.tensorboard=false", "hydra.run.dir=/runs/usercode", "actors.num=2",
         "actors.num_cpus_per_actor=0.5", "budget.env_steps=2000",
         "budget.target_eval_return=null", "replay.min_size_to_sample=500"],
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    user_hosts = actor_hosts(cluster, since_ids=before)
    user_summary = cluster.workdir / "runs" / "usercode" / "summary.json"
    user_steps = json.loads(user_summary.read_text())["env_steps"] if user_summary.exists() else 0
    user_ok = job.returncode == 0 and user_steps >= 2000 and set(user_hosts) <= workers
    cluster.remove(name)
    passed = refused and address_ok and user_ok
    verdict(
        "token auth; RAY_ADDRESS honoured; user env via runtime env",
        passed,
        "wrong token refused; RAY_ADDRESS run on the workers; user env module ran there",
        wrong_token_rc=bad.returncode,
        right_token_rc=good.returncode,
        ray_address_rc=rc,
        ray_address_wall_s=round(wall, 1),
        ray_address_actor_ips=sorted(hosts),
        user_job_rc=job.returncode,
        user_env_steps=user_steps,
        user_actor_ips=sorted(user_hosts),
    )
    assert passed, (bad.stdout + bad.stderr)[-1500:] + run.tail() + job.stdout[-3000:]
