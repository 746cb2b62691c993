"""Keep passwords out of a run's files: Hydra writes the composed config to ``.hydra/``.

``python -m learner.main replay.redis_url=redis://:pw@host:6379/0`` would leave ``pw`` in
``<run_dir>/.hydra/config.yaml``, ``overrides.yaml`` and ``hydra.yaml``;
:func:`redact_run_dir` rewrites them with every Redis URL's password masked as ``***``
(:func:`replay.connection.redact_text`). Call it once the run dir exists, before
anything else reads or copies it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from replay.connection import redact_text, redact_url

logger = logging.getLogger(__name__)

__all__ = ["redact_run_dir", "redact_url"]


def redact_run_dir(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Mask URL passwords in ``<run_dir>/.hydra/*.yaml`` in place; the files it changed.

    Each file is replaced atomically (a crash leaves the old or the new file, never half
    of one) and keeps its permissions; files without a password are left untouched.
    """
    changed: list[Path] = []
    hydra_dir = Path(run_dir) / ".hydra"
    for path in sorted(hydra_dir.glob("*.yaml")):
        text = path.read_text()
        redacted = redact_text(text)
        if redacted == text:
            continue
        fd, tmp = tempfile.mkstemp(dir=hydra_dir, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(redacted)
            os.chmod(tmp, path.stat().st_mode & 0o777)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        changed.append(path)
    if changed:
        logger.info("masked URL passwords in %s", ", ".join(p.name for p in changed))
    return changed
