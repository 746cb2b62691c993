"""Safety shaped into the task's reward: ``near_threshold`` / ``near_penalty`` make a step
cost more the closer the distance reading is to a wall, on the real sim robot; the
defaults keep the old reward, and a value that cannot work is named."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from envs.gopigo_bridge.env import GoPiGoEnv
from robot_edge.protocol import SensorReading
from robot_edge.server import EdgeServer
from robot_edge.task import make_task

THRESHOLD, PENALTY = 0.35, 0.5


def _drive_into_a_wall(env: GoPiGoEnv) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distance readings / range, rewards, bumped) of one episode driving straight on."""
    obs, _ = env.reset(seed=3)
    distances, rewards, bumped = [], [], []
    for _ in range(200):
        obs, reward, terminated, _, info = env.step(0)
        distances.append(info["distance_mm"] / env.task.distance_max_mm)
        rewards.append(reward)
        bumped.append(info["bumped"])
        if terminated:
            break
    return np.array(distances), np.array(rewards), np.array(bumped)


def test_steps_near_a_wall_cost_more_the_nearer_they_are(
    make_server: Callable[..., EdgeServer],
) -> None:
    plain = GoPiGoEnv(endpoint=make_server().endpoint)
    shaped = GoPiGoEnv(
        endpoint=make_server().endpoint,
        task_params={"near_threshold": THRESHOLD, "near_penalty": PENALTY},
    )
    try:
        d0, r0, b0 = _drive_into_a_wall(plain)
        d1, r1, b1 = _drive_into_a_wall(shaped)
    finally:
        plain.close()
        shaped.close()
    # the same robot, the same episode: only the reward differs
    np.testing.assert_array_equal(d0, d1)
    np.testing.assert_array_equal(b0, b1)
    assert b1[-1], "driving straight on ends in a bump"
    far = d1 >= THRESHOLD
    assert far.any() and (~far).any(), d1  # the episode starts far and ends near
    np.testing.assert_allclose(r1[far], r0[far], atol=1e-9)
    cost = r0 - r1
    expected = PENALTY * np.clip(THRESHOLD - d1, 0.0, None) / THRESHOLD
    np.testing.assert_allclose(cost, expected, atol=1e-6)
    near = cost[~far]
    assert np.all(near > 0) and np.all(np.diff(d1[~far]) < 0)
    assert np.all(np.diff(near) > 0), "a nearer reading costs more"


def test_defaults_keep_the_old_reward() -> None:
    prev = SensorReading(0, 0, 0, 360.0, 360.0, 2000.0, 0.0, 9.6, 100.0, False, True, 0)
    near = SensorReading(1, 36, 36, 360.0, 360.0, 100.0, 0.0, 9.6, 100.0, False, True, 1)
    default = make_task("forward")
    assert (default.near_threshold, default.near_penalty) == (0.0, 0.0)
    off = make_task("forward", near_threshold=0.35)  # a threshold alone costs nothing
    assert default.reward(prev, near) == off.reward(prev, near)
    on = make_task("forward", near_threshold=0.35, near_penalty=1.0)
    assert on.reward(prev, near)[0] == pytest.approx(
        default.reward(prev, near)[0] - (0.35 - 100.0 / 2300.0) / 0.35
    )


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"near_threshold": 1.0}, "near_threshold=1.0"),
        ({"near_threshold": -0.1}, "near_threshold=-0.1"),
        ({"near_threshold": float("nan")}, "near_threshold=nan"),
        ({"near_threshold": "close"}, "near_threshold='close'"),
        ({"near_threshold": True}, "near_threshold=True"),
        ({"near_threshold": 0.3, "near_penalty": -1.0}, "near_penalty=-1.0"),
        ({"near_threshold": 0.3, "near_penalty": float("inf")}, "near_penalty=inf"),
        ({"near_penalty": 0.5}, "near_penalty=0.5 needs near_threshold"),
    ],
)
def test_a_near_penalty_that_cannot_work_is_named(params: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named.replace("(", r"\(")):
        make_task("forward", **params)  # type: ignore[arg-type]


def test_the_env_names_a_bad_near_penalty_and_closes_its_link(server: EdgeServer) -> None:
    with pytest.raises(ValueError, match="near_penalty=-0.5"):
        GoPiGoEnv(
            endpoint=server.endpoint,
            task_params={"near_threshold": 0.35, "near_penalty": -0.5},
        )
