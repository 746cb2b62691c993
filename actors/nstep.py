"""n-step return folding over the environments of a vector env, one batched call per step.

Each call to :meth:`NStepFolder.step` takes one vector-env step — ``(obs, action,
reward, terminated, truncated, next_obs)`` for every env, where ``next_obs`` is the
observation *after* the action (the final observation when the episode ended; see
:mod:`actors.envs` for how it is obtained under ``AutoresetMode.SAME_STEP``) — and
returns the transitions that became complete, as the standard columns of
``docs/architecture.md``:

* ``reward`` = Σ_{k<m} γ^k r_{t+k}, ``n_steps`` = m (m = n, or fewer at an episode end);
* ``discount`` = γ^m, except 0 when the episode *terminated* within the window;
* with ``alternate=True`` (a two-player, zero-sum game whose consecutive steps are moves
  of alternating players, each reward from its mover's side) every step flips the
  side, so the factor per step is −γ: ``reward`` = Σ (−γ)^k r_{t+k} and ``discount`` =
  (−γ)^m, and a learner's ``reward + discount · max_a Q(s', a)`` is the negamax target;
* ``next_obs`` = observation at t+m: on truncation the final observation, from which
  the learner still bootstraps (discount γ^m); on termination it is stored but unused.

Every emitted window ends at the current step, so one (n × n) @ (n × E) product gives
all the discounted sums at once; the Python work per step is a constant number of
numpy calls whatever the number of envs. Steps are kept in a ring of n slots shared
by all envs (the envs of a vector env step together).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

ObsLike = np.ndarray | Mapping[str, "ObsLike"]


def flatten_obs(obs: ObsLike, prefix: str) -> dict[str, np.ndarray]:
    """Flatten an array or a (nested) dict of arrays into ``{prefix[/key[/sub]]: array}``."""
    if isinstance(obs, Mapping):
        out: dict[str, np.ndarray] = {}
        for key, value in obs.items():
            out.update(flatten_obs(value, f"{prefix}/{key}"))
        return out
    return {prefix: np.asarray(obs)}


class NStepFolder:
    """Folds per-env trajectories into n-step transitions.

    Promises: a transition is emitted exactly once for every step taken, at the step
    where its window closes (n steps later, or at the episode end, whichever comes
    first); nothing crosses an episode boundary; terminated and truncated are kept
    apart (truncation bootstraps, termination does not). Windows still open when the
    folder is dropped are discarded (they have no target yet).

    ``extras`` (e.g. ``policy_version``) are per-step ``[num_envs]`` arrays recorded
    with the step and emitted with the transition that *starts* at that step.
    """

    def __init__(self, num_envs: int, n: int, gamma: float, alternate: bool = False) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        if not isinstance(n, int) or not 1 <= n <= 255:
            raise ValueError(f"n (n_step) must be an int in [1, 255], got {n!r}")
        if not 0.0 <= float(gamma) <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {gamma!r}")
        self.num_envs = num_envs
        self.n = n
        self.gamma = float(gamma)
        self.alternate = bool(alternate)
        self.factor = -self.gamma if alternate else self.gamma  # per-step discount factor
        self._t = -1  # global index of the last step written
        self._start = np.zeros(num_envs, dtype=np.int64)  # oldest open step per env
        powers = self.factor ** np.arange(n, dtype=np.float64)
        offsets = np.arange(n)[None, :] - np.arange(n)[:, None]  # k - i
        # D[i, k] = gamma^(k - i) for k >= i: row i of D @ rewards is the return from i to the end.
        self._discount_matrix = np.where(offsets >= 0, powers[np.clip(offsets, 0, n - 1)], 0.0)
        self._rings: dict[str, np.ndarray] = {}
        self._rewards = np.zeros((n, num_envs), dtype=np.float64)
        self._arange_n = np.arange(n, dtype=np.int64)

    @property
    def pending(self) -> np.ndarray:
        """Open (not yet emitted) steps per env."""
        return (self._t + 1 - self._start).astype(np.int64)

    def _ring(self, name: str, value: np.ndarray) -> np.ndarray:
        ring = self._rings.get(name)
        if ring is None:
            ring = np.zeros((self.n, *value.shape), dtype=value.dtype)
            self._rings[name] = ring
        elif ring.shape[1:] != value.shape:
            raise ValueError(
                f"field {name!r} changed shape from {ring.shape[1:]} to {value.shape} mid-trajectory"
            )
        return ring

    def step(
        self,
        obs: ObsLike,
        action: np.ndarray,
        reward: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        next_obs: ObsLike,
        extras: Mapping[str, np.ndarray] | None = None,
        valid: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Record one step of every env; return the transitions completed by it (maybe 0 rows).

        ``valid`` (default all True) marks envs whose step is real; an env with
        ``valid=False`` (the reset step of a ``NEXT_STEP`` autoreset vector env) records
        nothing and must have no open window (its previous step ended an episode).
        """
        n, num_envs = self.n, self.num_envs
        reward = np.asarray(reward, dtype=np.float64)
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        for name, arr in (("reward", reward), ("terminated", terminated), ("truncated", truncated)):
            if arr.shape != (num_envs,):
                raise ValueError(f"{name} must have shape ({num_envs},), got {arr.shape}")
        per_step = flatten_obs(obs, "obs")
        per_step["action"] = np.asarray(action)
        for key, value in (extras or {}).items():
            per_step[key] = np.asarray(value)
        for key, value in per_step.items():
            if value.shape[:1] != (num_envs,):
                raise ValueError(f"{key} must have leading dimension {num_envs}, got {value.shape}")

        self._t += 1
        t = self._t
        slot = t % n
        for key, value in per_step.items():
            self._ring(key, value)[slot] = value
        self._rewards[slot] = reward

        done = terminated | truncated
        length = t + 1 - self._start  # 1..n open steps per env
        if valid is not None:
            valid = np.asarray(valid, dtype=bool)
            if valid.shape != (num_envs,):
                raise ValueError(f"valid must have shape ({num_envs},), got {valid.shape}")
            if np.any(~valid & (length > 1)):
                bad = np.flatnonzero(~valid & (length > 1)).tolist()
                raise ValueError(f"envs {bad} marked invalid while an episode is open")
            done = done & valid
            length = np.where(valid, length, 0)
        chrono = (t - n + 1 + self._arange_n) % n  # row i of the window is step t - n + 1 + i
        if not done.any():
            # Fast path (most steps): only full windows close, all starting at t - n + 1.
            full = length == n
            if valid is not None:
                full &= valid
            env_idx = np.flatnonzero(full)
            first = np.full(env_idx.shape, t - n + 1, dtype=np.int64)
            rewards = self._discount_matrix[0] @ self._rewards[chrono][:, env_idx]
        else:
            starts = self._start[:, None] + self._arange_n[None, :]  # [E, n] window starts
            emit = (starts <= t) & (
                done[:, None] | ((length == n)[:, None] & (self._arange_n == 0))
            )
            if valid is not None:
                emit &= valid[:, None]
            env_idx, cand = np.nonzero(emit)
            first = starts[env_idx, cand]
            returns = self._discount_matrix @ self._rewards[chrono]  # [n, E]: return row i..t
            rewards = returns[first - (t - n + 1), env_idx]
        folded = t - first + 1
        out: dict[str, np.ndarray] = {}
        slots = first % n
        for key, ring in self._rings.items():
            if key.startswith("obs"):
                out[key] = ring[slots, env_idx]
        out["action"] = self._rings["action"][slots, env_idx]
        out["reward"] = rewards.astype(np.float32)
        term = terminated[env_idx]
        out["discount"] = np.where(term, 0.0, self.factor ** folded.astype(np.float64)).astype(
            np.float32
        )
        for key, value in flatten_obs(next_obs, "next_obs").items():
            if value.shape[:1] != (num_envs,):
                raise ValueError(f"{key} must have leading dimension {num_envs}, got {value.shape}")
            out[key] = value[env_idx]
        out["terminated"] = term
        out["truncated"] = truncated[env_idx] & ~term
        out["n_steps"] = folded.astype(np.uint8)
        for key in extras or {}:
            out[key] = self._rings[key][slots, env_idx]
        out["env_index"] = env_idx.astype(np.int32)

        advance = done if valid is None else done | ~valid
        self._start = np.where(advance, t + 1, np.where(length == n, self._start + 1, self._start))
        return out
