"""Connecting to Redis by URL: fail fast naming the (password-masked) URL, retry with
backoff when a live connection drops."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis

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


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe for logs and messages).

    Works on URLs that do not parse as Redis URLs too (a bad port, say), so an error
    about such a URL can still name it without its password.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable redis url>"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def redact_url(url: str) -> str:
    """``url`` with its password masked as ``***``: what may go in logs, errors and files."""
    return mask_url(url)


# scheme://[user]:password@ — the password ends at the last '@' before the host.
_URL_PASSWORD = re.compile(r"((?:rediss?|unix)://[^:@/\s'\"]*:)([^\s'\"]*)(@)")


def redact_text(text: str) -> str:
    """``text`` with the password of every redis://, rediss:// or unix:// URL in it masked."""
    return _URL_PASSWORD.sub(lambda m: m.group(1) + "***" + m.group(3), text)


def redis_url_problem(url: object) -> str | None:
    """Why ``url`` cannot be a Redis URL (scheme, host, port, db), or None when it can."""
    if not isinstance(url, str):
        return f"a string, not {type(url).__name__}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"a URL with a valid port ({exc})"
    if parts.scheme not in ("redis", "rediss", "unix"):
        return "a redis://, rediss:// or unix:// URL (redis://[user:pass@]host:port/db)"
    if parts.scheme == "unix":
        if not parts.path:
            return "a unix:// URL with a socket path (unix:///path/redis.sock?db=0)"
        db = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p).get("db", "0")
    else:
        if not parts.hostname:
            return "a URL with a host (redis://host:port/db)"
        if port is not None and not 0 < port < 65536:
            return f"a URL with a port in 1..65535, not {port}"
        db = parts.path.lstrip("/") or "0"
    if not db.isdigit():
        return f"a URL whose database is a number >= 0, not {db!r}"
    return None


def check_redis_url(url: str) -> str:
    """``url`` unchanged, or ValueError naming the (masked) URL and what is wrong with it."""
    problem = redis_url_problem(url)
    if problem is not None:
        raise ValueError(f"redis URL {redact_url(str(url))!r} is invalid: must be {problem}")
    return url


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
