"""One JSON object per log line, stamped with the run's context (run, tag, version, actor, host)."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import socket
import threading
from typing import Any

#: The context fields every JSON line carries (null where a process has none).
CONTEXT_FIELDS = ("run_id", "tag", "version", "actor_id", "host")


class LogContext:
    """The process-wide context stamped on each record (thread-safe, updated in place).

    Promises: :meth:`update` changes what later records carry (a new weight version,
    say) without re-installing handlers; :meth:`snapshot` is a consistent copy.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = dict.fromkeys(CONTEXT_FIELDS)
        self._values["host"] = socket.gethostname()

    def update(self, **values: Any) -> None:
        unknown = set(values) - set(CONTEXT_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown log context field(s) {sorted(unknown)}; known: {CONTEXT_FIELDS}"
            )
        with self._lock:
            self._values.update(values)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._values)


#: The one context of this process.
CONTEXT = LogContext()


def set_log_context(**values: Any) -> None:
    """Update the fields later log lines carry, e.g. ``set_log_context(version=12)``."""
    CONTEXT.update(**values)


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON.

    Promises: the line parses with ``json.loads`` and holds ``ts`` (UTC ISO 8601),
    ``level``, ``logger``, ``msg`` (the formatted message), ``pid``, every field of
    :data:`CONTEXT_FIELDS` and ``exc`` when the record carries an exception; it never
    contains a newline.
    """

    def __init__(self, context: LogContext | None = None) -> None:
        super().__init__()
        self.context = context or CONTEXT

    def to_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        row: dict[str, Any] = {
            "ts": _dt.datetime.fromtimestamp(record.created, tz=_dt.timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": os.getpid(),
        }
        row.update(self.context.snapshot())
        if record.exc_info:
            row["exc"] = self.formatException(record.exc_info)
        return row

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.to_dict(record), default=str)
