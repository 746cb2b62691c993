"""Where JSON log lines go: a bounded Redis stream of the run, a RabbitMQ queue or a NATS subject.

A sink is an object with ``send(lines)`` and ``close()``, used from one background
thread only (:class:`ShippingHandler`), so the broker clients need no locking.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import queue
import re
import threading
import time
from typing import Any, Protocol

import redis

from telemetry.jsonlog import JsonFormatter

logger = logging.getLogger(__name__)

SHIPS = ("redis", "amqp", "nats", "none")
DEFAULT_URLS = {"amqp": "amqp://guest:guest@127.0.0.1:5672/%2F", "nats": "nats://127.0.0.1:4222"}


class MissingExtraError(RuntimeError):
    """An optional client library is not installed; the message names the package and the extra."""


def require(module: str, package: str, extra: str) -> Any:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``package`` and ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{package} is not installed: pip install '{package}' (or fsrl[{extra}])"
        ) from exc


def mask(url: str) -> str:
    """``url`` without its password (for log lines)."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def log_stream_key(run_id: str) -> str:
    """The Redis stream of a run's JSON log lines (under the run's ``fsrl:{run}:`` keys)."""
    return f"fsrl:{run_id}:logs"


def default_topic(run_id: str) -> str:
    """The AMQP queue / NATS subject a run ships to when ``logging.ship_topic`` is null."""
    return f"fsrl.logs.{run_id}"


class Sink(Protocol):
    def send(self, lines: list[str]) -> None: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


class RedisStreamSink:
    """XADDs each line (field ``line``) to ``stream``, trimmed to about ``maxlen`` entries.

    Promises: the stream never grows past ~``maxlen`` (``MAXLEN ~``); one round trip per batch.
    """

    def __init__(self, url: str, stream: str, maxlen: int = 10_000) -> None:
        self.stream = stream
        self.maxlen = int(maxlen)
        self._r = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
        self._url = url

    def describe(self) -> str:
        return f"the Redis stream {self.stream} at {mask(self._url)}"

    def send(self, lines: list[str]) -> None:
        pipe = self._r.pipeline(transaction=False)
        for line in lines:
            pipe.xadd(self.stream, {"line": line}, maxlen=self.maxlen, approximate=True)
        pipe.execute()

    def close(self) -> None:
        self._r.close()


class AmqpSink:
    """Publishes each line to the AMQP queue ``queue_name`` (declared, default exchange) via pika.

    Promises: a dropped connection is re-opened on the next batch.
    """

    def __init__(self, url: str, queue_name: str) -> None:
        self._pika = require("pika", "pika", "ship")
        self.url = url
        self.queue_name = queue_name
        self._conn: Any = None
        self._channel: Any = None
        self._connect()

    def describe(self) -> str:
        return f"the AMQP queue {self.queue_name} at {mask(self.url)}"

    def _connect(self) -> None:
        params = self._pika.URLParameters(self.url)
        params.connection_attempts = 2
        params.socket_timeout = 5
        self._conn = self._pika.BlockingConnection(params)
        self._channel = self._conn.channel()
        self._channel.queue_declare(queue=self.queue_name, durable=False, auto_delete=False)

    def send(self, lines: list[str]) -> None:
        if self._conn is None or self._conn.is_closed:
            self._connect()
        props = self._pika.BasicProperties(content_type="application/json")
        for line in lines:
            self._channel.basic_publish(
                exchange="", routing_key=self.queue_name, body=line.encode(), properties=props
            )
        self._conn.process_data_events(0)  # heartbeats

    def close(self) -> None:
        if self._conn is not None and self._conn.is_open:
            self._conn.close()
        self._conn = None


class NatsSink:
    """Publishes each line on the NATS subject ``subject`` via nats-py (its own event loop thread).

    Promises: :meth:`send` returns once the batch is flushed to the server.
    """

    def __init__(self, url: str, subject: str, timeout_s: float = 5.0) -> None:
        self._nats = require("nats", "nats-py", "ship")
        self.subject = subject
        self.timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fsrl-nats", daemon=True
        )
        self._thread.start()
        self._url = url
        self._nc = self._run(
            self._nats.connect(url, connect_timeout=timeout_s, max_reconnect_attempts=3)
        )

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout_s * 2)

    def describe(self) -> str:
        return f"the NATS subject {self.subject} at {mask(self._url)}"

    async def _publish(self, lines: list[str]) -> None:
        for line in lines:
            await self._nc.publish(self.subject, line.encode())
        await self._nc.flush(timeout=self.timeout_s)

    def send(self, lines: list[str]) -> None:
        self._run(self._publish(lines))

    def close(self) -> None:
        try:
            self._run(self._nc.drain())
        except Exception as exc:  # the server went away: nothing left to flush to
            logger.debug("nats drain failed: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=self.timeout_s)
        self._loop.close()


def make_sink(
    ship: str, url: str | None, run_id: str, topic: str | None, maxlen: int
) -> Sink | None:
    """The sink for ``logging.ship`` (``none`` gives None); ``url`` null takes the broker's
    local default (``redis`` needs one: the run's Redis)."""
    if ship == "none":
        return None
    if ship == "redis":
        if not url:
            raise ValueError("logging.ship=redis needs a Redis URL (logging.ship_url or the run's)")
        return RedisStreamSink(url, log_stream_key(run_id), maxlen)
    if ship == "amqp":
        return AmqpSink(url or DEFAULT_URLS["amqp"], topic or default_topic(run_id))
    if ship == "nats":
        return NatsSink(url or DEFAULT_URLS["nats"], topic or default_topic(run_id))
    raise ValueError(f"logging.ship={ship!r} is not one of {SHIPS}")


class ShippingHandler(logging.Handler):
    """Formats records as JSON in the caller's thread and ships them from a background thread.

    Promises: ``emit`` never blocks on the network (a full queue drops the line and counts
    it in :attr:`dropped`); a failing sink is logged once per minute on stderr, not
    raised; :meth:`close` sends what is queued (up to ``close_timeout_s``) and closes the sink.
    """

    def __init__(self, sink: Sink, capacity: int = 10_000, close_timeout_s: float = 5.0) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.sink = sink
        self.dropped = 0
        self.close_timeout_s = close_timeout_s
        self._q: queue.Queue[str | None] = queue.Queue(maxsize=capacity)
        self._last_error_s = 0.0
        self._thread = threading.Thread(target=self._drain, name="fsrl-log-ship", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("telemetry.ship", "pika", "nats", "asyncio")):
            return  # never ship the shipper's own chatter (feedback loops)
        try:
            self._q.put_nowait(self.format(record))
        except queue.Full:
            self.dropped += 1
        except Exception:  # formatting failed: logging's own reporting
            self.handleError(record)

    def _drain(self) -> None:
        stop = False
        while not stop:
            item = self._q.get()
            batch: list[str] = []
            while item is not None:
                batch.append(item)
                if len(batch) >= 256:
                    break
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    item = ""  # marker: nothing more now
                    break
            if item is None:
                stop = True
            if batch:
                try:
                    self.sink.send(batch)
                except Exception as exc:
                    self.dropped += len(batch)
                    now = time.monotonic()
                    if now - self._last_error_s > 60:
                        self._last_error_s = now
                        logger.warning(
                            "log shipping to %s failed: %s", type(self.sink).__name__, exc
                        )

    def close(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._q.put(None, timeout=self.close_timeout_s)
            self._thread.join(self.close_timeout_s)
            try:
                self.sink.close()
            except Exception as exc:
                logger.debug("closing log sink failed: %s", exc)
        super().close()
