"""Pre-flight pieces without a process: argv splitting, RAY_ADDRESS, the resumed-budget message."""

from __future__ import annotations

import sys

import pytest

import conf
from learner.preflight import (
    PreflightError,
    check_argv,
    resolve_ray_address,
    resumed_budget_message,
    split_argv,
)


def test_split_argv_keeps_overrides_and_drops_flags_and_hydra_keys() -> None:
    overrides, flags = split_argv(
        [
            "--cfg",
            "job",
            "-p",
            "actors",
            "actors.num=2",
            "hydra.run.dir=/x",
            "+extra=1",
            "hydra/help=fsrl",
        ]
    )
    assert overrides == ["actors.num=2", "+extra=1"]
    assert flags == {"--cfg", "-p"}


def test_check_argv_skips_sweeps_and_help_but_names_bad_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert check_argv(["-m", "actors.num=0,1"]) is None
    assert check_argv(["--help"]) is None
    with pytest.raises(PreflightError, match=r"algo.lr=-1.0 is invalid"):
        check_argv(["algo.lr=-1"])
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    with pytest.raises(PreflightError, match=r"logging.sinks names wandb.*fsrl\[wandb\]"):
        check_argv(["logging.sinks=[wandb]"])


def test_ray_address_comes_from_the_environment_only_when_unset() -> None:
    assert resolve_ray_address(None, {}) is None
    assert resolve_ray_address(None, {"RAY_ADDRESS": "10.0.0.2:6379"}) == "10.0.0.2:6379"
    assert resolve_ray_address("auto", {"RAY_ADDRESS": "10.0.0.2:6379"}) == "auto"
    assert resolve_ray_address(None, {"RAY_ADDRESS": ""}) is None


def test_a_resumed_run_past_its_budget_says_so_and_how_to_extend_it() -> None:
    budget = conf.load_config(["budget.env_steps=1000", "budget.learner_updates=500"]).budget
    assert resumed_budget_message(budget, 999, 10) == ""
    msg = resumed_budget_message(budget, 1000, 10)
    assert "budget.env_steps=1,000 is already reached (1,000 env steps done)" in msg
    assert "pass budget.env_steps=2000" in msg and "a total, not an increment" in msg
    both = resumed_budget_message(budget, 5000, 600)
    assert "budget.env_steps=10000" not in both and "budget.env_steps=6000" in both
    assert "budget.learner_updates=1100" in both
