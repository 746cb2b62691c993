"""``python -m learner.main``: the one place that wires an fsrl run together.

:func:`run` builds the topology — Redis (a private embedded server unless
``replay.redis_url`` is set) → replay table and weight store → learner (version 0
published), prepared in a thread while the main thread starts Ray (local, or
``ray.address=auto`` / ``ray://host:10001`` to join a cluster); then, once both are up,
``actors.num`` actor workers — then trains until a budget is reached (env steps,
learner updates, wall time, or a greedy evaluation at ``budget.target_eval_return``),
writes a final checkpoint and evaluation, and tears everything down in reverse order. Ctrl-C and SIGTERM stop the
run the same way: no Ray worker or Redis server outlives it.

``mode=async``: actors collect continuously while the learner trains from prefetched
batches. ``mode=sync``: collect and train phases alternate, actors one after the
other, batches sampled inline — the same seed gives bit-identical final weights.

Examples::

    python -m learner.main
    python -m learner.main env=tetris experiment=tetris actors.num=16 learner.device=cuda
    python -m learner.main ray.address=auto replay.redis_url=redis://redis:6379/0
    python -m learner.main -m actors.num=1,2,4
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import math
import os
import signal
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import redis
from omegaconf import DictConfig

import conf
from conf.schema import Config
from learner.evaluate import env_spaces
from learner.learner import Learner, resolve_device, set_torch_threads
from learner.metrics import MetricsLogger
from learner.models import resolve_arch
from replay.errors import ReplayError

logger = logging.getLogger(__name__)


class StopRun(Exception):
    """Raised in the main thread by SIGTERM so the run unwinds like on Ctrl-C."""


@dataclass
class RunState:
    """What the driver loop tracks between metric dumps."""

    start_s: float = field(default_factory=time.monotonic)
    start_unix_s: float = field(default_factory=time.time)
    # seconds from start_s at which each start-up/shutdown phase ended (the run's timeline)
    timeline_s: dict[str, float] = field(default_factory=dict)
    env_steps: int = 0
    env_steps_base: int = 0  # from a resumed checkpoint
    episodes: int = 0
    last_episode_id: str = "0-0"
    recent_returns: list[float] = field(default_factory=list)
    per_version: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    stop_reason: str = ""
    last_eval_mean: float = float("nan")
    evals: list[dict[str, float]] = field(default_factory=list)
    actors_dead: int = 0
    run_errors: int = 0
    restarts: int = 0

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.start_s

    def mark(self, phase: str) -> None:
        """Record the end of ``phase`` on the timeline (the first time only)."""
        self.timeline_s.setdefault(phase, round(self.elapsed_s, 3))


def _budget_fraction(cfg: Config, st: RunState, updates: int) -> tuple[float, str]:
    b = cfg.budget
    parts = []
    if b.env_steps:
        parts.append((st.env_steps / b.env_steps, f"{st.env_steps:,}/{b.env_steps:,} env steps"))
    if b.learner_updates:
        parts.append((updates / b.learner_updates, f"{updates:,}/{b.learner_updates:,} updates"))
    if b.wall_time_s:
        parts.append((st.elapsed_s / b.wall_time_s, f"{st.elapsed_s:.0f}/{b.wall_time_s:.0f} s"))
    return max(parts, key=lambda p: p[0]) if parts else (0.0, "")


def _budget_reached(cfg: Config, st: RunState, updates: int) -> str:
    b = cfg.budget
    if b.env_steps and st.env_steps >= b.env_steps:
        return f"env step budget reached ({st.env_steps:,} >= {b.env_steps:,})"
    if b.learner_updates and updates >= b.learner_updates:
        return f"learner update budget reached ({updates:,})"
    if b.wall_time_s and st.elapsed_s >= b.wall_time_s:
        return f"wall time budget reached ({st.elapsed_s:.0f} s)"
    return ""


class _Signals:
    """SIGTERM (and SIGINT) → StopRun/KeyboardInterrupt in the main thread, restored on exit."""

    def __init__(self) -> None:
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        self.arm()
        return self

    def arm(self) -> None:
        """Install the handlers (again: ``ray.init`` installs its own fatal SIGTERM handler)."""
        import threading

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
        for sig, handler in self._old.items():
            with contextlib.suppress(Exception):
                signal.signal(sig, handler)


def _ignore_signals() -> Any:
    """Block a second Ctrl-C while tearing down (so cleanup completes)."""
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(Exception):
            old[sig] = signal.signal(sig, signal.SIG_IGN)
    return old


def _start_ray(cfg: Config) -> bool:
    """Start or join Ray; True when this process started it (and must shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {
        "namespace": cfg.ray.namespace,
        "log_to_driver": True,
        "configure_logging": False,
    }
    address = cfg.ray.address or os.environ.get("RAY_ADDRESS") or None  # Ray's own variable
    if address is None:
        kwargs.update(num_cpus=cfg.ray.num_cpus or os.cpu_count() or 1)
        kwargs["include_dashboard"] = cfg.ray.include_dashboard
    try:
        # ray.address=null (and no RAY_ADDRESS) means a private local Ray: "local" stops
        # ray.init from joining a cluster that someone started with `ray start` on this
        # machine (it would then refuse num_cpus, or run our actors on a stranger's cluster).
        ray.init(address=address or "local", **kwargs)
    except ConnectionError as exc:
        raise ConnectionError(f"cannot join Ray at ray.address={address!r}: {exc}") from exc
    return True


def _plain_config(cfg: Config, arch: str, tag: str, namespace: str) -> dict[str, Any]:
    plain = conf.to_container(cfg)
    plain["model"]["arch"] = arch
    plain["model"]["tag"] = tag
    plain["replay"]["namespace"] = namespace
    return plain


@dataclass
class _Prepared:
    """What :func:`_prepare` built for :func:`run` (its closers are on the given stack)."""

    url: str
    namespace: str
    tag: str
    plain: dict[str, Any]
    client: Any
    learner: Learner
    metrics: MetricsLogger


def _prepare(cfg: Config, run_dir: Path, st: RunState, stack: contextlib.ExitStack) -> _Prepared:
    """Redis (embedded unless ``replay.redis_url``), replay table, weight store, learner
    (resumed, adopted or fresh; its first version published) and the metrics logger.

    Runs beside ``ray.init``; everything it opens is closed by ``stack``."""
    from actors.worker import episodes_key, stop_key, transition_spec
    from replay import ReplayClient
    from replay.embedded import EmbeddedRedis
    from replay.weights import WeightStore

    # --- replay store: embedded unless a URL is given
    if cfg.replay.redis_url is None:
        server = EmbeddedRedis(maxmemory_mb=cfg.replay.maxmemory_mb)
        stack.callback(server.close)
        url = server.start().url
    else:
        url = cfg.replay.redis_url
    st.mark("redis_up")
    namespace = cfg.replay.namespace or "default"

    # --- env, network family and weight line
    obs_space, num_actions = env_spaces(cfg.env)
    arch = resolve_arch(cfg.model.arch, obs_space)
    tag = cfg.model.tag or conf.default_model_tag(cfg.env.id, arch)
    plain = _plain_config(cfg, arch, tag, namespace)
    cfg.model.arch = arch
    logger.info("run dir %s; env %s, arch %s, tag %s", run_dir, cfg.env.id, arch, tag)

    client = ReplayClient(
        url,
        namespace=namespace,
        connect_timeout_s=cfg.replay.connect_timeout_s,
        socket_timeout_s=cfg.replay.socket_timeout_s,
        reconnect_timeout_s=cfg.replay.reconnect_timeout_s,
    )
    stack.callback(client.close)
    table_cfg = cfg.replay.table_config()
    if cfg.mode == "sync":  # the phase schedule fixes the ratio; no limiter waits
        table_cfg = type(table_cfg)(
            name=table_cfg.name,
            capacity=table_cfg.capacity,
            min_size_to_sample=table_cfg.min_size_to_sample,
        )
    client.create_table(table_cfg, transition_spec(plain["env"]))
    store = WeightStore(
        url,
        namespace,
        history=cfg.learner.weights_history,
        connect_timeout_s=cfg.replay.connect_timeout_s,
    )
    stack.callback(store.close)
    client.redis.delete(stop_key(namespace))
    last = client.redis.xrevrange(episodes_key(namespace), count=1)
    st.last_episode_id = last[0][0].decode() if last else "0-0"

    # --- learner: resume or adopt or fresh, then publish before any actor starts
    learner = Learner(cfg, obs_space, num_actions, client, store, tag, run_dir, plain)
    stack.callback(learner.close)
    resumed = False
    if cfg.learner.resume or cfg.learner.resume_from:
        resumed = learner.resume(cfg.learner.resume_from, search_root=run_dir.parent.parent)
        st.env_steps_base = learner.counters.env_steps
    if not resumed:
        learner.adopt_published()
    version = learner.publish()
    logger.info("published %s version %d", tag, version)
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
    return _Prepared(url, namespace, tag, plain, client, learner, metrics)


def run(cfg: Config, run_dir: str | Path) -> dict[str, Any]:
    """Run one training job end to end; returns its summary (also in ``run_dir/summary.json``)."""
    import ray

    from actors.worker import create_remote_actor, episodes_key, life_key, stop_key

    conf.validate(cfg)
    resolve_device(cfg.learner.device)  # learner.device=cuda without CUDA fails here, first
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    st = RunState()
    summary: dict[str, Any] = {}
    with contextlib.ExitStack() as stack, _Signals() as signals:
        # --- Redis, replay table, weight store, learner (version 0 published) and metrics
        # are prepared in a thread while this (main) thread starts Ray: ray.init must run
        # in the main thread, and it mostly waits on its own processes, so the ~1 s of
        # learner set-up is hidden behind it. Actors are created only after both are done.
        if cfg.ray.address is not None and cfg.replay.redis_url is None:
            logger.warning(
                "ray.address=%s with the embedded Redis (127.0.0.1): actors on other nodes "
                "cannot reach it; pass replay.redis_url=redis://<host>:<port>/0",
                cfg.ray.address,
            )
        prep_stack = contextlib.ExitStack()
        stack.push(prep_stack)  # Redis, learner, metrics: closed after Ray is down
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fsrl-prepare") as pool:
            preparing = pool.submit(_prepare, cfg, run_dir, st, prep_stack)
            if _start_ray(cfg):  # leaving the block waits for the preparation
                stack.callback(ray.shutdown)
            st.mark("ray_up")
        prep = preparing.result()  # re-raises what the preparation raised
        url, namespace, tag, plain = prep.url, prep.namespace, prep.tag, prep.plain
        client, learner, metrics = prep.client, prep.learner, prep.metrics
        st.mark("prepared")
        set_torch_threads(cfg)  # per OS thread: the learner was built in another one
        signals.arm()
        # --- the actors
        actors = [create_remote_actor(plain, i, url, namespace, tag) for i in range(cfg.actors.num)]
        st.mark("actors_created")

        actors_stopped = [False]

        def stop_actors() -> None:
            """Idempotent: stop key, stop() on each actor, wait for run(), then kill."""
            if actors_stopped[0]:
                return
            actors_stopped[0] = True
            with contextlib.suppress(Exception):
                client.redis.set(stop_key(namespace), "1", ex=3600)
            refs = list(running.values())
            for a in actors:
                with contextlib.suppress(Exception):
                    refs.append(a.stop.remote())
            if refs:
                with contextlib.suppress(Exception):
                    ray.wait(refs, num_returns=len(refs), timeout=10)
            for a in actors:
                with contextlib.suppress(Exception):
                    ray.kill(a, no_restart=True)

        running: dict[int, Any] = {}  # actor index -> ObjectRef of its run()
        stack.callback(stop_actors)

        def poll_actors() -> None:
            """Env steps (life hashes survive restarts) and finished episodes."""
            pipe = client.redis.pipeline(transaction=False)
            for i in range(cfg.actors.num):
                pipe.hmget(life_key(namespace, i), "env_steps", "restarts")
            rows = pipe.execute()
            steps = sum(int(r[0] or 0) for r in rows)
            st.restarts = max(st.restarts, sum(int(r[1] or 0) for r in rows))
            st.env_steps = max(st.env_steps, st.env_steps_base + steps)
            if steps:
                st.mark("first_env_steps")
            if learner.counters.updates:
                st.mark("first_update")
            reply = client.redis.xread({episodes_key(namespace): st.last_episode_id}, count=10_000)
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    st.last_episode_id = entry_id.decode()
                    ret = float(fields[b"return"])
                    st.episodes += 1
                    st.recent_returns.append(ret)
                    st.per_version[int(fields[b"policy_version"])].append(ret)
            st.recent_returns = st.recent_returns[-100:]

        last_dump = [time.monotonic(), 0, 0]

        def dump() -> None:
            now = time.monotonic()
            dt = max(1e-9, now - last_dump[0])
            updates = learner.counters.updates
            metrics.record_many(
                {
                    "charts/env_steps": st.env_steps,
                    "charts/env_steps_per_s": (st.env_steps - last_dump[1]) / dt,
                    "charts/learner_updates": updates,
                    "charts/updates_per_s": (updates - last_dump[2]) / dt,
                    "charts/latest_version": learner.counters.published_version,
                    "charts/policy_lag": learner.policy_lag(),
                    "charts/episodes": st.episodes,
                    "learner/replay_wait_fraction": learner.wait_fraction,
                    "actors/restarts": st.restarts,
                    "actors/dead": st.actors_dead,
                    "actors/run_errors": st.run_errors,
                }
            )
            if st.recent_returns:
                metrics.record("charts/episode_return", float(np.mean(st.recent_returns[-20:])))
            for v, rets in list(st.per_version.items())[-8:]:
                metrics.record_version_return(v, float(np.mean(rets)))
            if len(st.per_version) > 64:
                for v in sorted(st.per_version)[:-32]:
                    del st.per_version[v]
            metrics.record_many(learner.last_stats)
            with contextlib.suppress(Exception):
                rm = client.metrics(cfg.replay.table)
                metrics.record("replay/size", rm["replay/size"])
                metrics.record("replay/inserts_per_s", rm["replay/inserts_per_s"])
                metrics.record("replay/samples_per_s", rm["replay/samples_per_s"])
                metrics.record("replay/sample_insert_ratio", rm["replay/sample_to_insert_ratio"])
            frac, label = _budget_fraction(cfg, st, updates)
            metrics.set_progress(frac, label)
            metrics.dump(updates)
            last_dump[:] = [now, st.env_steps, updates]

        target = cfg.budget.target_eval_return

        def evaluate_now() -> bool:
            """A greedy evaluation; True when it reaches the target return."""
            episodes = int(cfg.env.eval_episodes)
            screen_n = min(int(cfg.learner.eval_screen_episodes), episodes)
            if target is not None and screen_n:  # screen cheaply before paying for all
                screen = learner.evaluate(screen_n)
                if screen.mean() < target:
                    metrics.record("eval/screen_mean_return", float(screen.mean()))
                    return False
            returns = learner.evaluate(episodes)
            st.last_eval_mean = float(returns.mean())
            st.evals.append(
                {
                    "env_steps": st.env_steps,
                    "learner_updates": learner.counters.updates,
                    "elapsed_s": st.elapsed_s,
                    "mean": st.last_eval_mean,
                }
            )
            metrics.record("eval/mean_return", st.last_eval_mean)
            logger.info(
                "eval at %d env steps: mean %.1f over %d", st.env_steps, st.last_eval_mean, episodes
            )
            solved = target is not None and st.last_eval_mean >= target
            if solved:
                st.mark("solved")
            return solved

        interrupted = ""
        try:
            if cfg.mode == "async":
                # Each actor stops itself at its share of the env-step budget (exact budgets).
                share = None
                if cfg.budget.env_steps:
                    left = max(0, cfg.budget.env_steps - st.env_steps_base)
                    share = max(1, math.ceil(left / cfg.actors.num))
                finished: dict[int, int] = {}  # actor index -> env steps when it finished
                running.update({i: a.run.remote(max_env_steps=share) for i, a in enumerate(actors)})
                learner.start_prefetch()
                learner.reset_wait()  # the learner's waiting counts from here
                last_poll = time.monotonic()
                next_eval = last_poll + float(cfg.learner.eval_interval_s)
                pub_every = int(cfg.learner.publish_interval_updates)
                ckpt_every = int(cfg.learner.checkpoint_interval_updates)
                while True:
                    if learner.step_async(timeout_s=0.05):
                        u = learner.counters.updates
                        if u % pub_every == 0:
                            learner.publish()
                        if ckpt_every and u % ckpt_every == 0:
                            learner.counters.env_steps = st.env_steps
                            learner.checkpoint()
                    now = time.monotonic()
                    if now - last_poll >= 0.25:
                        last_poll = now
                        try:
                            poll_actors()
                        except (redis.RedisError, ReplayError) as exc:
                            logger.warning("cannot read actor progress from Redis: %s", exc)
                        refs = list(running.values())
                        done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
                        for ref in done:
                            i = next(k for k, r in running.items() if r == ref)
                            try:
                                stats = ray.get(ref)
                                steps = int(stats.get("env_steps_total", 0))
                                if share is not None and steps >= share:
                                    finished[i] = steps
                                    del running[i]
                                    continue
                                logger.warning("actor %d left run() early", i)
                            except ray.exceptions.RayActorError as exc:
                                logger.error("actor %d died for good: %s", i, exc)
                                del running[i]
                                st.actors_dead += 1
                                continue
                            except Exception as exc:  # run() raised: the actor lives on
                                logger.error("actor %d run() failed, restarting it: %s", i, exc)
                                st.run_errors += 1
                            running[i] = actors[i].run.remote(max_env_steps=share)
                        if not running:
                            if finished and not st.actors_dead:
                                total = st.env_steps_base + sum(finished.values())
                                st.env_steps = max(st.env_steps, total)
                                st.stop_reason = (
                                    f"env step budget reached ({st.env_steps:,} >= "
                                    f"{cfg.budget.env_steps:,})"
                                )
                            else:
                                st.stop_reason = "every actor stopped"
                            break
                        frac, _ = _budget_fraction(cfg, st, learner.counters.updates)
                        learner.set_progress(frac)
                        reason = _budget_reached(cfg, st, learner.counters.updates)
                        if reason:
                            st.stop_reason = reason
                            break
                    if cfg.learner.eval_interval_s and now >= next_eval:
                        if evaluate_now():
                            st.stop_reason = f"target eval return {target} reached"
                            break
                        next_eval = _next_eval_at(cfg, now)
                    if now - last_dump[0] >= cfg.logging.interval_s:
                        dump()
            else:
                _run_sync(cfg, learner, actors, st, poll_actors, dump, evaluate_now)
        except (KeyboardInterrupt, StopRun) as exc:
            interrupted = f"interrupted ({exc or 'Ctrl-C'})"
            st.stop_reason = interrupted
            logger.warning("stopping: %s", interrupted)

        old = _ignore_signals()  # finish the teardown even on a second Ctrl-C
        try:
            st.mark("train_end")
            learner.stop_prefetch()
            stop_actors()
            st.mark("actors_stopped")
            with contextlib.suppress(Exception):
                poll_actors()
            learner.counters.env_steps = st.env_steps
            final_version = learner.publish()
            ckpt = learner.checkpoint()
            final_eval = float("nan")
            if not interrupted:
                returns = learner.evaluate()
                final_eval = float(returns.mean())
                metrics.record("eval/mean_return", final_eval)
            st.mark("final_eval_done")
            dump()
            summary = {
                "stop_reason": st.stop_reason,
                "mode": cfg.mode,
                "env_id": cfg.env.id,
                "model_tag": tag,
                "env_steps": st.env_steps,
                "learner_updates": learner.counters.updates,
                "episodes": st.episodes,
                "final_version": final_version,
                "final_eval_mean_return": final_eval,
                "best_eval_mean_return": learner.counters.best_eval_return,
                "wall_time_s": round(st.elapsed_s, 3),
                "replay_wait_fraction": learner.wait_fraction,
                "actor_restarts": st.restarts,
                "weights_sha256": learner.weights_sha256(),
                "checkpoint": str(ckpt),
                "run_dir": str(run_dir),
                "evals": st.evals,
                "start_unix_s": st.start_unix_s,
                "timeline_s": st.timeline_s,
            }
            metrics.close({k: v for k, v in summary.items() if k not in ("evals", "timeline_s")})
            # close Ray, the learner's threads and Redis (ExitStack, reverse order)
            stack.close()
            st.mark("shutdown_done")
        finally:
            for sig, handler in old.items():
                with contextlib.suppress(Exception):
                    signal.signal(sig, handler)
    (run_dir / "summary.json").write_text(
        __import__("json").dumps(summary, indent=1, default=_json_default)
    )
    return summary


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return str(o)


def _next_eval_at(cfg: Config, started: float) -> float:
    """When the next periodic evaluation is due, given that the last one began at ``started``:
    ``learner.eval_interval_s`` later, or later still so that evaluations take at most
    ``learner.eval_max_time_fraction`` of the wall time."""
    took = time.monotonic() - started
    gap = float(cfg.learner.eval_interval_s)
    if cfg.learner.eval_max_time_fraction > 0:
        gap = max(gap, took / float(cfg.learner.eval_max_time_fraction))
    return started + gap


def _run_sync(
    cfg: Config,
    learner: Learner,
    actors: list[Any],
    st: RunState,
    poll_actors: Any,
    dump: Any,
    evaluate_now: Any,
) -> None:
    """Alternate collect and train phases; deterministic for a given seed."""
    import ray

    per_phase = int(cfg.learner.sync_steps_per_phase)
    per_phase -= per_phase % cfg.actors.envs_per_actor
    per_phase = max(per_phase, cfg.actors.envs_per_actor)
    pub_every = int(cfg.learner.publish_interval_updates)
    owed = 0.0
    last_dump = time.monotonic()
    next_eval = last_dump + float(cfg.learner.eval_interval_s)
    min_size = max(1, int(cfg.replay.min_size_to_sample))
    collected = 0
    while True:
        for a in actors:  # one after the other: the replay's order is then fixed
            ray.get(a.collect.remote(per_phase))
            collected += per_phase
        st.env_steps = st.env_steps_base + collected
        poll_actors()
        st.env_steps = st.env_steps_base + collected
        if collected >= min_size:
            owed += cfg.learner.sync_updates_per_step * per_phase * len(actors)
            while owed >= 1.0:
                if not learner.step_sync():
                    break
                owed -= 1.0
                if learner.counters.updates % pub_every == 0:
                    learner.publish()
            learner.publish()
        frac, _ = _budget_fraction(cfg, st, learner.counters.updates)
        learner.set_progress(frac)
        reason = _budget_reached(cfg, st, learner.counters.updates)
        if reason:
            st.stop_reason = reason
            return
        now = time.monotonic()
        if cfg.learner.eval_interval_s and now >= next_eval:
            if evaluate_now():
                st.stop_reason = f"target eval return {cfg.budget.target_eval_return} reached"
                return
            next_eval = _next_eval_at(cfg, now)
        if now - last_dump >= cfg.logging.interval_s:
            dump()
            last_dump = now


@hydra.main(config_path="pkg://conf", config_name="config", version_base="1.3")
def main(dcfg: DictConfig) -> None:
    """Hydra entry: compose, validate (fails before anything starts), run."""
    from hydra.core.hydra_config import HydraConfig

    cfg = conf.to_config(dcfg)
    logging.getLogger("learner").setLevel(cfg.logging.level)
    logging.getLogger("actors").setLevel(cfg.logging.level)
    logging.getLogger("replay").setLevel(cfg.logging.level)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    summary = run(cfg, run_dir)
    logger.info("run finished: %s", {k: v for k, v in summary.items() if k != "evals"})
    if str(summary.get("stop_reason", "")).startswith("interrupted"):
        raise SystemExit(130)


if __name__ == "__main__":
    main()
