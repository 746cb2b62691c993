"""``install_logging``: the one call each fsrl process (launcher, actor worker) makes to set up logs."""

from __future__ import annotations

import logging
import sys
from typing import Any

from telemetry.jsonlog import CONTEXT, JsonFormatter
from telemetry.ship import SHIPS, ShippingHandler, make_sink

FORMATS = ("text", "json")
#: fsrl's own loggers, set to ``logging.level``.
FSRL_LOGGERS = ("learner", "actors", "replay", "envs", "conf", "telemetry")

logger = logging.getLogger(__name__)
_installed: list[ShippingHandler] = []


def _field(cfg: Any, name: str, default: Any) -> Any:
    if cfg is None:
        return default
    if isinstance(cfg, dict):
        return cfg.get(name, default)
    return getattr(cfg, name, default)


def install_logging(
    cfg_logging: Any,
    run_id: str,
    tag: str | None = None,
    actor_id: int | None = None,
    host: str | None = None,
    redis_url: str | None = None,
    version: int | None = None,
) -> ShippingHandler | None:
    """Set this process's log level, format and shipping from the ``logging`` config section.

    ``cfg_logging`` is a :class:`conf.schema.LoggingConfig` or its plain dict (as Ray
    actors get it). Context fields (``run_id`` — the replay namespace —, ``tag``,
    ``actor_id``, ``host``, ``version``) are stamped on every JSON line; update them later
    with :func:`telemetry.set_log_context`. With ``format=json`` the root logger's
    stream and file handlers print JSON (a stderr handler is added where there is none)
    and lines are shipped per ``ship`` (``redis``: the stream ``fsrl:{run_id}:logs`` on
    ``ship_url`` or else ``redis_url``). Calling it again replaces the previous shipping.
    Returns the shipping handler, or None when nothing is shipped.

    Raises ``ValueError`` naming a bad ``logging.format`` / ``logging.ship``, and
    :class:`telemetry.MissingExtraError` when the broker's client is not installed.
    """
    fmt = _field(cfg_logging, "format", "text")
    ship = _field(cfg_logging, "ship", "redis")
    if fmt not in FORMATS:
        raise ValueError(f"logging.format={fmt!r} is not one of {FORMATS}")
    if ship not in SHIPS:
        raise ValueError(f"logging.ship={ship!r} is not one of {SHIPS}")
    level = _field(cfg_logging, "level", "INFO")
    for name in FSRL_LOGGERS:
        logging.getLogger(name).setLevel(level)
    context: dict[str, Any] = {
        "run_id": run_id,
        "tag": tag,
        "actor_id": actor_id,
        "version": version,
    }
    if host:
        context["host"] = host
    CONTEXT.update(**context)
    uninstall_logging()
    if fmt != "json":
        return None
    root = logging.getLogger()
    streams = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    if not streams:
        handler = logging.StreamHandler(sys.stderr)
        root.addHandler(handler)
        streams = [handler]
        if root.level > logging.getLevelName(level) or root.level == logging.NOTSET:
            root.setLevel(level)
    for h in streams:
        h.setFormatter(JsonFormatter())
    sink = make_sink(
        ship,
        _field(cfg_logging, "ship_url", None) or (redis_url if ship == "redis" else None),
        run_id,
        _field(cfg_logging, "ship_topic", None),
        int(_field(cfg_logging, "ship_maxlen", 10_000)),
    )
    if sink is None:
        return None
    shipper = ShippingHandler(sink)
    shipper.setLevel(level)
    root.addHandler(shipper)
    _installed.append(shipper)
    logger.info("JSON log lines of run %s shipped to %s", run_id, sink.describe())
    return shipper


def uninstall_logging() -> None:
    """Remove and close the shipping handler :func:`install_logging` added (idempotent);
    what is queued is sent first."""
    root = logging.getLogger()
    while _installed:
        h = _installed.pop()
        root.removeHandler(h)
        h.close()
