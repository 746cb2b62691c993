"""Pictures of a Tetris board: RGB arrays and an optional pygame window."""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.tetris.core import TetrisCore
from envs.tetris.pieces import CELLS

CELL_PX = 16
# Index 0 = empty, 1..7 = falling piece by PIECE_NAMES order (IOTSZJL), 8 = locked cell.
PALETTE = np.array(
    [
        (20, 20, 28),
        (0, 200, 220),
        (230, 210, 0),
        (160, 0, 200),
        (0, 200, 60),
        (220, 30, 30),
        (30, 60, 230),
        (240, 140, 0),
        (128, 128, 140),
    ],
    dtype=np.uint8,
)


def rgb_frame(core: TetrisCore, b: int, *, show_active: bool) -> np.ndarray:
    """(height * CELL_PX, width * CELL_PX, 3) uint8 picture of the visible rows of board b."""
    grid = np.where(core.board[b] != 0, 8, 0)
    if show_active and not core.game_over[b]:
        for rr, cc in CELLS[core.piece[b], core.rot[b]]:
            grid[core.y[b] + rr, core.x[b] + cc] = core.piece[b] + 1
    img = PALETTE[grid[core.hidden_rows :]]
    img = np.repeat(np.repeat(img, CELL_PX, axis=0), CELL_PX, axis=1)
    img[::CELL_PX, :, :] //= 2  # grid lines
    img[:, ::CELL_PX, :] //= 2
    return img


class HumanWindow:
    """A pygame window showing frames; pygame is imported only when one is opened."""

    def __init__(self, title: str, fps: int) -> None:
        try:
            import pygame
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise RuntimeError("render_mode='human' needs pygame (pip install pygame)") from exc
        self._pg: Any = pygame
        self._fps = fps
        self._screen: Any = None
        self._clock = pygame.time.Clock()
        self._title = title

    def show(self, frame: np.ndarray) -> None:
        pg = self._pg
        if self._screen is None:
            pg.init()
            pg.display.set_caption(self._title)
            self._screen = pg.display.set_mode((frame.shape[1], frame.shape[0]))
        pg.event.pump()
        surf = pg.surfarray.make_surface(np.transpose(frame, (1, 0, 2)))
        self._screen.blit(surf, (0, 0))
        pg.display.flip()
        self._clock.tick(self._fps)

    def close(self) -> None:
        if self._screen is not None:
            self._pg.display.quit()
            self._screen = None
