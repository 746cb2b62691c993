"""One Tetris configuration bound to a :class:`TetrisCore`: spaces, observations, steps.

:class:`TetrisGame` turns the environment's keyword arguments into a core, the
single-board observation/action spaces, and batched ``observe``/``step`` over any
subset of boards. The single env and the vector env both delegate here, so they
cannot drift apart.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from envs.actions import check_discrete_actions
from envs.tetris.core import (
    FEATURE_NAMES_BASE,
    NUM_MOVE_ACTIONS,
    TetrisCore,
    TetrisRewardConfig,
)
from envs.tetris.pieces import NUM_PIECES

MODES = ("placement", "moves")
OBS_TYPES = ("dict", "flat")
INVALID_ACTION_POLICIES = ("penalty", "raise")


class InvalidPlacementError(ValueError):
    """A masked (illegal) placement was played under ``invalid_action="raise"``."""


class TetrisGame:
    """Validated configuration + core for B boards; see :class:`~envs.tetris.env.TetrisEnv`
    for the meaning of every keyword."""

    def __init__(
        self,
        num_boards: int,
        *,
        mode: str = "placement",
        width: int = 10,
        height: int = 20,
        hidden_rows: int = 2,
        preview: int = 5,
        obs_type: str = "dict",
        candidate_features: bool = False,
        gravity_interval: int = 1,
        reward_scheme: str = "lines",
        line_rewards: tuple[float, float, float, float] | list[float] = (1.0, 2.0, 3.0, 4.0),
        piece_reward: float = 0.0,
        game_over_penalty: float = 0.0,
        invalid_action: str = "penalty",
        invalid_action_penalty: float = -1.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {obs_type!r}")
        if invalid_action not in INVALID_ACTION_POLICIES:
            raise ValueError(
                f"invalid_action must be one of {INVALID_ACTION_POLICIES}, got {invalid_action!r}"
            )
        if candidate_features and mode != "placement":
            raise ValueError("candidate_features=True needs mode='placement'")
        if candidate_features and obs_type != "dict":
            raise ValueError("candidate_features=True needs obs_type='dict' (features are float)")
        self.mode = mode
        self.obs_type = obs_type
        self.with_features = bool(candidate_features)
        self.invalid_action = invalid_action
        rewards = TetrisRewardConfig(
            scheme=reward_scheme,
            line_rewards=tuple(float(v) for v in line_rewards),  # type: ignore[arg-type]
            piece_reward=float(piece_reward),
            game_over_penalty=float(game_over_penalty),
            invalid_action_penalty=float(invalid_action_penalty),
        )
        self.core = TetrisCore(
            num_boards,
            width=width,
            height=height,
            hidden_rows=hidden_rows,
            preview=preview,
            gravity_interval=gravity_interval if mode == "moves" else 0,
            rewards=rewards,
            placements=mode == "placement",
        )
        c = self.core
        self.num_actions = c.num_placements if mode == "placement" else NUM_MOVE_ACTIONS
        self.num_features = len(FEATURE_NAMES_BASE) + c.width
        self.action_space = spaces.Discrete(self.num_actions)
        grid = spaces.Box(0, 1, (c.visible_height, c.width), np.uint8)
        parts: dict[str, spaces.Space] = {"board": grid}
        if mode == "moves":
            parts["active"] = grid
        parts["piece"] = spaces.Box(0, 1, (NUM_PIECES,), np.uint8)
        if c.preview:
            parts["preview"] = spaces.Box(0, 1, (c.preview, NUM_PIECES), np.uint8)
        if mode == "placement":
            parts["action_mask"] = spaces.Box(0, 1, (self.num_actions,), np.uint8)
            if self.with_features:
                # Every feature is >= 0; the largest scaled one (holes / W) is at most H.
                bound = float(max(c.height, c.width))
                parts["candidate_features"] = spaces.Box(
                    0.0, bound, (self.num_actions, self.num_features), np.float32
                )
        self._parts = parts
        if obs_type == "dict":
            self.observation_space: spaces.Space = spaces.Dict(parts)
        else:
            size = sum(math.prod(s.shape or ()) for s in parts.values())
            self.observation_space = spaces.Box(0, 1, (size,), np.uint8)

    # ------------------------------------------------------------------ observation
    def observe(self, rows: np.ndarray) -> dict[str, np.ndarray] | np.ndarray:
        """Batched observation of ``rows``: a dict of (n, ...) arrays or an (n, D) array."""
        c = self.core
        obs: dict[str, np.ndarray] = {"board": c.boards_visible(rows)}
        if self.mode == "moves":
            obs["active"] = c.active_visible(rows)
        obs["piece"] = c.piece_onehot(rows)
        if c.preview:
            obs["preview"] = c.preview_onehot(rows)
        if self.mode == "placement":
            obs["action_mask"] = c.mask[rows].view(np.uint8)
            if self.with_features:
                obs["candidate_features"] = c.candidate_features(rows)
        if self.obs_type == "dict":
            return obs
        n = rows.size
        return np.concatenate([v.reshape(n, -1) for v in obs.values()], axis=1)

    def observe_one(self, b: int) -> dict[str, np.ndarray] | np.ndarray:
        """``observe`` of the single board ``b`` without the batch axis (fresh arrays)."""
        c = self.core
        hidden = c.hidden_rows
        obs: dict[str, np.ndarray] = {"board": c.board[b, hidden:].copy()}
        if self.mode == "moves":
            active = np.zeros((c.height, c.width), dtype=np.uint8)
            y, x = int(c.y[b]), int(c.x[b])
            for cr, cc in c.cells_py[int(c.piece[b])][int(c.rot[b])]:
                active[y + cr, x + cc] = 1
            obs["active"] = active[hidden:]
        obs["piece"] = c._eye[int(c.piece[b])].copy()
        if c.preview:
            pos = int(c.seq_pos[b])
            obs["preview"] = c._eye[c.seq[b, pos : pos + c.preview]]
        if self.mode == "placement":
            obs["action_mask"] = c.mask[b].view(np.uint8).copy()
            if self.with_features:
                obs["candidate_features"] = c.candidate_features(np.array([b]))[0]
        if self.obs_type == "dict":
            return obs
        return np.concatenate([v.ravel() for v in obs.values()])

    def info(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        c = self.core
        out = {
            "lines": c.lines[rows].copy(),
            "score": c.score[rows].copy(),
            "pieces": c.pieces[rows].copy(),
        }
        if self.mode == "placement":
            out["action_mask"] = c.mask[rows].astype(np.int8)
        return out

    # ------------------------------------------------------------------ step
    def check_actions(self, actions: Any, n: int) -> np.ndarray:
        return check_discrete_actions(actions, n, self.num_actions)

    def step(
        self, rows: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Play ``actions`` (validated ints) on live ``rows``.

        Returns (reward float64 (n,), terminated bool (n,), info). Under the "raise"
        policy a masked placement raises before any board changes.
        """
        c = self.core
        n = rows.size
        invalid = np.zeros(n, dtype=bool)
        reward = np.zeros(n, dtype=np.float64)
        cleared = np.zeros(n, dtype=np.int64)
        if self.mode == "placement":
            invalid = ~c.mask[rows, actions]
            if invalid.any() and self.invalid_action == "raise":
                i = int(np.flatnonzero(invalid)[0])
                legal = np.flatnonzero(c.mask[rows[i]]).tolist()
                raise InvalidPlacementError(
                    f"placement {int(actions[i])} is masked for env {int(rows[i])}; "
                    f"legal placements: {legal}"
                )
            ok = np.flatnonzero(~invalid)
            if ok.size:
                reward[ok], cleared[ok] = c.place(rows[ok], actions[ok])
            reward[invalid] = c.rewards.invalid_action_penalty
        else:
            reward, cleared = c.move(rows, actions)
        info = self.info(rows)
        info["lines_cleared"] = cleared
        info["invalid_action"] = invalid
        return reward, c.game_over[rows].copy(), info
