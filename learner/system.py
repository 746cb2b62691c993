"""Everything one run is made of, built in one place: Redis, replay, weights, learner, actors.

:func:`build_system` is the topology: Redis (a private embedded server unless
``replay.redis_url`` is set) → replay table (the agent's transition spec) and weight
store → learner (resumed, adopted or fresh; its first version published) and metrics,
prepared in a thread while the main thread starts Ray (``ray.init`` must run in the
main thread and mostly waits on its own processes); until Ray is up, that thread trains
the learner on an in-process actor's data (:mod:`learner.warm_start`); then the actor
fleet. torch is first
imported in that thread: ``python -m learner.main`` reaches ``ray.init`` without it. Everything it
opens is closed by the given ``ExitStack``, in reverse order.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray

import conf
from actors.spec import table_spec
from agents import Agent
from learner.fleet import ActorFleet
from learner.judge import SelfPlayJudge
from learner.lifecycle import TagLifecycle
from learner.metrics import MetricsLogger
from learner.preflight import resumed_budget_message
from learner.run_state import RunState
from learner.startup import Signals, start_ray, stop_ray
from learner.warm_start import warm_start, warm_start_applies
from replay import ReplayClient
from replay.config import table_config
from replay.embedded import EmbeddedRedis
from replay.keys import RunKeys
from replay.table import TableConfig
from replay.weights import WeightStore
from telemetry import install_logging, uninstall_logging

if TYPE_CHECKING:
    from learner.learner import Learner

logger = logging.getLogger(__name__)


@dataclass
class System:
    """The parts of one run that the drivers use."""

    cfg: Any
    run_dir: Path
    st: RunState
    agent: Agent
    url: str
    namespace: str
    tag: str
    client: ReplayClient
    store: WeightStore
    learner: Learner
    metrics: MetricsLogger
    lifecycle: TagLifecycle
    fleet: ActorFleet | None = None
    judge: SelfPlayJudge | None = None  # selfplay.game: versions judged in the arena


def prepare_system(
    cfg: Any,
    agent: Agent,
    run_dir: Path,
    st: RunState,
    stack: contextlib.ExitStack,
    ray_started: threading.Event | None = None,
) -> System:
    """Redis, replay table, weight store, learner (first version published), metrics; then,
    until Ray is up, the learner trains on an in-process actor's data (learner/warm_start.py)."""
    from learner.learner import Learner  # torch (~1 s of imports) loads here, beside ray.init

    if cfg.replay.redis_url is None:
        server = EmbeddedRedis(maxmemory_mb=cfg.replay.maxmemory_mb)
        stack.callback(server.close)
        url = server.start().url
    else:
        url = cfg.replay.redis_url
    st.mark("redis_up")
    namespace = cfg.replay.namespace or "default"
    tag = cfg.model.tag or conf.default_model_tag(cfg.env.id, agent.tag_suffix())
    logger.info("run dir %s; env %s, agent %s, tag %s", run_dir, cfg.env.id, agent.name, tag)
    r = cfg.replay
    client = ReplayClient(
        url,
        namespace=namespace,
        connect_timeout_s=r.connect_timeout_s,
        socket_timeout_s=r.socket_timeout_s,
        reconnect_timeout_s=r.reconnect_timeout_s,
    )
    stack.callback(client.close)
    table = table_config(r)
    if cfg.mode == "sync":  # the phase schedule fixes the ratio; no limiter waits
        table = TableConfig(table.name, table.capacity, table.min_size_to_sample)
    client.create_table(table, table_spec(agent, cfg.env))
    store = WeightStore(
        url, namespace, history=cfg.learner.weights_history, connect_timeout_s=r.connect_timeout_s
    )
    stack.callback(store.close)
    keys = RunKeys(namespace)
    client.redis.delete(keys.actors_stop)
    # actors' life hashes count env steps across Ray restarts within one run; those of an
    # earlier run in this namespace (a resumed one) are not this run's steps: its count
    # starts from the checkpoint's, plus what this run's actors step
    stale = list(client.redis.scan_iter(match=keys.actor_life_pattern, count=1000))
    if stale:
        client.redis.delete(*stale)
    last = client.redis.xrevrange(keys.episodes, count=1)
    st.last_episode_id = last[0][0].decode() if last else "0-0"

    # the tag's lease first: a second learner on this tag and namespace fails here
    lifecycle = TagLifecycle(store, tag, run_dir, cfg.learner.lease_ttl_s, cfg.learner.gate_margin)
    stack.callback(lifecycle.close)
    plain = conf.to_container(cfg)
    plain["model"]["tag"], plain["replay"]["namespace"] = tag, namespace
    learner = Learner(cfg, agent, client, store, tag, run_dir, plain)
    stack.callback(learner.close)
    resumed = False
    if cfg.learner.resume or cfg.learner.resume_from:
        resumed = learner.resume(cfg.learner.resume_from, search_root=run_dir.parent.parent)
        st.env_steps_base = learner.counters.env_steps
    if not resumed:
        learner.adopt_published()
    logger.info("published %s version %d", tag, learner.publish())
    if cfg.mode == "async":  # the sampler process starts (imports, indexes) beside Ray
        learner.start_prefetch()
    st.mark("learner_ready")
    if msg := resumed_budget_message(cfg.budget, st.env_steps_base, learner.counters.updates):
        logger.warning(msg)  # budgets are run totals: say how to extend them
    # logging.format=json lines (before the console view takes the handlers); flushed and
    # uninstalled before Redis stops
    install_logging(cfg.logging, namespace, tag, redis_url=url)
    stack.callback(uninstall_logging)
    metrics = MetricsLogger(
        run_dir,
        console=cfg.logging.console,
        tensorboard=cfg.logging.tensorboard,
        jsonl=cfg.logging.jsonl,
        title=f"fsrl {cfg.mode}: {cfg.env.id} / {tag}",
        config=plain,  # config + hparams to TensorBoard
        sinks=cfg.logging.sinks,  # optional wandb / mlflow
    )
    stack.callback(metrics.close)
    system = System(
        cfg, run_dir, st, agent, url, namespace, tag, client, store, learner, metrics, lifecycle
    )
    if cfg.selfplay.game is not None:
        system.judge = SelfPlayJudge(cfg, agent, store, tag, run_dir, lifecycle)
    if ray_started is not None and not ray_started.is_set():
        left = cfg.budget.env_steps - st.env_steps_base if cfg.budget.env_steps else None
        steps = warm_start(cfg, learner, url, namespace, tag, ray_started, left)
        install_logging(cfg.logging, namespace, tag, redis_url=url)  # the actor replaced it
        st.env_steps_base += steps
        st.env_steps = max(st.env_steps, st.env_steps_base)
        st.mark("warm_start_done")
    return system


def build_system(
    cfg: Any,
    agent: Agent,
    run_dir: Path,
    st: RunState,
    stack: contextlib.ExitStack,
    signals: Signals,
) -> System:
    """Build the run's topology (see the module docstring); actors last."""
    if cfg.ray.address is not None and cfg.replay.redis_url is None:
        logger.warning(
            "ray.address=%s with the embedded Redis (127.0.0.1): actors on other nodes "
            "cannot reach it; pass replay.redis_url=redis://<host>:<port>/0",
            cfg.ray.address,
        )
    prep_stack = contextlib.ExitStack()
    stack.push(prep_stack)  # Redis, learner, metrics: closed after Ray is down
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fsrl-prepare") as pool:
        ray_started = threading.Event()  # ends the warm start
        warm = warm_start_applies(cfg) and not ray.is_initialized()
        preparing = pool.submit(
            prepare_system, cfg, agent, run_dir, st, prep_stack, ray_started if warm else None
        )
        if not ray.is_initialized():  # ours to stop, even if a signal interrupts ray.init
            stack.callback(stop_ray)
        try:
            start_ray(cfg.ray)  # leaving the block waits for the preparation
        finally:
            ray_started.set()
        st.mark("ray_up")
    system = preparing.result()  # re-raises what the preparation raised
    st.mark("prepared")
    from learner.learner import set_torch_threads

    set_torch_threads(cfg)  # per OS thread: the learner was built in another one
    signals.arm()
    system.fleet = ActorFleet(cfg, system.client.redis, system.url, system.namespace, system.tag)
    stack.callback(system.fleet.stop)
    st.mark("actors_created")
    return system


__all__ = ["System", "build_system", "prepare_system"]
