"""The run's actor workers as one thing: create, start, watch, restart, stop.

Promises: :meth:`ActorFleet.stop` is idempotent and is the only way actors are stopped
(stop key, ``stop()`` on each, wait for ``run()``, then kill), so no Ray worker outlives
the run; :meth:`poll` reads env steps from the actors' life hashes (they survive
restarts) and finished episodes from the run's stream, and never counts one twice.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Any

import ray
import redis

from actors.remote import create_remote_actor
from actors.reporting import episodes_key, life_key, stop_key
from actors.spec import ActorSpec
from learner.run_state import RunState

logger = logging.getLogger(__name__)


class ActorFleet:
    """``actors.num`` remote actor workers of one run."""

    def __init__(self, cfg: Any, redis_client: redis.Redis, url: str, namespace: str, tag: str):
        self.cfg = cfg
        self.redis = redis_client
        self.namespace = namespace
        self.num = int(cfg.actors.num)
        self.handles = [
            create_remote_actor(ActorSpec.from_config(cfg, i, url, namespace, tag))
            for i in range(self.num)
        ]
        self.running: dict[int, Any] = {}  # actor index -> ObjectRef of its run()
        self.finished: dict[int, int] = {}  # actor index -> env steps when it finished
        self.share: int | None = None
        self._stopped = False

    # ------------------------------------------------------------------ async mode
    def start(self, env_steps_left: int | None) -> None:
        """Start ``run()`` on every actor; each stops itself at its share of the budget."""
        if env_steps_left is not None:
            self.share = max(1, math.ceil(max(0, env_steps_left) / self.num))
        self.running = {
            i: a.run.remote(max_env_steps=self.share) for i, a in enumerate(self.handles)
        }

    def check(self, st: RunState) -> str:
        """Collect ended ``run()`` calls: restart failed ones, count dead and finished ones.
        Returns a stop reason once no actor is running ("" otherwise)."""
        refs = list(self.running.values())
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in done:
            i = next(k for k, r in self.running.items() if r == ref)
            try:
                steps = int(ray.get(ref).get("env_steps_total", 0))
                if self.share is not None and steps >= self.share:
                    self.finished[i] = steps
                    del self.running[i]
                    continue
                logger.warning("actor %d left run() early", i)
            except ray.exceptions.RayActorError as exc:
                logger.error("actor %d died for good: %s", i, exc)
                del self.running[i]
                st.actors_dead += 1
                continue
            except Exception as exc:  # run() raised: the actor lives on
                logger.error("actor %d run() failed, restarting it: %s", i, exc)
                st.run_errors += 1
            self.running[i] = self.handles[i].run.remote(max_env_steps=self.share)
        if self.running:
            return ""
        if self.finished and not st.actors_dead:
            st.env_steps = max(st.env_steps, st.env_steps_base + sum(self.finished.values()))
            return f"env step budget reached ({st.env_steps:,} >= {self.cfg.budget.env_steps:,})"
        return "every actor stopped"

    # ------------------------------------------------------------------ sync mode
    def collect(self, steps_per_actor: int) -> None:
        """One collect phase: the actors one after the other (the replay's order is fixed)."""
        for a in self.handles:
            ray.get(a.collect.remote(steps_per_actor))

    # ------------------------------------------------------------------ progress
    def poll(self, st: RunState) -> None:
        """Env steps (life hashes survive restarts) and finished episodes into ``st``."""
        pipe = self.redis.pipeline(transaction=False)
        for i in range(self.num):
            pipe.hmget(life_key(self.namespace, i), "env_steps", "restarts")
        rows = pipe.execute()
        steps = sum(int(r[0] or 0) for r in rows)
        st.restarts = max(st.restarts, sum(int(r[1] or 0) for r in rows))
        st.env_steps = max(st.env_steps, st.env_steps_base + steps)
        if steps:
            st.mark("first_env_steps")
        reply = self.redis.xread({episodes_key(self.namespace): st.last_episode_id}, count=10_000)
        for _, entries in reply or []:
            for entry_id, fields in entries:
                st.last_episode_id = entry_id.decode()
                st.add_episode(int(fields[b"policy_version"]), float(fields[b"return"]))
        st.recent_returns = st.recent_returns[-100:]

    def stop(self) -> None:
        """Idempotent: stop key, stop() on each actor, wait for run(), then kill."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            self.redis.set(stop_key(self.namespace), "1", ex=3600)
        refs = list(self.running.values())
        for a in self.handles:
            with contextlib.suppress(Exception):
                refs.append(a.stop.remote())
        if refs:
            with contextlib.suppress(Exception):
                ray.wait(refs, num_returns=len(refs), timeout=10)
        for a in self.handles:
            with contextlib.suppress(Exception):
                ray.kill(a, no_restart=True)


__all__ = ["ActorFleet"]
