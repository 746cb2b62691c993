"""Each e2e scenario's verdict: printed, and appended to out/e2e/verdicts.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VERDICTS = Path(__file__).resolve().parents[2] / "out" / "e2e" / "verdicts.json"


def reset() -> None:
    VERDICTS.parent.mkdir(parents=True, exist_ok=True)
    VERDICTS.write_text("[]")


def verdict(name: str, passed: bool, what: str, **figures: Any) -> None:
    """Print a scenario's verdict line and record it in out/e2e/verdicts.json."""
    figs = ", ".join(f"{k}={v}" for k, v in figures.items())
    print(f"\n[e2e] {'PASS' if passed else 'FAIL'} {name}: {what} ({figs})", flush=True)
    rows = json.loads(VERDICTS.read_text()) if VERDICTS.exists() else []
    rows.append({"scenario": name, "pass": passed, "what": what, "figures": figures})
    VERDICTS.write_text(json.dumps(rows, indent=1, default=str))
