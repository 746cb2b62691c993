"""The warm start (learner/warm_start.py): while Ray starts, the learner trains on an
in-process actor's data; the real embedded pieces (test Redis, learner, sampler process,
actor worker), with a timer standing in for ``ray.init`` returning."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import conf
from actors.spec import build_agent
from conf.schema import Config
from learner.run_state import RunState
from learner.system import prepare_system
from learner.warm_start import warm_start_applies
from replay.keys import RunKeys


def _prepared(cfg: Config, tmp_path: Path, ray_up_after_s: float) -> tuple[RunState, dict, float]:
    """``prepare_system`` with the warm start ended ``ray_up_after_s`` after it began; returns the
    run state, what the system holds afterwards, and how long the preparation took."""
    st, ray_started = RunState(), threading.Event()
    timer = threading.Timer(ray_up_after_s, ray_started.set)
    with contextlib.ExitStack() as stack:
        timer.start()
        stack.callback(timer.cancel)
        t0 = time.monotonic()
        system = prepare_system(cfg, build_agent(cfg), tmp_path, st, stack, ray_started)
        took = time.monotonic() - t0
        keys = RunKeys(system.namespace)
        seen = {
            "updates": system.learner.counters.updates,
            "published": system.learner.counters.published_version,
            "table_size": system.client.size(cfg.replay.table),
            "life_hash": system.client.redis.exists(keys.actor_life(0)),
            "episodes": system.client.redis.xlen(keys.episodes),
        }
    return st, seen, took


def test_the_learner_trains_and_publishes_until_ray_is_up(
    run_cfg: Callable[..., Config], tmp_path: Path
) -> None:
    cfg = run_cfg("budget.env_steps=null", "learner.warm_start_max_s=30")
    st, seen, took = _prepared(cfg, tmp_path, ray_up_after_s=4.0)
    assert 3.5 <= took < 15.0  # it ran until "Ray" was up, not to its 30 s limit
    assert seen["updates"] > 0  # trained on the warm actor's transitions
    assert seen["published"] > 1  # and published what it learned (version 1: the initial)
    assert st.env_steps_base >= cfg.replay.min_size_to_sample  # the run counts its steps
    assert st.env_steps == st.env_steps_base
    assert seen["table_size"] >= cfg.replay.min_size_to_sample
    assert seen["episodes"] > 0  # CartPole episodes finished and were reported
    assert seen["life_hash"] == 0  # the Ray actor 0 starts its own count from zero
    assert "warm_start_done" in st.timeline_s


def test_the_env_step_budget_caps_the_warm_actor(
    run_cfg: Callable[..., Config], tmp_path: Path
) -> None:
    cfg = run_cfg("budget.env_steps=600", "learner.warm_start_max_s=30")
    st, _, took = _prepared(cfg, tmp_path, ray_up_after_s=20.0)
    assert 0 < st.env_steps_base <= 600
    assert took < 15.0  # it stopped at the budget, not when "Ray" came up


def test_its_time_limit_ends_it_when_ray_is_slow(
    run_cfg: Callable[..., Config], tmp_path: Path
) -> None:
    cfg = run_cfg("budget.env_steps=null", "learner.warm_start_max_s=1.0")
    st, _, took = _prepared(cfg, tmp_path, ray_up_after_s=30.0)
    assert took < 10.0
    assert st.env_steps_base > 0


ON = "learner.warm_start_max_s=10"


@pytest.mark.parametrize(
    ("override", "applies"),
    [
        ((ON,), True),
        (("mode=sync", ON), False),
        (("ray.address=127.0.0.1:6380", ON), False),
        ((), False),  # the smoke preset exercises Ray's actors, not the warm start
    ],
)
def test_where_it_applies(
    run_cfg: Callable[..., Config], override: tuple[str, ...], applies: bool
) -> None:
    assert warm_start_applies(run_cfg(*override)) is applies


def test_the_default_run_warm_starts() -> None:
    assert warm_start_applies(conf.load_config([]))


def test_a_negative_time_limit_is_refused(run_cfg: Callable[..., Config]) -> None:
    with pytest.raises(ValueError, match="learner.warm_start_max_s"):
        run_cfg("learner.warm_start_max_s=-1")
