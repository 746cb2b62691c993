"""The schema's defaults are what the default run uses: a section read without its YAML
(a user's script, a test building a dataclass) behaves like ``python -m learner.main``."""

from __future__ import annotations

import dataclasses

import pytest

from conf import load_config
from conf.schema import SECTIONS, DQNConfig

# env is the one section a preset exists to change (CartPole's solved return); the rest
# of the default run is the schema as declared
SECTIONS_RUN_AS_DECLARED = [name for name in SECTIONS if name not in ("env", "algo")]


@pytest.mark.parametrize("section", SECTIONS_RUN_AS_DECLARED)
def test_default_run_uses_the_schema_defaults(section: str) -> None:
    cfg = load_config([])
    declared = dataclasses.asdict(SECTIONS[section]())
    if section == "budget":  # declared as the interpolation ${env.solved_return}
        assert declared["target_eval_return"] == "${env.solved_return}"
        declared["target_eval_return"] = cfg.env.solved_return
    assert dataclasses.asdict(getattr(cfg, section)) == declared


def test_default_agent_section_is_dqns_declared_defaults() -> None:
    algo = load_config([]).algo
    assert type(algo) is DQNConfig and algo == DQNConfig()
