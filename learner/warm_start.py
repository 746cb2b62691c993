"""Training while Ray starts: an in-process actor feeds the replay so the learner need not idle.

A local Ray takes ~3-4 s to come up on a 2-core machine, and the learner is ready ~2 s
before it. :func:`warm_start` fills that gap: one :class:`~actors.worker.ActorWorker`
in the learner's thread (actor 0's exploration slots, its own seeds) collects into the
run's replay, and the learner trains from it through its usual prefetcher, publishing
every ``learner.publish_interval_updates`` as the driver does. It stops when Ray is up
(``until`` is set), after ``learner.warm_start_max_s``, or at the env-step budget; the
actor is closed and its life hash cleared, and its env steps are returned so the run
counts them. The Ray actors then take over from the weights it reached.

Promises: nothing here outlives the call (the actor is stopped also when a step
raises); the run's env steps are counted once; sync mode, self-play and a joined
cluster (``ray.address``) never warm-start (:func:`warm_start_applies`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any

from threadpoolctl import threadpool_limits

from actors.spec import ActorSpec
from actors.worker import ActorWorker
from replay.keys import RunKeys

logger = logging.getLogger(__name__)

#: The warm actor's seeds are the run's seed shifted by this (actor 0 of Ray keeps its own).
SEED_SHIFT = 7_919
#: Env steps the warm actor takes between the learner's turns (per env of its vector env).
STEPS_PER_ENV = 16
#: Updates the learner takes per turn at most, each waited for at most ``TURN_WAIT_S``
#: once the replay holds ``replay.min_size_to_sample`` (the sampler process needs a few ms).
UPDATES_PER_TURN = 8
TURN_WAIT_S = 0.02


def warm_start_applies(cfg: Any) -> bool:
    """Async mode on a private local Ray, no self-play, a positive ``warm_start_max_s``."""
    return (
        cfg.mode == "async"
        and float(cfg.learner.warm_start_max_s) > 0
        and cfg.ray.address is None
        and cfg.selfplay.game is None
    )


def warm_start(
    cfg: Any,
    learner: Any,
    url: str,
    namespace: str,
    tag: str,
    until: threading.Event,
    env_steps_left: int | None = None,
) -> int:
    """Collect and train in this thread until ``until`` is set (or the time or step limit);
    returns the env steps taken."""
    spec = ActorSpec.from_config(cfg, 0, url, namespace, tag)
    spec = dataclasses.replace(spec, seed=spec.seed + SEED_SHIFT)
    deadline = time.monotonic() + float(cfg.learner.warm_start_max_s)
    turn = STEPS_PER_ENV * int(cfg.actors.envs_per_actor)
    if until.is_set() or (env_steps_left is not None and env_steps_left < turn):
        return 0
    from learner.learner import set_torch_threads  # torch is loaded by now (the learner)

    set_torch_threads(cfg)  # per OS thread: this one trains from here on
    # One BLAS thread while Ray starts: OpenBLAS's fork handler waits for its threads, and
    # with a matmul of this thread using them, ray.init's next Popen hung for good.
    with threadpool_limits(limits=1, user_api="blas"):
        return _collect_and_train(cfg, learner, spec, until, deadline, env_steps_left)


def _collect_and_train(
    cfg: Any,
    learner: Any,
    spec: ActorSpec,
    until: threading.Event,
    deadline: float,
    cap: int | None,
) -> int:
    turn = STEPS_PER_ENV * int(cfg.actors.envs_per_actor)
    publish_every = max(1, int(cfg.learner.publish_interval_updates))
    min_size = int(cfg.replay.min_size_to_sample)
    worker = ActorWorker(spec)
    steps, published_at = 0, learner.counters.updates
    started = time.monotonic()
    try:
        while not until.is_set() and time.monotonic() < deadline:
            if cap is not None and steps + turn > cap:
                break
            worker.collect(turn)
            steps += turn
            wait_s = TURN_WAIT_S if steps >= min_size else 0.0
            for _ in range(UPDATES_PER_TURN):
                if until.is_set() or not learner.step_async(timeout_s=wait_s):
                    break
                if learner.counters.updates - published_at >= publish_every:
                    learner.publish()
                    published_at = learner.counters.updates
    finally:
        worker.stop()
        # the Ray actor 0 writes its own life hash from 0: the warm steps are returned instead
        learner.client.redis.delete(RunKeys(spec.namespace).actor_life(0))
    if learner.counters.updates > published_at:
        learner.publish()
    logger.info(
        "warm start: %d env steps, %d learner updates in %.1f s while Ray started",
        steps,
        learner.counters.updates,
        time.monotonic() - started,
    )
    return steps


__all__ = ["warm_start", "warm_start_applies"]
