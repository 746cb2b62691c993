"""Process-level start-up and shutdown of a run: signals and Ray.

Promises: inside :class:`Signals`, SIGTERM raises :class:`StopRun` and Ctrl-C raises
``KeyboardInterrupt`` in the main thread, so a run unwinds the same way on both; a
second signal during teardown is ignored (:func:`ignore_signals`); :func:`start_ray`
starts a private local Ray (or joins ``ray.address``) and says whether this process
must shut it down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Any

import ray


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
    address = ray_cfg.address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {
        "namespace": ray_cfg.namespace,
        "log_to_driver": True,
        "configure_logging": False,
    }
    if address is None:
        kwargs.update(num_cpus=ray_cfg.num_cpus or os.cpu_count() or 1)
        kwargs["include_dashboard"] = ray_cfg.include_dashboard
    try:
        ray.init(address=address or "local", **kwargs)
    except ConnectionError as exc:
        raise ConnectionError(f"cannot join Ray at ray.address={address!r}: {exc}") from exc
    return True


__all__ = ["Signals", "StopRun", "ignore_signals", "restore_signals", "start_ray"]
