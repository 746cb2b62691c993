"""Connecting to Redis by URL: fail fast naming the (password-masked) URL, retry with
backoff when a live connection drops."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from conf.urls import mask_url
from replay.errors import ReplayConnectionError

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Errors after which a call is retried (the server went away or stalled).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    redis.BusyLoadingError,
)


def connect(url: str, connect_timeout_s: float, socket_timeout_s: float) -> redis.Redis:
    """A client for ``url`` that has answered PING (so credentials were accepted).

    Raises :class:`ReplayConnectionError` naming the masked URL when the server is
    unreachable within ``connect_timeout_s`` or refuses the credentials.
    """
    masked = mask_url(url)
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
        raise ReplayConnectionError(
            f"not a redis URL: {masked!r} (expected redis://[user:pass@]host:port/db)"
        )
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=socket_timeout_s,
            decode_responses=False,
        )
    except ValueError as exc:
        raise ReplayConnectionError(f"invalid redis URL {masked}: {exc}") from exc
    deadline = time.monotonic() + connect_timeout_s
    delay_s = 0.05
    while True:
        try:
            client.ping()
            return client
        except redis.AuthenticationError as exc:
            client.close()
            raise ReplayConnectionError(
                f"redis at {masked} refused the credentials: {exc}"
            ) from exc
        except redis.ResponseError as exc:
            client.close()
            if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
                raise ReplayConnectionError(
                    f"redis at {masked} needs valid credentials: {exc}"
                ) from exc
            raise ReplayConnectionError(
                f"redis at {masked} answered PING with an error: {exc}"
            ) from exc
        except TRANSIENT_ERRORS as exc:
            if time.monotonic() + delay_s > deadline:
                client.close()
                raise ReplayConnectionError(
                    f"cannot reach redis at {masked} within {connect_timeout_s:g}s: {exc}"
                ) from exc
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 1.0)


def with_retry(
    fn: Callable[[], T],
    url: str,
    reconnect_timeout_s: float,
    on_retry: Callable[[], None] | None = None,
    what: str = "redis call",
) -> T:
    """Run ``fn``; on a dropped connection retry with exponential backoff (50 ms .. 2 s)
    for up to ``reconnect_timeout_s``, calling ``on_retry`` before each new attempt."""
    delay_s = 0.05
    deadline = time.monotonic() + reconnect_timeout_s
    first_failure = True
    while True:
        try:
            return fn()
        except redis.AuthenticationError as exc:
            raise ReplayConnectionError(
                f"redis at {mask_url(url)} refused the credentials: {exc}"
            ) from exc
        except TRANSIENT_ERRORS as exc:
            if time.monotonic() + delay_s > deadline:
                raise ReplayConnectionError(
                    f"lost redis at {mask_url(url)} during {what}; not back after {reconnect_timeout_s:g}s: {exc}"
                ) from exc
            if first_failure:
                logger.warning(
                    "lost redis at %s during %s (%s); retrying", mask_url(url), what, exc
                )
                first_failure = False
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 2.0)
            if on_retry is not None:
                with contextlib.suppress(*TRANSIENT_ERRORS):
                    on_retry()


def connect_resilient(
    url: str, connect_timeout_s: float = 5.0, socket_timeout_s: float = 10.0
) -> redis.Redis:
    """A Redis client for ``url`` whose calls ride out ~30 s of server downtime.

    The first contact fails within ``connect_timeout_s`` with a ReplayConnectionError
    naming the (password-masked) URL (:func:`connect`); afterwards a
    dropped connection is retried with backoff.
    """
    probe = connect(url, connect_timeout_s, socket_timeout_s)
    probe.close()
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=socket_timeout_s,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 40),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )
