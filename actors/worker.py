"""The actor worker: steps environments with an agent's policy, writes transitions to the replay.

:class:`ActorWorker` is the loop apart from its process wrapper (a plain class, usable
in-process); :mod:`actors.remote` wraps it as a restartable Ray actor. It knows no
algorithm: acting, initial priorities and loading weights are the agent's
(:class:`agents.core.ActorPolicy`, built from ``algo.name``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import redis

from actors.nstep import NStepFolder
from actors.reporting import (
    NO_VERSION,
    EpisodeBook,
    HeartbeatClock,
    announce_switch,
    count_restart,
    write_heartbeat,
)
from actors.selfplay import make_stepper
from actors.spec import ActorSpec, frame_layout, unpacking
from agents import ActorSlot
from replay import ReplayClient, ReplayConnectionError, ReplayTimeoutError
from replay.config import writer_kwargs
from replay.keys import RunKeys
from replay.weights import WeightFollower, WeightStore, connect
from telemetry import install_logging, set_log_context

logger = logging.getLogger(__name__)

#: How long the actor keeps acting through a Redis outage before failing (Ray restarts it).
OUTAGE_TOLERANCE_S = 60.0
#: Once stopping, the most a send waits for rate-limiter credit (the learner gives none).
STOPPING_SEND_MS = 100
T = TypeVar("T")


class ActorWorker:
    """One Ape-X-style actor: ``actors.envs_per_actor`` envs and the agent's acting half.

    Made from an :class:`~actors.spec.ActorSpec` (typed sections; the replay table must
    exist, created by the launcher with the agent's transition spec). The constructor
    builds the envs, the agent's :class:`~agents.core.ActorPolicy` and the replay
    writer, fetches the latest weights if any (else acts with the seeded initial
    weights, stamping version ``-1``), and returns; it never blocks on the learner.

    Methods (safe to call from another thread while ``run()`` runs — the Ray wrapper
    uses ``max_concurrency`` > 1): ``run(max_env_steps, max_duration_s)`` (async mode:
    act until :meth:`stop`, the stop key, or a budget counted over this actor's life),
    ``collect(num_steps)`` (sync mode: exactly ``num_steps`` env steps, deterministic
    given seed and weights), ``stats()``, ``heartbeat()``, ``stop()`` (idempotent).

    Transitions carry ``policy_version`` (the version that chose the action) and
    ``actor_id`` and go to the replay through the writer, which cuts chunks of
    ``replay.chunk_size`` and prices each with the policy's initial priorities; a
    partial chunk waits at most ``replay.max_chunk_age_ms``.
    Restarts: a crashed actor is rebuilt by Ray (fresh envs, seeds offset by the
    restart count); its env-step count continues from the life hash. Open n-step
    windows and unflushed transitions of the crashed incarnation are lost.
    """

    def __init__(self, spec: ActorSpec) -> None:
        self.spec = spec
        self.actor_id = spec.actor_id
        self.namespace = spec.namespace
        self.model_tag = spec.model_tag
        a = spec.actors
        # logging.format=json: lines carry run/tag/version/actor/host and are shipped
        install_logging(
            spec.logging, spec.namespace, spec.model_tag, spec.actor_id, redis_url=spec.replay_url
        )
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._closed = False
        self._running = False

        self._redis = connect(spec.replay_url)
        self.keys = RunKeys(spec.namespace)
        self.restarts, self._env_steps_before = count_restart(self._redis, self.keys, self.actor_id)

        # Seeds: one stream per actor and per incarnation, all derived from the run's seed.
        self._seed = spec.seed * 1_000_003 + spec.actor_id * 10_007 + self.restarts * 101
        # the env's vector env, or self-play boards of a two-player game (selfplay.game)
        self._stepper, agent = make_stepper(spec, self._seed)
        self.observation_space = self._stepper.observation_space
        self.action_space = self._stepper.action_space
        slot = ActorSlot(spec.actor_id, a.num, a.envs_per_actor, self._seed, a.torch_threads)
        self._policy = agent.actor_policy(slot)
        alternate = self._stepper.alternating  # self-play: moves of alternating players
        self._folder = NStepFolder(a.envs_per_actor, agent.n_step, agent.gamma, alternate)
        self._layout = frame_layout(agent, spec.env)  # stacked frames: once per record
        self._book = EpisodeBook(spec.actor_id, a.envs_per_actor)
        self._obs = self._stepper.reset()

        self._client = ReplayClient(spec.replay_url, namespace=spec.namespace)
        # the writer is the one place that chunks; the policy prices each sealed chunk
        prices = unpacking(self._layout, self._policy.priorities)  # on the standard columns
        self._writer = self._client.writer(
            spec.replay.table, priority_fn=prices, **writer_kwargs(spec.replay)
        )
        self._store = WeightStore(spec.replay_url, spec.namespace)
        self._follower = WeightFollower(
            self._store,
            spec.model_tag,
            follow=a.follow,  # type: ignore[arg-type]
            accept=self._accept_weights,
        )
        self.policy_version = NO_VERSION
        self._weights_refused = 0

        self._env_steps = 0
        self._act_s = self._write_s = self._env_s = 0.0
        self._last_poll = 0.0
        self._beat = HeartbeatClock(spec.actors.heartbeat_interval_s)
        self._blocked_flushes = 0
        self._flush_ms = int(self.spec.replay.flush_timeout_ms)  # a send's wait for credit
        self._redis_errors = 0
        self._outage_since: float | None = None

        self.poll_weights()
        if self.policy_version == NO_VERSION:  # nothing published (or it did not fit)
            self._policy.ensure_weights()
        self.heartbeat()

    @classmethod
    def from_config(
        cls, cfg: Any, actor_id: int, replay_url: str, namespace: str, tag: str
    ) -> ActorWorker:
        """An actor of a run config (a ``conf.Config`` or its ``to_container`` dict)."""
        return cls(ActorSpec.from_config(cfg, actor_id, replay_url, namespace, tag))

    def _accept_weights(self, version: int, tensors: Any, metadata: Any) -> bool:
        """Load a sound version into the policy; a misfit is refused (the old one stays)."""
        try:
            self._policy.load(tensors, dict(metadata or {}))
        except (ValueError, RuntimeError) as exc:
            logger.warning(
                "actor %d refuses weights %s v%d: %s", self.actor_id, self.model_tag, version, exc
            )
            return False
        self._stepper.on_weights(version, tensors, dict(metadata or {}))  # self-play: the pool
        return True

    def poll_weights(self) -> bool:
        """Move to the followed version (``actors.follow``: latest or champion) if it is new,
        sound and fits the policy; True when moved. One GET when nothing changed; a corrupt
        or misfit version is refused, counted, and the current one stays in use."""
        self._last_poll = time.monotonic()
        refused_before = self._follower.refused
        moved = self._follower.poll()
        self._weights_refused += self._follower.refused - refused_before
        if not moved:
            return False
        version = int(self._follower.version)  # type: ignore[arg-type]
        self.policy_version = version
        set_log_context(version=version)  # JSON log lines name the version
        self._follower.tensors = None  # the policy holds them now
        announce_switch(self._redis, self.keys, self.actor_id, version)
        return True

    def _step(self) -> None:
        t0 = time.perf_counter()
        actions = self._policy.act(self._obs)
        t1 = time.perf_counter()
        step = self._stepper.step(actions)
        self._act_s += t1 - t0
        self._env_s += time.perf_counter() - t1
        actions = actions if step.played is None else step.played  # self-play: pool's turns
        version = self.policy_version
        n = self.spec.actors.envs_per_actor
        out = self._folder.step(
            self._obs,
            actions,
            step.reward,
            step.terminated,
            step.truncated,
            step.next_obs,
            extras={"policy_version": np.full(n, version, dtype=np.int64)},
            valid=step.valid,
        )
        credit, credited = step.booked()  # self-play: pool games, the acting version's side
        self._book.step(credit, step.terminated | step.truncated, credited, version)
        self._obs = step.obs
        self._env_steps += n
        out = self._stepper.augment(out)  # self-play: the moves' symmetric images too
        rows = len(out["reward"])
        if rows:
            out.pop("env_index", None)
            out["actor_id"] = np.full(rows, self.actor_id, dtype=np.int32)
            if self._layout is not None:
                out = self._layout.pack(out)
            t0 = time.perf_counter()
            self._writer.append(out)
            self._write_s += time.perf_counter() - t0

    def _write(self, force: bool = False) -> None:
        """Send what the writer holds: every sealed chunk at once, the partial chunk when
        ``force`` or when it is ``replay.max_chunk_age_ms`` old; then finished episodes."""
        w = self._writer
        if force:
            sent = self._send(w.flush)
        elif w.sealed_chunks:
            sent = self._send(w.send_sealed)
        else:
            sent = self._send(w.flush_due)
        if sent or force:
            self._flush_episodes()

    def _send(self, send: Callable[[int], Any]) -> bool:
        """Call a writer's send, blocking while the replay's rate limiter holds inserts back
        (Reverb semantics), but leaving promptly when stop() is called (then each send
        waits at most ``STOPPING_SEND_MS``, not a whole ``flush_timeout_ms``)."""
        t0 = time.perf_counter()
        sent_before = self._writer.transitions_sent
        try:
            while True:
                try:
                    send(STOPPING_SEND_MS if self._stop_event.is_set() else self._flush_ms)
                    return self._writer.transitions_sent > sent_before
                except ReplayTimeoutError:
                    self._blocked_flushes += 1
                    if self._stop_event.is_set():  # the run is ending: the learner stopped sampling
                        held = self._writer.pending_transitions
                        logger.info("actor %d stopping, %d held back", self.actor_id, held)
                        return False
                    if self._beat.due(time.monotonic(), self._env_steps):
                        self.heartbeat()
        finally:
            self._write_s += time.perf_counter() - t0

    def _flush_episodes(self) -> None:
        if not self._book.flush(self._redis, self.keys):
            self._redis_errors += 1

    # ------------------------------------------------------------------ public API
    def heartbeat(self) -> dict[str, str]:
        """Refresh the status hash (expires after 3 heartbeat intervals) and return it."""
        self._beat.mark(time.monotonic(), self._env_steps)
        counters = {
            "env_steps": self._env_steps_before + self._env_steps,
            "transitions": self._writer.transitions_sent,
            "episodes": self._book.episodes,
            "policy_version": self.policy_version,
            "restarts": self.restarts,
            "running": "1" if self._running else "0",
        }
        interval = self.spec.actors.heartbeat_interval_s
        return write_heartbeat(self._redis, self.keys, self.actor_id, interval, counters)

    def stats(self) -> dict[str, Any]:
        """Counters of this incarnation (env_steps_total also counts earlier incarnations)."""
        return {
            "actor_id": self.actor_id,
            "env_steps": self._env_steps,
            "env_steps_total": self._env_steps_before + self._env_steps,
            "transitions": self._writer.transitions_sent,
            "pending_transitions": self._writer.pending_transitions,
            "episodes": self._book.episodes,
            "policy_version": self.policy_version,
            "weights_refused": self._weights_refused,
            "restarts": self.restarts,
            "per_version": self._book.summary(),
            **self._stepper.stats(),
            "inference_s": self._act_s,
            "env_s": self._env_s,
            "write_s": self._write_s,
            "blocked_flushes": self._blocked_flushes,
            "redis_errors": self._redis_errors,
        }

    def run(self, max_env_steps: int | None = None, max_duration_s: float | None = None) -> dict:
        """Async mode: act until stopped or a budget is reached; returns :meth:`stats`."""
        a = self.spec.actors
        if self._closed:
            raise RuntimeError(f"actor {self.actor_id} is stopped")
        self._running = True
        self._tolerate_outage(self.heartbeat)  # say so at once: running=0 misleads watchers
        start = time.monotonic()
        stop_k = self.keys.actors_stop
        try:
            while not self._stop_event.is_set():
                done = self._env_steps_before + self._env_steps
                if max_env_steps is not None and done >= max_env_steps:
                    break
                self._step()
                self._write()
                now = time.monotonic()
                if now - self._last_poll >= a.weight_poll_interval_s:
                    self._tolerate_outage(self.poll_weights)
                if self._beat.due(now, self._env_steps):
                    if self._tolerate_outage(
                        lambda: bool(self.heartbeat()) and bool(self._redis.exists(stop_k))
                    ):
                        break
                    if max_duration_s is not None and now - start >= max_duration_s:
                        break
            if not self._closed:
                self._write(force=True)
        finally:
            self._running = False
            if self._stop_event.is_set():
                self._close()
            elif not self._closed:
                self.heartbeat()
        return self.stats()

    def _tolerate_outage(self, fn: Callable[[], T]) -> T | None:
        """Run a housekeeping call (weights poll, heartbeat); a Redis outage shorter than
        ``OUTAGE_TOLERANCE_S`` is logged and skipped (the writer has its own reconnects),
        a longer one is raised so Ray restarts the actor."""
        try:
            result = fn()
        except (redis.ConnectionError, redis.TimeoutError, ReplayConnectionError) as exc:
            now = time.monotonic()
            self._redis_errors += 1
            if self._outage_since is None:
                self._outage_since = now
            if now - self._outage_since > OUTAGE_TOLERANCE_S:
                raise
            self._last_poll = now  # retry at the next interval
            self._beat.mark(now, self._env_steps)
            logger.warning("actor %d: Redis unreachable, carrying on: %s", self.actor_id, exc)
            return None
        self._outage_since = None
        return result

    def collect(self, num_steps: int) -> dict[str, Any]:
        """Sync mode: poll weights, take exactly ``num_steps`` env steps, flush, summarise."""
        n = self.spec.actors.envs_per_actor
        if not isinstance(num_steps, int) or num_steps < 0 or num_steps % n:
            raise ValueError(
                f"collect(num_steps={num_steps!r}): must be an int >= 0 and a multiple of "
                f"actors.envs_per_actor={n}"
            )
        if self._closed:
            raise RuntimeError(f"actor {self.actor_id} is stopped")
        self.poll_weights()
        before_t, before_e = self._writer.transitions_sent, self._book.episodes
        for _ in range(num_steps // n):
            self._step()
            if self._writer.sealed_chunks:
                self._write()
        self._write(force=True)
        self.heartbeat()
        return {
            "actor_id": self.actor_id,
            "env_steps": num_steps,
            "transitions": self._writer.transitions_sent - before_t,
            "episodes": self._book.episodes - before_e,
            "policy_version": self.policy_version,
        }

    def stop(self) -> None:
        """Idempotent: end ``run()`` (at its next step) and release envs, writer, connections."""
        self._stop_event.set()
        if not self._running:
            self._close()

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        # Stopped with the run (stop() or the stop key): the learner no longer samples, so
        # chunks the rate limiter holds back will not be let in; do not wait for them.
        stopping = self._stop_event.is_set()
        close_ms = STOPPING_SEND_MS if stopping else self._flush_ms
        for what, fn in (
            ("flush", lambda: self._write(force=True)),
            ("writer", lambda: self._writer.close(timeout_ms=close_ms)),
            ("envs", self._stepper.close),
            ("weights", self._store.close),
        ):
            try:
                fn()
            except ReplayTimeoutError as exc:
                log = logger.info if stopping else logger.warning
                log("actor %d: %s left unsent at close: %s", self.actor_id, what, exc)
            except Exception as exc:  # keep closing the rest
                logger.warning("actor %d: closing %s failed: %s", self.actor_id, what, exc)
        with contextlib.suppress(Exception):
            self.heartbeat()  # final counts (running=0); the status hash then expires
        with contextlib.suppress(Exception):
            self._redis.close()

    def is_stopped(self) -> bool:
        return self._closed


__all__ = ["OUTAGE_TOLERANCE_S", "ActorWorker"]
