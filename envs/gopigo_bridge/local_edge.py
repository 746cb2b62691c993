"""A private ``robot_edge`` sim service in a child process on a free loopback port."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

logger = logging.getLogger(__name__)


class LocalEdge:
    """``python -m robot_edge.server backend=sim`` owned by this process.

    Promises: :attr:`endpoint` answers once :meth:`start` returns; :meth:`stop` is
    idempotent, sends SIGTERM (the edge stops its motors) and kills after a grace time.
    """

    def __init__(self, start_timeout_s: float = 20.0, **edge_args: object) -> None:
        self.start_timeout_s = float(start_timeout_s)
        self.edge_args = {"backend": "sim", "log_level": "ERROR", **edge_args}
        self.endpoint: str | None = None
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> LocalEdge:
        if self._proc is not None:
            return self
        args = [f"{k}={v}" for k, v in self.edge_args.items()]
        cmd = [
            sys.executable,
            "-m",
            "robot_edge.server",
            "bind=tcp://127.0.0.1:0",
            "insecure=true",
            *args,
        ]
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        self._proc = proc
        stdout = proc.stdout
        assert stdout is not None  # stdout=PIPE
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.start_timeout_s)
        if not line or not line[0].startswith("READY "):
            code = proc.poll()
            self.stop()
            raise RuntimeError(
                f"local robot_edge sim did not start within {self.start_timeout_s} s "
                f"(exit code {code}): {' '.join(cmd)}"
            )
        self.endpoint = line[0].split()[1]
        logger.info("local sim edge pid %d on %s", proc.pid, self.endpoint)
        return self

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout_s)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> LocalEdge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
