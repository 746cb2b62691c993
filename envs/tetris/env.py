"""The single-board Tetris environment (Gymnasium API) on the batched core with B = 1."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np

from envs.tetris.core import NUM_MOVE_ACTIONS
from envs.tetris.game import TetrisGame
from envs.tetris.render import HumanWindow, rgb_frame

_ROW0 = np.zeros(1, dtype=np.int64)
# "human" is offered only where a display exists (pygame is imported lazily).
HAS_DISPLAY = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _first(batch: Any) -> Any:
    if isinstance(batch, dict):
        return {k: v[0] for k, v in batch.items()}
    return batch[0]


class TetrisEnv(gym.Env):
    """Tetris on a 10x20 board with the guideline rules (7-bag, SRS, hidden spawn rows).

    ## Description
    Pieces come from a 7-bag randomizer seeded through ``reset(seed=...)``; they rotate
    with the Super Rotation System (SRS) including wall kicks; 1 to 4 full rows
    (adjacent or not) are cleared at once; the game is over when a new piece cannot
    spawn (or, in placement mode, has no legal placement left).

    ## Action Space
    ``mode="moves"`` (id ``fsrl/Tetris-v0``), ``Discrete(7)``:

    | action | meaning |
    |---|---|
    | 0 | no-op |
    | 1 / 2 | shift left / right |
    | 3 / 4 | rotate clockwise / counter-clockwise (SRS kicks) |
    | 5 | soft drop one row (locks if it cannot move down) |
    | 6 | hard drop (locks) |

    After the input, gravity moves the piece one row down every ``gravity_interval``
    steps (0 = no gravity); a piece locks when a downward move fails.

    ``mode="placement"`` (id ``fsrl/TetrisPlacement-v0``), ``Discrete(4 * width)``:
    action ``a = rotation * width + c`` turns the current piece to ``rotation`` at the
    spawn position, slides it until its leftmost cell is in column ``c`` and hard-drops
    it. Only legal, distinct placements are offered: ``info["action_mask"]`` (int8) and
    ``obs["action_mask"]`` (uint8) mark them. A masked action is never executed: with
    ``invalid_action="penalty"`` (default) the board is left as it was, the reward is
    ``invalid_action_penalty`` and ``info["invalid_action"]`` is True; with
    ``invalid_action="raise"`` an :class:`~envs.tetris.game.InvalidPlacementError`
    (a ``ValueError``) names the action and the legal ones.

    ## Observation Space
    ``obs_type="dict"`` (default), uint8 unless said:

    | key | shape | content |
    |---|---|---|
    | ``board`` | (height, width) | locked cells of the visible rows |
    | ``active`` | (height, width) | the falling piece (moves mode only) |
    | ``piece`` | (7,) | one-hot current piece (order IOTSZJL) |
    | ``preview`` | (preview, 7) | one-hot next pieces, nearest first (absent if preview=0) |
    | ``action_mask`` | (4 * width,) | legal placements (placement mode) |
    | ``candidate_features`` | (4 * width, 8 + width) float32 | afterstate features of every candidate (placement mode, ``candidate_features=True``) |

    ``candidate_features`` columns: lines cleared / 4, holes / W, bumpiness / H,
    aggregate height / (H*W), max height / H, well depth sum / H, landing height / H,
    eroded piece cells / 16, then the W column heights / H (H = height + hidden rows),
    all measured on the board after the placement and its line clears; masked rows are 0.
    ``obs_type="flat"``: the same uint8 parts flattened and concatenated in table
    order (not available with candidate features).

    ## Rewards
    All terms add up (see :class:`~envs.tetris.core.TetrisRewardConfig`):
    ``reward_scheme="lines"`` gives ``line_rewards[n-1]`` for n cleared rows (default
    1/2/3/4, i.e. lines cleared); ``reward_scheme="score"`` gives the guideline score
    change (100/300/500/800 x level, +1 per soft-dropped row, +2 per hard-dropped row).
    Plus ``piece_reward`` per locked piece and ``game_over_penalty`` on top out.
    ``info`` carries ``lines``, ``score``, ``pieces`` (episode totals),
    ``lines_cleared`` (this step) and ``invalid_action``.

    ## Starting State
    An empty board and the first piece of a fresh bag at the spawn position.

    ## Episode End
    Terminated on top out. Truncated by the registered ``max_episode_steps``
    (placement 10,000 pieces; moves 50,000 steps).

    ## Arguments
    ``mode``, ``render_mode`` (``ansi``, ``rgb_array``, ``human`` with pygame),
    ``width=10``, ``height=20``, ``hidden_rows=2``, ``preview=5``, ``obs_type``,
    ``candidate_features=False``, ``gravity_interval=1``, ``reward_scheme``,
    ``line_rewards``, ``piece_reward=0``, ``game_over_penalty=0``,
    ``invalid_action="penalty"``, ``invalid_action_penalty=-1``.

    ## Version History
    * v0: initial version.
    """

    metadata = {
        "render_modes": ["ansi", "rgb_array", *(["human"] if HAS_DISPLAY else [])],
        "render_fps": 30,
    }

    def __init__(self, mode: str = "placement", render_mode: str | None = None, **kwargs: Any):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.game = TetrisGame(1, mode=mode, **kwargs)
        self.render_mode = render_mode
        self.observation_space = self.game.observation_space
        self.action_space = self.game.action_space
        self._window: HumanWindow | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        fresh = seed is not None or self.game.core.rngs[0] is not self.np_random
        self.game.core.reset_rows(_ROW0, [self.np_random] if fresh else None)
        if self.render_mode == "human":
            self.render()
        return _first(self.game.observe(_ROW0)), _first(self.game.info(_ROW0))

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        core = self.game.core
        if core.game_over[0]:
            raise RuntimeError("step() after the game ended: call reset() first")
        if self.game.mode == "moves":
            return self._step_move(action)
        acts = self._check_one(action)
        reward, terminated, info = self.game.step(_ROW0, acts)
        if self.render_mode == "human":
            self.render()
        info = _first(info)
        info["invalid_action"] = bool(info["invalid_action"])
        return (
            _first(self.game.observe(_ROW0)),
            float(reward[0]),
            bool(terminated[0]),
            False,
            info,
        )

    def _check_one(self, action: Any) -> np.ndarray:
        arr = np.asarray(action)
        if arr.size != 1:
            raise ValueError(f"expected 1 integer action, got {action!r}")
        return self.game.check_actions(arr.reshape(1), 1)

    def _step_move(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Per-move step through the core's single-board path (same rules, see
        :meth:`~envs.tetris.core.TetrisCore.move_one`), same results as the batched one."""
        if type(action) is not int or not 0 <= action < NUM_MOVE_ACTIONS:
            action = int(self._check_one(action)[0])
        core = self.game.core
        reward, cleared = core.move_one(0, action)
        if self.render_mode == "human":
            self.render()
        info = {
            "lines": core.lines[0],
            "score": core.score[0],
            "pieces": core.pieces[0],
            "lines_cleared": np.int64(cleared),
            "invalid_action": False,
        }
        return self.game.observe_one(0), reward, bool(core.game_over[0]), False, info

    def render(self) -> Any:
        core = self.game.core
        moves = self.game.mode == "moves"
        if self.render_mode == "ansi":
            return core.ansi(0, show_active=moves) + (
                f"\nlines {int(core.lines[0])}  score {int(core.score[0])}\n"
            )
        if self.render_mode in ("rgb_array", "human"):
            frame = rgb_frame(core, 0, show_active=moves)
            if self.render_mode == "human":
                if self._window is None:
                    self._window = HumanWindow("fsrl Tetris", self.metadata["render_fps"])
                self._window.show(frame)
                return None
            return frame
        return None

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None
