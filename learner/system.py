"""Everything one run is made of, built in one place: Redis, replay, weights, learner, actors.

:func:`build_system` is the topology: Redis (a private embedded server unless
``replay.redis_url`` is set) → replay table (the agent's transition spec) and weight
store → learner (resumed, adopted or fresh; its first version published) and metrics,
prepared in a thread while the main thread starts Ray (``ray.init`` must run in the
main thread and mostly waits on its own processes); then the actor fleet. Everything it
opens is closed by the given ``ExitStack``, in reverse order.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

import conf
from actors.reporting import episodes_key, stop_key
from agents import Agent
from learner.fleet import ActorFleet
from learner.learner import Learner, set_torch_threads
from learner.metrics import MetricsLogger
from learner.run_state import RunState
from learner.startup import Signals, start_ray
from replay import ReplayClient
from replay.config import table_config
from replay.embedded import EmbeddedRedis
from replay.table import TableConfig
from replay.weights import WeightStore

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
    fleet: ActorFleet | None = None


def _prepare(
    cfg: Any, agent: Agent, run_dir: Path, st: RunState, stack: contextlib.ExitStack
) -> System:
    """Redis, replay table, weight store, learner (first version published), metrics."""
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
    client.create_table(table, agent.transition_spec())
    store = WeightStore(
        url, namespace, history=cfg.learner.weights_history, connect_timeout_s=r.connect_timeout_s
    )
    stack.callback(store.close)
    client.redis.delete(stop_key(namespace))
    last = client.redis.xrevrange(episodes_key(namespace), count=1)
    st.last_episode_id = last[0][0].decode() if last else "0-0"

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
    metrics = MetricsLogger(
        run_dir,
        console=cfg.logging.console,
        tensorboard=cfg.logging.tensorboard,
        jsonl=cfg.logging.jsonl,
        title=f"fsrl {cfg.mode}: {cfg.env.id} / {tag}",
    )
    stack.callback(metrics.close)
    return System(cfg, run_dir, st, agent, url, namespace, tag, client, store, learner, metrics)


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
        preparing = pool.submit(_prepare, cfg, agent, run_dir, st, prep_stack)
        if start_ray(cfg.ray):  # leaving the block waits for the preparation
            stack.callback(ray.shutdown)
        st.mark("ray_up")
    system = preparing.result()  # re-raises what the preparation raised
    st.mark("prepared")
    set_torch_threads(cfg)  # per OS thread: the learner was built in another one
    signals.arm()
    system.fleet = ActorFleet(cfg, system.client.redis, system.url, system.namespace, system.tag)
    stack.callback(system.fleet.stop)
    st.mark("actors_created")
    return system


__all__ = ["System", "build_system"]
