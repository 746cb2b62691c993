"""n-step folding: trajectory in, transitions out (table-driven, acme adders test_cases style).

Conventions of the tables: gamma = 0.5 (exact in binary). For env ``e`` at step ``t``
the observation is ``100 e + t`` and the action ``t``; ``next_obs`` is ``100 e + t + 1``,
except at an episode end where the final observation is marked negative
``-(100 e + t + 1)`` (the reset observation of the next episode is ``100 e + t + 1``).
An expected transition is ``(emitted_at, env, start, reward, discount, next_obs,
terminated, truncated, n_steps)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.nstep import NStepFolder, flatten_obs

GAMMA = 0.5
T, F = True, False


@dataclass(frozen=True)
class Case:
    name: str
    n: int
    # per env: list of (reward, terminated, truncated), all envs the same length
    trajectories: list[list[tuple[float, bool, bool]]]
    expected: list[tuple]


CASES = [
    Case(
        "n1_no_episode_end",
        n=1,
        trajectories=[[(1, F, F), (2, F, F), (3, F, F)]],
        expected=[
            (0, 0, 0, 1.0, 0.5, 1, F, F, 1),
            (1, 0, 1, 2.0, 0.5, 2, F, F, 1),
            (2, 0, 2, 3.0, 0.5, 3, F, F, 1),
        ],
    ),
    Case(
        "n1_termination",
        n=1,
        trajectories=[[(1, F, F), (2, T, F)]],
        expected=[(0, 0, 0, 1.0, 0.5, 1, F, F, 1), (1, 0, 1, 2.0, 0.0, -2, T, F, 1)],
    ),
    Case(
        "n3_full_windows_only",
        n=3,
        trajectories=[[(1, F, F), (2, F, F), (4, F, F), (8, F, F), (16, F, F)]],
        expected=[
            (2, 0, 0, 3.0, 0.125, 3, F, F, 3),
            (3, 0, 1, 6.0, 0.125, 4, F, F, 3),
            (4, 0, 2, 12.0, 0.125, 5, F, F, 3),
        ],
    ),
    Case(
        "terminated_episode_shorter_than_n",
        n=3,
        trajectories=[[(1, F, F), (2, T, F)]],
        expected=[(1, 0, 0, 2.0, 0.0, -2, T, F, 2), (1, 0, 1, 2.0, 0.0, -2, T, F, 1)],
    ),
    Case(
        "truncated_episode_shorter_than_n_bootstraps",
        n=3,
        trajectories=[[(1, F, F), (2, F, T)]],
        expected=[(1, 0, 0, 2.0, 0.25, -2, F, T, 2), (1, 0, 1, 2.0, 0.5, -2, F, T, 1)],
    ),
    Case(
        "terminated_after_full_windows_flushes_the_tail",
        n=2,
        trajectories=[[(1, F, F), (2, F, F), (4, F, F), (8, T, F)]],
        expected=[
            (1, 0, 0, 2.0, 0.25, 2, F, F, 2),
            (2, 0, 1, 4.0, 0.25, 3, F, F, 2),
            (3, 0, 2, 8.0, 0.0, -4, T, F, 2),
            (3, 0, 3, 8.0, 0.0, -4, T, F, 1),
        ],
    ),
    Case(
        "truncated_after_full_windows_bootstraps_from_final_obs",
        n=2,
        trajectories=[[(1, F, F), (2, F, F), (4, F, T)]],
        expected=[
            (1, 0, 0, 2.0, 0.25, 2, F, F, 2),
            (2, 0, 1, 4.0, 0.25, -3, F, T, 2),
            (2, 0, 2, 4.0, 0.5, -3, F, T, 1),
        ],
    ),
    Case(
        "back_to_back_episodes_do_not_mix",
        n=3,
        trajectories=[[(1, F, F), (2, T, F), (4, F, F), (8, F, F), (16, F, F)]],
        expected=[
            (1, 0, 0, 2.0, 0.0, -2, T, F, 2),
            (1, 0, 1, 2.0, 0.0, -2, T, F, 1),
            (4, 0, 2, 12.0, 0.125, 5, F, F, 3),
        ],
    ),
    Case(
        "one_step_episode",
        n=3,
        trajectories=[[(5, T, F), (1, F, F)]],
        expected=[(0, 0, 0, 5.0, 0.0, -1, T, F, 1)],
    ),
    Case(
        "terminated_and_truncated_together_counts_as_terminated",
        n=2,
        trajectories=[[(1, F, F), (2, T, T)]],
        expected=[(1, 0, 0, 2.0, 0.0, -2, T, F, 2), (1, 0, 1, 2.0, 0.0, -2, T, F, 1)],
    ),
    Case(
        "several_envs_end_at_different_steps",
        n=2,
        trajectories=[
            [(1, F, F), (1, F, F), (1, F, F)],
            [(1, F, T), (2, F, F), (4, F, F)],
            [(1, F, F), (2, F, F), (4, T, F)],
        ],
        expected=[
            (0, 1, 0, 1.0, 0.5, -101, F, T, 1),
            (1, 0, 0, 1.5, 0.25, 2, F, F, 2),
            (1, 2, 0, 2.0, 0.25, 202, F, F, 2),
            (2, 0, 1, 1.5, 0.25, 3, F, F, 2),
            (2, 1, 1, 4.0, 0.25, 103, F, F, 2),
            (2, 2, 1, 4.0, 0.0, -203, T, F, 2),
            (2, 2, 2, 4.0, 0.0, -203, T, F, 1),
        ],
    ),
]


def run_case(
    n: int, trajectories: list[list[tuple[float, bool, bool]]], alternate: bool = False
) -> list[tuple]:
    """Feed the trajectories through a folder step by step; return emitted rows as tuples."""
    num_envs = len(trajectories)
    length = len(trajectories[0])
    folder = NStepFolder(num_envs=num_envs, n=n, gamma=GAMMA, alternate=alternate)
    rows: list[tuple] = []
    base = 100 * np.arange(num_envs)
    for t in range(length):
        reward = np.array([traj[t][0] for traj in trajectories], dtype=np.float32)
        term = np.array([traj[t][1] for traj in trajectories])
        trunc = np.array([traj[t][2] for traj in trajectories])
        obs = (base + t).astype(np.float32)[:, None]
        after = (base + t + 1).astype(np.float32)
        next_obs = np.where(term | trunc, -after, after)[:, None]
        out = folder.step(
            obs,
            np.full(num_envs, t, dtype=np.int64),
            reward,
            term,
            trunc,
            next_obs,
            extras={"policy_version": np.full(num_envs, 10 * t, dtype=np.int64)},
        )
        for i in range(len(out["reward"])):
            env = int(out["env_index"][i])
            start = int(out["action"][i])
            # obs, action and the stamped version all belong to the step the window starts at
            assert out["obs"][i, 0] == 100 * env + start
            assert out["policy_version"][i] == 10 * start
            rows.append(
                (
                    t,
                    env,
                    start,
                    float(out["reward"][i]),
                    float(out["discount"][i]),
                    int(out["next_obs"][i, 0]),
                    bool(out["terminated"][i]),
                    bool(out["truncated"][i]),
                    int(out["n_steps"][i]),
                )
            )
    return rows


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_table(case: Case) -> None:
    assert sorted(run_case(case.n, case.trajectories)) == sorted(case.expected)


def test_output_dtypes_and_dict_observations() -> None:
    folder = NStepFolder(num_envs=2, n=1, gamma=0.9)
    obs = {"board": np.zeros((2, 3, 3), np.int8), "action_mask": np.ones((2, 4), bool)}
    out = folder.step(obs, np.array([1, 2]), np.ones(2), np.zeros(2, bool), np.ones(2, bool), obs)
    assert set(out) >= {"obs/board", "obs/action_mask", "next_obs/board", "next_obs/action_mask"}
    assert out["obs/board"].shape == (2, 3, 3) and out["obs/board"].dtype == np.int8
    assert out["reward"].dtype == np.float32 and out["discount"].dtype == np.float32
    assert out["n_steps"].dtype == np.uint8 and out["terminated"].dtype == bool
    np.testing.assert_allclose(out["discount"], [0.9, 0.9])


def test_bad_input_names_the_field() -> None:
    folder = NStepFolder(num_envs=2, n=2, gamma=0.9)
    with pytest.raises(ValueError, match="reward"):
        folder.step(
            np.zeros((2, 1)), np.zeros(2), np.zeros(3), np.zeros(2), np.zeros(2), np.zeros((2, 1))
        )
    with pytest.raises(ValueError, match="n_step"):
        NStepFolder(num_envs=1, n=0, gamma=0.9)
    with pytest.raises(ValueError, match="gamma"):
        NStepFolder(num_envs=1, n=1, gamma=1.5)


def test_flatten_obs_nested() -> None:
    flat = flatten_obs({"a": np.zeros(1), "b": {"c": np.ones(2)}}, "obs")
    assert sorted(flat) == ["obs/a", "obs/b/c"]


def reference_fold(
    n: int, gamma: float, traj: list[tuple[float, bool, bool]], env: int
) -> list[tuple]:
    """Straightforward per-env n-step returns, written independently of the batched folder."""
    rows = []
    ep_start = 0
    for t, (_, term, trunc) in enumerate(traj):
        if term or trunc or t == len(traj) - 1:
            ep_end = t if (term or trunc) else None
            stop = t + 1
            for s in range(ep_start, stop):
                if ep_end is None and s + n - 1 > t:
                    break  # window still open at the end of the data
                last = min(s + n - 1, ep_end if ep_end is not None else s + n - 1)
                m = last - s + 1
                ret = sum(gamma**k * traj[s + k][0] for k in range(m))
                ended = ep_end is not None and last == ep_end
                terminated = ended and term
                truncated = ended and trunc and not term
                after = 100 * env + last + 1
                nxt = -after if ended else after
                disc = 0.0 if terminated else gamma**m
                rows.append((last, env, s, ret, disc, nxt, terminated, truncated, m))
            ep_start = t + 1
    return rows


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 5),
    data=st.data(),
    num_envs=st.integers(1, 4),
    length=st.integers(1, 25),
)
def test_matches_reference_on_random_trajectories(n: int, data, num_envs: int, length: int) -> None:
    step = st.tuples(
        st.integers(-3, 3).map(float),
        st.booleans().map(lambda b: b and data.draw(st.booleans())),
        st.booleans().map(lambda b: b and data.draw(st.booleans())),
    )
    trajectories = [
        data.draw(st.lists(step, min_size=length, max_size=length)) for _ in range(num_envs)
    ]
    got = run_case(n, trajectories)
    want = [r for e, traj in enumerate(trajectories) for r in reference_fold(n, GAMMA, traj, e)]
    assert sorted(got) == sorted(want)  # rewards are small ints and gamma = 0.5: exact in float32
    # a two-player game's moves alternate sides: the factor per step is -gamma (negamax)
    got = run_case(n, trajectories, alternate=True)
    want = [r for e, traj in enumerate(trajectories) for r in reference_fold(n, -GAMMA, traj, e)]
    assert sorted(got) == sorted(want)


def test_alternating_moves_fold_to_negamax_targets() -> None:
    # one game of three moves (A, B, A) that A's last move wins: reward +1 to its mover
    game = [[(0, F, F), (0, F, F), (1, T, F)]]
    assert sorted(run_case(2, game, alternate=True)) == [
        (1, 0, 0, 0.0, 0.25, 2, F, F, 2),  # A's move, two plies on: A to move again, +γ²
        (2, 0, 1, -0.5, 0.0, -3, T, F, 2),  # B's move: A's win is B's loss, -γ
        (2, 0, 2, 1.0, 0.0, -3, T, F, 1),  # A's winning move
    ]
    assert run_case(1, [[(0, F, F), (0, F, F)]], alternate=True)[0][4] == -0.5  # -γ, B to move


def test_invalid_reset_steps_are_skipped_next_step_autoreset() -> None:
    """Under NEXT_STEP autoreset the step after an episode end is a reset: it records nothing."""
    folder = NStepFolder(num_envs=2, n=2, gamma=GAMMA)
    # env 0 ends at step 1, its step 2 is the reset step; env 1 runs on.
    rewards = [[1, 1], [2, 1], [0, 1], [4, 1]]
    terms = [[F, F], [T, F], [F, F], [F, F]]
    valid = [[T, T], [T, T], [F, T], [T, T]]
    got = []
    for t in range(4):
        out = folder.step(
            np.full((2, 1), t, np.float32),
            np.full(2, t),
            np.array(rewards[t], np.float32),
            np.array(terms[t]),
            np.zeros(2, bool),
            np.full((2, 1), t + 1, np.float32),
            valid=np.array(valid[t]),
        )
        got += [
            (t, int(e), int(a), float(r), float(d))
            for e, a, r, d in zip(
                out["env_index"], out["action"], out["reward"], out["discount"], strict=True
            )
        ]
    assert sorted(got) == sorted(
        [
            (1, 0, 0, 2.0, 0.0),
            (1, 0, 1, 2.0, 0.0),
            (1, 1, 0, 1.5, 0.25),
            (2, 1, 1, 1.5, 0.25),
            (3, 1, 2, 1.5, 0.25),
        ]
    )
    assert folder.pending.tolist() == [1, 1]  # env 0's step 3 opened a fresh window
    with pytest.raises(ValueError, match="invalid while an episode is open"):
        folder.step(
            np.zeros((2, 1)),
            np.zeros(2),
            np.zeros(2),
            np.zeros(2, bool),
            np.zeros(2, bool),
            np.zeros((2, 1)),
            valid=np.array([F, T]),
        )
