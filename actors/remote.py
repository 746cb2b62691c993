"""The actor worker as a restartable Ray actor."""

from __future__ import annotations

from typing import Any

import ray

from actors.spec import ActorSpec
from actors.worker import ActorWorker


def create_remote_actor(spec: ActorSpec, name: str | None = None) -> Any:
    """A Ray actor handle running :class:`~actors.worker.ActorWorker` for ``spec``.

    Options from ``spec.actors``: ``num_cpus_per_actor``, ``max_restarts``,
    ``max_task_retries`` (default -1: retry ``run()`` on the restarted actor);
    ``max_concurrency=4`` so ``stop()``/``stats()``/``heartbeat()`` answer while ``run()``
    is in flight. The spec crosses as typed dataclasses.
    """
    a = spec.actors
    options: dict[str, Any] = {
        "num_cpus": float(a.num_cpus_per_actor),
        "max_restarts": int(a.max_restarts),
        "max_task_retries": int(a.max_task_retries),
        "max_concurrency": 4,
    }
    if name is not None:
        options["name"] = name
    return ray.remote(ActorWorker).options(**options).remote(spec)


__all__ = ["create_remote_actor"]
