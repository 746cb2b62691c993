"""Every preset composes; wrong keys and values fail before anything starts, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

import conf
from conf.schema import Config

CONF_DIR = Path(conf.__file__).parent


def _group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def test_default_config_is_cartpole_async_embedded_redis() -> None:
    cfg = conf.load_config([])
    assert isinstance(cfg, Config)
    assert cfg.mode == "async"
    assert cfg.env.id == "CartPole-v1"
    assert cfg.replay.redis_url is None
    assert cfg.ray.address is None
    # The stop-at-solved target follows the env preset through interpolation.
    assert cfg.budget.target_eval_return == cfg.env.solved_return == 475.0


@pytest.mark.parametrize("experiment", _group_options("experiment"))
def test_every_experiment_preset_composes(experiment: str) -> None:
    cfg = conf.load_config([f"experiment={experiment}"])
    conf.validate(cfg)
    plain = conf.to_container(cfg)
    assert isinstance(plain["actors"], dict)
    assert conf.from_container(plain) == cfg


@pytest.mark.parametrize(
    "group", ["env", "model", "algo", "actors", "learner", "replay", "ray", "budget", "robot"]
)
def test_every_group_option_composes(group: str) -> None:
    options = _group_options(group)
    assert options, f"conf/{group}/ has no presets"
    for option in options:
        cfg = conf.load_config([f"{group}={option}"])
        assert isinstance(cfg, Config)


def test_overrides_are_typed() -> None:
    cfg = conf.load_config(["actors.num=16", "learner.device=cpu", "algo.lr=5e-4", "mode=sync"])
    assert cfg.actors.num == 16 and isinstance(cfg.actors.num, int)
    assert cfg.algo.lr == pytest.approx(5e-4)
    assert cfg.mode == "sync"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("actors.nmu=16", "actors.nmu"),
        ("+actors.nmu=16", "nmu"),
        ("actors.num=abc", "actors.num"),
        ("actors.num=0", "actors.num"),
        ("algo.lr=-0.1", "algo.lr"),
        ("algo.gamma=1.5", "algo.gamma"),
        ("learner.device=tpu", "learner.device"),
        ("mode=fast", "mode"),
        ("replay.redis_url=http://x:1", "replay.redis_url"),
        ("ray.address=not a url", "ray.address"),
        ("robot.backend=lego", "robot.backend"),
        ("model.arch=transformer", "model.arch"),
    ],
)
def test_bad_override_raises_naming_the_field(override: str, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        conf.load_config([override])


def test_a_real_robot_endpoint_takes_exactly_one_env() -> None:
    """One robot behind one endpoint: a second env would drive the same motors."""
    real = ["robot=gopigo3", "robot.endpoint=tcp://gopigo.local:5555"]
    with pytest.raises(ValueError, match=r"actors\.envs_per_actor=8 .*one robot, one env"):
        conf.load_config(["env=gopigo", "actors.num=1", *real])
    with pytest.raises(ValueError, match=r"actors\.num=2 .*one robot, one env"):
        conf.load_config(["experiment=gopigo", "actors.num=2", *real])
    cfg = conf.load_config(["experiment=gopigo", *real])
    assert (cfg.actors.num, cfg.actors.envs_per_actor) == (1, 1)
    # simulated robots: one local sim edge per env, as many as asked
    sim = conf.load_config(["experiment=gopigo", "actors.num=2"])
    assert sim.actors.num == 2


def test_run_without_any_budget_is_rejected() -> None:
    with pytest.raises(ValueError, match="budget"):
        conf.load_config(["budget.env_steps=null", "budget.wall_time_s=null"])


def test_default_model_tag_is_filename_safe() -> None:
    assert conf.default_model_tag("envs.tetris:Tetris-v0", "candidate_scorer") == (
        "Tetris-v0-candidate_scorer"
    )
