"""Process-level start-up and shutdown of a run: signals and Ray.

Promises: inside :class:`Signals`, SIGTERM raises :class:`StopRun` and Ctrl-C raises
``KeyboardInterrupt`` in the main thread, so a run unwinds the same way on both; a
second signal during teardown is ignored (:func:`ignore_signals`); :func:`start_ray`
starts a private local Ray (or joins ``ray.address``) and says whether this process
must shut it down.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import ray

from learner.preflight import resolve_ray_address


class StopRun(Exception):
    """Raised in the main thread by SIGTERM so the run unwinds like on Ctrl-C."""


class Signals:
    """SIGTERM (and SIGINT) → StopRun/KeyboardInterrupt in the main thread, restored on exit."""

    def __init__(self) -> None:
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Signals:
        self.arm()
        return self

    def arm(self) -> None:
        """Install the handlers (again: ``ray.init`` installs its own fatal SIGTERM handler)."""
        if threading.current_thread() is not threading.main_thread():
            return

        def on_term(signum: int, frame: Any) -> None:
            raise StopRun(f"signal {signum}")

        for sig, handler in (
            (signal.SIGTERM, on_term),
            (signal.SIGINT, signal.default_int_handler),
        ):
            old = signal.signal(sig, handler)
            self._old.setdefault(sig, old)

    def __exit__(self, *exc: object) -> None:
        restore_signals(self._old)


def ignore_signals() -> dict[int, Any]:
    """Block a second Ctrl-C or SIGTERM while tearing down (so cleanup completes)."""
    old: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(Exception):
            old[sig] = signal.signal(sig, signal.SIG_IGN)
    return old


def restore_signals(old: dict[int, Any]) -> None:
    for sig, handler in old.items():
        with contextlib.suppress(Exception):
            signal.signal(sig, handler)


def start_ray(ray_cfg: Any) -> bool:
    """Start or join Ray; True when this process started it (and must shut it down).

    ``ray.address=null`` means a private local Ray ("local" stops ``ray.init`` from
    joining a cluster someone started with ``ray start`` on this machine), unless
    ``RAY_ADDRESS`` is set in the environment, which is then joined.
    """
    if ray.is_initialized():
        return False
    _become_subreaper()  # so stop_ray finds the agents of a raylet cut short
    address = resolve_ray_address(ray_cfg.address)
    kwargs: dict[str, Any] = {
        "namespace": ray_cfg.namespace,
        "log_to_driver": True,
        "configure_logging": False,
    }
    if address is None:
        kwargs.update(num_cpus=ray_cfg.num_cpus or os.cpu_count() or 1)
        kwargs["include_dashboard"] = ray_cfg.include_dashboard
        kwargs["_system_config"] = {"worker_niceness": int(ray_cfg.worker_niceness)}
    try:
        ray.init(address=address or "local", **kwargs)
    except ConnectionError as exc:
        raise ConnectionError(f"cannot join Ray at ray.address={address!r}: {exc}") from exc
    except SystemExit as exc:  # Ray's own SIGTERM handler, active while ray.init runs
        raise StopRun(f"signal {signal.SIGTERM} while Ray was starting") from exc
    return True


def stop_ray() -> None:
    """Shut down what ``ray.init`` started, also when it was interrupted half-way; a no-op
    when Ray never started. When init is cut short, the raylet's own children (dashboard
    and runtime-env agents) outlive ``ray.shutdown``; :func:`start_ray` made this process
    their subreaper, so they are still its descendants, and each Ray process among them
    is stopped by pid (SIGTERM, then SIGKILL) and reaped."""
    started = ray.is_initialized()
    ray.shutdown(wait_for_processes=True)
    # a complete start has no agent still coming: one look; an interrupted one: wait a while
    sweep_ray_processes(quiet_s=0.0 if started else 2.0)


def sweep_ray_processes(quiet_s: float = 2.0, max_s: float = 10.0) -> None:
    """Stop every Ray process still below this process (an agent the raylet was starting
    when it died can appear a moment later): look again until none has shown up for
    ``quiet_s``, ``max_s`` at most."""
    quiet_since = start = time.monotonic()
    while True:
        found = _ray_descendants(os.getpid())
        if found:
            _stop_pids(found)
            quiet_since = time.monotonic()
        now = time.monotonic()
        if now - start >= max_s or now - quiet_since >= quiet_s:
            return
        time.sleep(0.1)


def _become_subreaper() -> None:
    """Orphans among this process's descendants (a raylet's agents once the raylet is gone)
    are re-parented to this process instead of init (Linux ``PR_SET_CHILD_SUBREAPER``)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)


def _stop_pids(pids: dict[int, int]) -> None:
    """SIGTERM, then SIGKILL after 5 s, each still-running process of ``pid -> start time``;
    our own children among them are reaped."""
    left = dict(pids)
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while left and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)
            left = {pid: st for pid, st in left.items() if _start_time(pid) == st}
            time.sleep(0.05)
        if not left:
            return


def _is_ray_process(pid: int) -> bool:
    """Ray's own processes (raylet, GCS, dashboard, agents, workers), not the run's Redis or
    sampler process, which are stopped by their own owners."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return cmd.startswith(b"ray::") or any(
        part in cmd for part in (b"/ray/", b"raylet", b"gcs_server")
    )


def _ray_descendants(root: int) -> dict[int, int]:
    """Ray processes below ``root`` (by parent pid): pid -> start time."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    found: dict[int, int] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        start = _start_time(pid)
        if start is not None and _is_ray_process(pid):
            found[pid] = start
    return found


def _start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), None once it is gone or a zombie:
    with the pid it names one process, never a later one that reused the pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[19])


__all__ = [
    "Signals",
    "StopRun",
    "ignore_signals",
    "restore_signals",
    "start_ray",
    "stop_ray",
    "sweep_ray_processes",
]
