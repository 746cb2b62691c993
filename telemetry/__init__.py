"""fsrl's logs as data: JSON log lines with run context, shipped to a Redis stream or a broker.

The bottom layer: imports the standard library, redis-py and (optionally) pika / nats-py,
never ``learner``, ``actors`` or ``replay``, so every process of a run — the launcher,
the learner, each Ray actor worker, the robot bridge — can install the same logging.

Promises: :func:`install_logging` is the one call a process makes; with
``logging.format=json`` every log record becomes one JSON object per line carrying
``run_id``, ``tag``, ``version``, ``actor_id`` and ``host``, printed where the process's
handlers print and shipped (``logging.ship``: ``redis`` by default, ``amqp``, ``nats`` or
``none``) from a background thread, so logging never blocks on the network.
A missing optional client (pika, nats-py) fails with one line naming the package and
the extra to install.
"""

from __future__ import annotations

from telemetry.install import install_logging, uninstall_logging
from telemetry.jsonlog import JsonFormatter, LogContext, set_log_context
from telemetry.ship import (
    AmqpSink,
    MissingExtraError,
    NatsSink,
    RedisStreamSink,
    default_topic,
    log_stream_key,
    make_sink,
)

__all__ = [
    "AmqpSink",
    "JsonFormatter",
    "LogContext",
    "MissingExtraError",
    "NatsSink",
    "RedisStreamSink",
    "default_topic",
    "install_logging",
    "log_stream_key",
    "make_sink",
    "set_log_context",
    "uninstall_logging",
]
