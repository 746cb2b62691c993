"""Files Hydra writes into a run dir, made safe before anything copies them.

Apart from :mod:`learner.checkpoint` (which imports torch), so the launcher masks the
run dir's URL passwords (``replay.redis_url=redis://:pw@host/0`` would stay in
``<run_dir>/.hydra/`` in clear) before it imports anything heavy.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from conf.urls import redact_text

logger = logging.getLogger(__name__)


def redact_run_dir(run_dir: str | Path) -> list[Path]:
    """Mask URL passwords in ``<run_dir>/.hydra/*.yaml`` in place; the files it changed.

    Each file is replaced atomically (a crash leaves the old or the new file, never half
    of one) and keeps its permissions; files without a password are left untouched.
    Call it as soon as Hydra has made the run dir, before anything copies it.
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


__all__ = ["redact_run_dir"]
