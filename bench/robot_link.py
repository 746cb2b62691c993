"""Robot link benchmark: step round trip (with and without CURVE), watchdog stop latency,
on-device inference latency. The edge runs as its own process (as on the Pi), sim backend.

    python bench/robot_link.py [--steps 5000] [--repeats 3] [--json PATH]

Peers measured in the same run: a bare ZeroMQ REQ/REP echo of the same frame sizes
(the floor our protocol + simulator add to), and a torch forward pass of the same
network (what the host would spend). The watchdog's peer is ROS diff_drive's
documented 0.5 s cmd_vel timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from envs.gopigo_bridge.client import EdgeClient  # noqa: E402
from robot_edge import protocol as P  # noqa: E402
from robot_edge.pair import main as pair_main  # noqa: E402

ROS_DIFF_DRIVE_TIMEOUT_MS = 500.0


def spawn_edge(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "robot_edge.server",
            "bind=tcp://127.0.0.1:0",
            "log_level=ERROR",
            *args,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"edge did not start: {line!r}")
    return proc, line.split()[1]


def stop_edge(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(10)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def step_rtts_ms(client: EdgeClient, steps: int) -> list[float]:
    client.reset(seed=0)
    out = []
    for i in range(steps):
        t0 = time.perf_counter()
        reading = client.step(150.0, -150.0 if i % 2 else 150.0, 10.0)
        out.append((time.perf_counter() - t0) * 1000.0)
        if reading.bumped:
            client.reset(seed=i)
    return out


def echo_rtts_ms(steps: int, curve: bool) -> list[float]:
    """Bare ZeroMQ REQ/REP in two processes with our frame sizes: the transport floor."""
    code = (
        "import sys, zmq\n"
        "ctx = zmq.Context(); s = ctx.socket(zmq.REP)\n"
        "if sys.argv[1] == '1':\n"
        "    pub, sec = sys.argv[2].encode(), sys.argv[3].encode()\n"
        "    s.curve_secretkey = sec; s.curve_publickey = pub; s.curve_server = True\n"
        "port = s.bind_to_random_port('tcp://127.0.0.1'); print(port, flush=True)\n"
        f"reply = bytes({P.HEADER_SIZE + P.SENSOR.size})\n"
        "while True:\n"
        "    m = s.recv()\n"
        "    if m == b'quit': s.send(b''); break\n"
        "    s.send(reply)\n"
    )
    spub, ssec = zmq.curve_keypair()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "1" if curve else "0", spub.decode(), ssec.decode()],
        stdout=subprocess.PIPE,
        text=True,
    )
    port = int(proc.stdout.readline())  # type: ignore[union-attr]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    if curve:
        cpub, csec = zmq.curve_keypair()
        sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = cpub, csec, spub
    sock.connect(f"tcp://127.0.0.1:{port}")
    req = bytes(P.HEADER_SIZE + P.STEP_REQ.size)
    sock.send(req)
    sock.recv()
    out = []
    for _ in range(steps):
        t0 = time.perf_counter()
        sock.send(req)
        sock.recv()
        out.append((time.perf_counter() - t0) * 1000.0)
    sock.send(b"quit")
    sock.recv()
    sock.close(0)
    ctx.term()
    proc.wait(10)
    return out


def watchdog_ms(client: EdgeClient, trials: int) -> tuple[list[float], list[float]]:
    """(observed from the host, recorded by the edge) ms from last command to motors stopped."""
    observed, recorded = [], []
    client.reset(seed=0)
    for _ in range(trials):
        client.step(100.0, -100.0, 10.0)
        t_cmd = time.perf_counter()
        while True:  # STATUS does not feed the watchdog: the link is silent for motion
            st = client.status()
            if not st.motors_running:
                observed.append((time.perf_counter() - t_cmd) * 1000.0)
                recorded.append(st.last_watchdog_latency_ms)
                break
            time.sleep(0.002)
    return observed, recorded


def inference_us(hidden: list[int], n: int) -> tuple[float, float]:
    """(numpy edge forward, torch forward) median microseconds for one observation."""
    import gymnasium as gym
    import torch

    from agents.dqn.networks import build_q_network, export_for_edge
    from robot_edge.policy import NumpyPolicy

    torch.set_num_threads(1)
    space = gym.spaces.Box(-1, 1, (3,), np.float32)
    model = build_q_network({"arch": "mlp_dueling", "hidden_sizes": hidden}, space, 4)
    policy = NumpyPolicy(*export_for_edge(model))
    obs = np.random.default_rng(0).uniform(-1, 1, 3).astype(np.float32)
    tobs = torch.from_numpy(obs[None])

    def timed(fn) -> float:  # type: ignore[no-untyped-def]
        for _ in range(100):
            fn()
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        return median(samples) * 1e6

    with torch.no_grad():
        return timed(lambda: policy.act(obs)), timed(lambda: model(tobs).argmax())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--watchdog-trials", type=int, default=30)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    res: dict[str, float] = {}
    plain_p50, plain_p99, curve_p50, curve_p99 = [], [], [], []
    echo_p50, echo_p99, echo_curve_p50, echo_curve_p99 = [], [], [], []
    keys = Path(tempfile.mkdtemp(prefix="fsrl-bench-keys-"))
    pair_main(["local", "--host-dir", str(keys / "host"), "--pi-dir", str(keys / "pi")])
    for _ in range(args.repeats):
        proc, ep = spawn_edge("insecure=true")
        try:
            with EdgeClient(ep, timeout_ms=2000) as c:
                rtts = step_rtts_ms(c, args.steps)
        finally:
            stop_edge(proc)
        plain_p50.append(pct(rtts, 50))
        plain_p99.append(pct(rtts, 99))
        proc, ep = spawn_edge(f"keys_dir={keys / 'pi'}")
        try:
            with EdgeClient(ep, timeout_ms=2000, keys_dir=keys / "host") as c:
                rtts = step_rtts_ms(c, args.steps)
        finally:
            stop_edge(proc)
        curve_p50.append(pct(rtts, 50))
        curve_p99.append(pct(rtts, 99))
        echo = echo_rtts_ms(args.steps, curve=False)
        echo_p50.append(pct(echo, 50))
        echo_p99.append(pct(echo, 99))
        echo = echo_rtts_ms(args.steps, curve=True)
        echo_curve_p50.append(pct(echo, 50))
        echo_curve_p99.append(pct(echo, 99))
    res["step_rtt_p50_ms"] = median(plain_p50)
    res["step_rtt_p99_ms"] = median(plain_p99)
    res["step_rtt_curve_p50_ms"] = median(curve_p50)
    res["step_rtt_curve_p99_ms"] = median(curve_p99)
    res["zmq_echo_rtt_p50_ms"] = median(echo_p50)
    res["zmq_echo_rtt_p99_ms"] = median(echo_p99)
    res["zmq_echo_curve_rtt_p50_ms"] = median(echo_curve_p50)
    res["zmq_echo_curve_rtt_p99_ms"] = median(echo_curve_p99)
    res["step_rtt_p50_over_echo"] = res["step_rtt_p50_ms"] / res["zmq_echo_rtt_p50_ms"]
    res["step_rtt_p99_over_echo"] = res["step_rtt_p99_ms"] / res["zmq_echo_rtt_p99_ms"]
    res["curve_overhead_p99_ratio"] = res["step_rtt_curve_p99_ms"] / res["step_rtt_p99_ms"]

    proc, ep = spawn_edge("insecure=true", "watchdog_ms=300")
    try:
        with EdgeClient(ep, timeout_ms=2000) as c:
            observed, recorded = watchdog_ms(c, args.watchdog_trials)
    finally:
        stop_edge(proc)
    res["watchdog_ms"] = 300.0
    res["watchdog_stop_p50_ms"] = pct(recorded, 50)
    res["watchdog_stop_p99_ms"] = pct(recorded, 99)
    res["watchdog_stop_host_observed_p50_ms"] = pct(observed, 50)
    res["watchdog_stop_host_observed_p99_ms"] = pct(observed, 99)
    res["watchdog_p99_over_ros_diff_drive"] = (
        res["watchdog_stop_p99_ms"] / ROS_DIFF_DRIVE_TIMEOUT_MS
    )

    for hidden in ([64, 64], [256, 256]):
        tag = "x".join(map(str, hidden))
        np_us, torch_us = inference_us(hidden, 5000)
        res[f"edge_inference_{tag}_us"] = np_us
        res[f"torch_inference_{tag}_us"] = torch_us
        res[f"edge_over_torch_{tag}"] = np_us / torch_us

    width = max(map(len, res))
    res["load_average_1min_at_end"] = os.getloadavg()[0]
    print(
        f"robot link (loopback, sim backend, {args.steps} steps x {args.repeats} repeats, "
        f"{os.cpu_count()} CPUs)"
    )
    for k, v in res.items():
        print(f"  {k:<{width}}  {v:10.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
