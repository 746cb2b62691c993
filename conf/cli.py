"""Help text for fsrl's Hydra-override command lines that are not ``@hydra.main`` apps.

``learner.cold_start`` and ``learner.evaluate`` take the same ``key=value`` overrides
as ``learner.main`` but compose the config themselves (``conf.load_config``), so
Hydra's own ``--help`` is not there; :func:`exit_if_help` gives them one.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

_COMMON = """\
Arguments are Hydra overrides, as for `python -m learner.main`:
  env=cartpole|tetris|tetris_moves|snake|gopigo   environment preset
  model.tag=NAME                                   model tag in the weight store
  replay.redis_url=redis://[:PASSWORD@]HOST:PORT/DB   the shared Redis (required)
  replay.namespace=NAME                            run namespace (default: default)
`python -m learner.main --cfg job` prints every field with its default.
"""


def exit_if_help(argv: Sequence[str], usage: str, description: str) -> None:
    """Print ``usage``, ``description`` and the common overrides, then exit 0,
    when ``-h`` or ``--help`` is among ``argv``."""
    if any(arg in ("-h", "--help") for arg in argv):
        sys.stdout.write(f"usage: {usage}\n\n{description.strip()}\n\n{_COMMON}")
        raise SystemExit(0)
