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
from omegaconf import DictConfig

import conf
from actors.spec import build_agent
from conf.schema import Config
from learner.drivers import AsyncDriver, SyncDriver
from learner.learner import resolve_device
from learner.run_state import RunState
from learner.startup import Signals
from learner.system import build_system
from replay.config import table_config

logger = logging.getLogger(__name__)


def run(cfg: Config, run_dir: str | Path) -> dict[str, Any]:
    """Run one training job end to end; returns its summary (also in ``run_dir/summary.json``)."""
    conf.validate(cfg)
    resolve_device(cfg.learner.device)  # learner.device=cuda without CUDA fails here, first
    table_config(cfg.replay)  # a deadlocking rate limiter fails here, before Redis starts
    agent = build_agent(cfg)  # an agent that cannot handle the env fails here
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    st = RunState()
    with contextlib.ExitStack() as stack, Signals() as signals:
        system = build_system(cfg, agent, run_dir, st, stack, signals)
        driver = AsyncDriver(system) if cfg.mode == "async" else SyncDriver(system)
        summary = driver.run(stack)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=_json_default))
    return summary


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return str(o)


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


def entry() -> None:
    """``python -m learner.main``: user agents named by ``algo=package.module:Name`` become
    config choices first (their typed ``algo`` section), then Hydra composes and runs."""
    conf.register_user_algos(sys.argv[1:])
    main()


if __name__ == "__main__":
    entry()
