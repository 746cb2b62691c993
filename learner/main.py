"""``python -m learner.main``: the one place that wires an fsrl run together.

:func:`run` checks what it can before anything starts (config values, the device, the
agent against the env's spaces), builds the system (:func:`learner.system.build_system`:
Redis → replay table and weight store → learner, beside Ray → actors) and hands it to a
driver (:mod:`learner.drivers`: ``mode=async`` or ``mode=sync``), which trains until a
budget is reached (env steps, learner updates, wall time, or a greedy evaluation at
``budget.target_eval_return``), writes a final checkpoint and evaluation, and tears
everything down in reverse order. Ctrl-C and SIGTERM stop the run the same way: no Ray
worker or Redis server outlives it.

Examples::

    python -m learner.main
    python -m learner.main env=tetris experiment=tetris actors.num=16 learner.device=cuda
    python -m learner.main ray.address=auto replay.redis_url=redis://redis:6379/0
    python -m learner.main algo=my_agents.qr:QRDQN
    python -m learner.main -m actors.num=1,2,4
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import conf
from actors.spec import build_agent
from conf.schema import Config
from learner.preflight import PreflightError, check_config, check_device, exit_on_error
from learner.run_files import redact_run_dir
from learner.run_state import RunState
from learner.startup import Signals, StopRun, sweep_ray_processes
from learner.system import build_system
from replay.config import table_config

logger = logging.getLogger(__name__)


def run(cfg: Config, run_dir: str | Path) -> dict[str, Any]:
    """Run one training job end to end; returns its summary (also in ``run_dir/summary.json``)."""
    check_config(cfg)  # values, the env id, optional packages: one line, nothing started
    check_device(cfg.learner.device)  # learner.device=cuda without CUDA fails here, first
    table_config(cfg.replay)  # a deadlocking rate limiter fails here, before Redis starts
    agent = build_agent(cfg)  # an agent that cannot handle the env fails here
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    st = RunState()
    with contextlib.ExitStack() as stack, Signals() as signals:
        system = build_system(cfg, agent, run_dir, st, stack, signals)
        from learner.drivers import AsyncDriver, SyncDriver  # torch: imported by now

        driver = AsyncDriver(system) if cfg.mode == "async" else SyncDriver(system)
        summary = driver.run(stack)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=_json_default))
    return summary


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return str(o)


@hydra.main(config_path="pkg://conf", config_name="config", version_base="1.3")
def main(dcfg: DictConfig) -> float:
    """Hydra entry: compose, validate (fails before anything starts), run."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    redact_run_dir(run_dir)  # .hydra/ holds the overrides as typed: mask URL passwords now
    cfg = conf.to_config(dcfg)
    try:  # the env id and optional packages, one line, before Redis or Ray start
        check_config(cfg)
    except PreflightError as exc:
        raise SystemExit(f"learner.main: error: {exc}") from None
    logging.getLogger("learner").setLevel(cfg.logging.level)
    logging.getLogger("actors").setLevel(cfg.logging.level)
    logging.getLogger("replay").setLevel(cfg.logging.level)
    try:
        summary = run(cfg, run_dir)
    except (KeyboardInterrupt, StopRun) as exc:  # during start-up: everything started is stopped
        sweep_ray_processes()  # agents a raylet cut short was still starting
        logger.warning("stopped during start-up (%s): nothing is left running", exc or "Ctrl-C")
        raise SystemExit(130) from None
    logger.info("run finished: %s", {k: v for k, v in summary.items() if k != "evals"})
    if str(summary.get("stop_reason", "")).startswith("interrupted"):
        raise SystemExit(130)
    best = summary.get("best_eval_mean_return")  # what a Hydra sweeper optimises
    return float(best) if best is not None else float("-inf")


def entry() -> None:
    """``python -m learner.main``: user agents named by ``algo=package.module:Name`` become
    config choices first (their typed ``algo`` section), then Hydra composes and runs."""
    conf.register_user_algos(sys.argv[1:])
    if {"--cfg", "-c"} & set(sys.argv[1:]):  # `--cfg job` checks the values too
        exit_on_error(sys.argv[1:], "learner.main")
    main()


if __name__ == "__main__":
    entry()
