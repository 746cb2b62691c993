"""How a built system trains: the async and sync drivers over one schedule, one stop path.

Promises: both drivers run the same periodic jobs (:meth:`Driver.schedule`: poll the
actors, publish, checkpoint, evaluate, log) and stop the same way
(:meth:`Driver.finish`: stop sampling, stop the actors, publish and checkpoint the
final weights, a final evaluation unless interrupted, the summary); Ctrl-C and SIGTERM
end the loop as a stop reason, not as an error. ``mode=async``: actors collect
continuously while the learner trains from prefetched batches. ``mode=sync``: collect
and train phases alternate, actors one after the other, batches sampled inline — the
same seed gives bit-identical final weights.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import numpy as np
import redis

from learner.run_state import budget_fraction, budget_reached
from learner.schedule import Schedule
from learner.startup import StopRun, ignore_signals, restore_signals
from learner.system import System
from replay.errors import ReplayError

logger = logging.getLogger(__name__)


class Driver:
    """The loop around a :class:`~learner.system.System`; subclasses say how it trains."""

    def __init__(self, system: System) -> None:
        self.s = system
        self.cfg = system.cfg
        self.st = system.st
        self.learner = system.learner
        self.fleet = system.fleet
        self.metrics = system.metrics
        self.lifecycle = system.lifecycle
        self._last_dump = (time.monotonic(), 0, 0)
        self.last_eval_stats: dict[str, float] = {}  # of the latest full evaluation

    # ------------------------------------------------------------------ the schedule
    def schedule(self, poll_s: float) -> Schedule:
        cfg, sched = self.cfg, Schedule()
        if poll_s:
            sched.every("poll", self.poll_and_check_budget, seconds=poll_s)
        if cfg.learner.eval_interval_updates:
            sched.every("evaluate", self.evaluate, updates=int(cfg.learner.eval_interval_updates))
        elif cfg.learner.eval_interval_s:
            sched.every("evaluate", self.evaluate, seconds=float(cfg.learner.eval_interval_s))
        sched.every("log", self.dump, seconds=float(cfg.logging.interval_s))
        sched.every("lease", self._renew_lease, seconds=float(cfg.learner.lease_ttl_s) / 3)
        return sched

    def _renew_lease(self) -> bool:
        self.lifecycle.renew()
        return False

    def poll(self) -> None:
        """Actor progress into the run state; each new episode credited to its version."""
        for version, ret in self.fleet.poll(self.st):  # type: ignore[union-attr]
            self.lifecycle.episode(version, ret)

    def poll_and_check_budget(self) -> bool:
        """Read the actors' progress, then :meth:`check_budget`."""
        try:
            self.poll()
        except (redis.RedisError, ReplayError) as exc:
            logger.warning("cannot read actor progress from Redis: %s", exc)
        return self.check_budget()

    def check_budget(self) -> bool:
        """Anneal with the run's progress; True (and the reason in the state) at a budget."""
        updates = self.learner.counters.updates
        if updates:
            self.st.mark("first_update")
        self.learner.set_progress(budget_fraction(self.cfg.budget, self.st, updates)[0])
        self.st.stop_reason = budget_reached(self.cfg.budget, self.st, updates)
        return bool(self.st.stop_reason)

    def evaluate(self) -> bool:
        """A greedy evaluation (after a cheap screen); True when it reaches the target."""
        cfg, st, learner = self.cfg, self.st, self.learner
        started = time.monotonic()
        target = cfg.budget.target_eval_return
        try:
            episodes = int(cfg.env.eval_episodes)
            screen_n = min(int(cfg.learner.eval_screen_episodes), episodes)
            judge = self.s.judge  # self-play: the arena, gated against the champion
            if target is not None and screen_n and judge is None:  # screen cheaply first
                screen = learner.evaluate(screen_n)
                if screen.mean() < target:
                    metric = str(cfg.env.eval_metric)
                    self.metrics.record(f"eval/screen_mean_{metric}", float(screen.mean()))
                    return False
            version = learner.publish()  # the version evaluated (and gated) is a stored one
            st.last_eval_mean = self._evaluate_version(version)
            st.evals.append(
                {
                    "env_steps": st.env_steps,
                    "learner_updates": learner.counters.updates,
                    "elapsed_s": st.elapsed_s,
                    "mean": st.last_eval_mean,
                }
            )
            logger.info(
                "eval at %d env steps: mean %s %.2f",
                st.env_steps,
                cfg.env.eval_metric,
                st.last_eval_mean,
            )
            if target is not None and st.last_eval_mean >= target and self._means_reached():
                st.mark("solved")
                st.stop_reason = f"target eval return {target} reached"
                if cfg.budget.target_eval_means:
                    st.stop_reason += f" with means {dict(cfg.budget.target_eval_means)}"
                return True
            return False
        finally:  # evaluations take at most learner.eval_max_time_fraction of the wall time
            frac = float(cfg.learner.eval_max_time_fraction)
            if frac > 0 and self._sched is not None:  # a no-op for an update-counted job
                self._sched.job("evaluate").defer(started + (time.monotonic() - started) / frac)

    def _means_reached(self) -> bool:
        """Whether the latest evaluation's info-total means meet budget.target_eval_means."""
        rec = self.learner.last_eval
        for key, floor in dict(self.cfg.budget.target_eval_means or {}).items():
            if rec is None or float(rec.scores(str(key)).mean()) < float(floor):
                return False
        return True

    def record_eval(self) -> dict[str, float]:
        """Metrics of the learner's latest full evaluation: ``eval/mean_return`` (the mean
        return), and for an ``env.eval_metric`` other than the return its mean, median and
        min (``eval/mean_lines`` ...) and ``eval/capped_episodes``; returns what it recorded."""
        rec, metric = self.learner.last_eval, str(self.cfg.env.eval_metric)
        if rec is None:
            return {}
        stats = {"eval/mean_return": float(rec.returns.mean())}
        if metric != "return":
            summary = rec.summary(metric)
            stats.update({f"eval/{k}": v for k, v in summary.items() if not k.startswith("max")})
            stats["eval/capped_episodes"] = float(rec.capped.sum())
        for key in dict(self.cfg.budget.target_eval_means or {}):
            stats[f"eval/mean_{key}"] = float(rec.scores(str(key)).mean())
        self.metrics.record_many(stats)
        return stats

    def _evaluate_version(self, version: int) -> float:
        """Evaluate (and gate) the just-published ``version``; its mean return: greedy
        episodes on the env, or the arena's judgement where ``selfplay.game`` is set."""
        learner = self.learner
        if self.s.judge is not None:
            mean = self.s.judge.judge(version, *learner.algo.export(), metrics=self.metrics)
            learner.counters.best_eval_return = max(learner.counters.best_eval_return, mean)
            self.last_eval_stats = {}
            return mean
        episodes = int(self.cfg.env.eval_episodes)
        mean = float(learner.evaluate(episodes).mean())
        self.last_eval_stats = self.record_eval()
        self.lifecycle.evaluated(version, mean, episodes)
        return mean

    def dump(self) -> None:
        st, learner, m = self.st, self.learner, self.metrics
        now = time.monotonic()
        t0, steps0, updates0 = self._last_dump
        dt = max(1e-9, now - t0)
        updates = learner.counters.updates
        m.record_many(
            {
                "charts/env_steps": st.env_steps,
                "charts/env_steps_per_s": (st.env_steps - steps0) / dt,
                "charts/learner_updates": updates,
                "charts/updates_per_s": (updates - updates0) / dt,
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
            m.record("charts/episode_return", float(np.mean(st.recent_returns[-20:])))
        for v, rets in list(st.per_version.items())[-8:]:
            m.record_version_return(v, float(np.mean(rets)))
        if len(st.per_version) > 64:
            for v in sorted(st.per_version)[:-32]:
                del st.per_version[v]
        m.record_many(learner.last_stats)
        with contextlib.suppress(Exception):
            rm = self.s.client.metrics(self.cfg.replay.table)
            m.record("replay/size", rm["replay/size"])
            m.record("replay/inserts_per_s", rm["replay/inserts_per_s"])
            m.record("replay/samples_per_s", rm["replay/samples_per_s"])
            m.record("replay/sample_insert_ratio", rm["replay/sample_to_insert_ratio"])
        with contextlib.suppress(redis.RedisError, ReplayError):
            self.lifecycle.flush()  # episodes per version into the registry
        m.set_progress(*budget_fraction(self.cfg.budget, st, updates))
        m.dump(updates)
        self._last_dump = (now, st.env_steps, updates)

    # ------------------------------------------------------------------ run and stop
    _sched: Schedule | None = None

    def loop(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, stack: contextlib.ExitStack) -> dict[str, Any]:
        interrupted = ""
        try:
            self.loop()
        except (KeyboardInterrupt, StopRun) as exc:
            interrupted = f"interrupted ({exc or 'Ctrl-C'})"
            self.st.stop_reason = interrupted
            logger.warning("stopping: %s", interrupted)
        return self.finish(stack, interrupted)

    def finish(self, stack: contextlib.ExitStack, interrupted: str) -> dict[str, Any]:
        """The one stop path: final weights, checkpoint, evaluation, summary, teardown."""
        st, learner = self.st, self.learner
        old = ignore_signals()  # finish the teardown even on a second Ctrl-C
        try:
            st.mark("train_end")
            learner.stop_prefetch()
            st.mark("sampler_stopped")
            self.fleet.stop()  # type: ignore[union-attr]
            st.mark("actors_stopped")
            with contextlib.suppress(Exception):
                self.poll()
            learner.counters.env_steps = st.env_steps
            final_version = learner.publish()
            ckpt = learner.checkpoint()
            final_eval = float("nan")
            final_stats: dict[str, float] = {}
            if not interrupted:
                final_eval = self._evaluate_version(final_version)
                final_stats = self.last_eval_stats
            st.mark("final_eval_done")
            self.dump()
            summary = {
                "stop_reason": st.stop_reason,
                "mode": self.cfg.mode,
                "env_id": self.cfg.env.id,
                "agent": self.s.agent.name,
                "model_tag": self.s.tag,
                "env_steps": st.env_steps,
                "learner_updates": learner.counters.updates,
                "episodes": st.episodes,
                "final_version": final_version,
                "final_eval_mean_return": final_stats.get("eval/mean_return", final_eval),
                "eval_metric": self.cfg.env.eval_metric,
                "final_eval_mean_score": final_eval,
                "final_eval": {k[len("eval/") :]: v for k, v in final_stats.items()},
                "best_eval_mean_return": learner.counters.best_eval_return,
                **self.lifecycle.summary(),
                "wall_time_s": round(st.elapsed_s, 3),
                "replay_wait_fraction": learner.wait_fraction,
                "actor_restarts": st.restarts,
                "weights_sha256": learner.weights_sha256(),
                "checkpoint": str(ckpt),
                "run_dir": str(self.s.run_dir),
                "evals": st.evals,
                "start_unix_s": st.start_unix_s,
                "timeline_s": st.timeline_s,
            }
            self.metrics.close(
                {k: v for k, v in summary.items() if k not in ("evals", "timeline_s")}
            )
            stack.close()  # Ray, the learner's threads, Redis (reverse order)
            st.mark("shutdown_done")
            return summary
        finally:
            restore_signals(old)


class AsyncDriver(Driver):
    """Actors collect continuously; the learner trains from prefetched batches."""

    def loop(self) -> None:
        cfg, st, learner, fleet = self.cfg, self.st, self.learner, self.fleet
        assert fleet is not None
        left = None
        if cfg.budget.env_steps:  # each actor stops itself at its share (exact budgets)
            left = cfg.budget.env_steps - st.env_steps_base
        fleet.start(left)
        self._sched = sched = self.schedule(poll_s=0.25)
        sched.every("publish", self._publish, updates=int(cfg.learner.publish_interval_updates))
        if cfg.learner.checkpoint_interval_updates:
            every = int(cfg.learner.checkpoint_interval_updates)
            sched.every("checkpoint", self._checkpoint, updates=every)
        sched.every("actors", self._check_actors, seconds=0.25)
        learner.start_prefetch()
        learner.reset_wait()  # the learner's waiting counts from here
        while True:
            learner.step_async(timeout_s=0.05)
            if sched.tick(learner.counters.updates):
                return

    def _publish(self) -> bool:
        self.learner.publish()
        return False

    def _checkpoint(self) -> bool:
        self.learner.counters.env_steps = self.st.env_steps
        self.learner.checkpoint()
        return False

    def _check_actors(self) -> bool:
        reason = self.fleet.check(self.st)  # type: ignore[union-attr]
        if reason:
            self.st.stop_reason = reason
        return bool(reason)


class SyncDriver(Driver):
    """Alternate collect and train phases; deterministic for a given seed."""

    def loop(self) -> None:
        cfg, st, learner, fleet = self.cfg, self.st, self.learner, self.fleet
        assert fleet is not None
        n_env = cfg.actors.envs_per_actor
        per_phase = int(cfg.learner.sync_steps_per_phase)
        per_phase = max(per_phase - per_phase % n_env, n_env)
        pub_every = int(cfg.learner.publish_interval_updates)
        min_size = max(1, int(cfg.replay.min_size_to_sample))
        self._sched = sched = self.schedule(poll_s=0)
        owed, collected = 0.0, 0
        while True:
            fleet.collect(per_phase)
            collected += per_phase * fleet.num
            self.poll()
            st.env_steps = st.env_steps_base + collected
            if collected >= min_size:
                owed += cfg.learner.sync_updates_per_step * per_phase * fleet.num
                while owed >= 1.0 and learner.step_sync():
                    owed -= 1.0
                    if learner.counters.updates % pub_every == 0:
                        learner.publish()
                learner.publish()
            if self.check_budget() or sched.tick(learner.counters.updates):
                return


__all__ = ["AsyncDriver", "Driver", "SyncDriver"]
