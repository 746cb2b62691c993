"""Redis URLs as strings: checking them and masking their passwords (no connection made).

Pure string work, so the config's value checks (:mod:`conf.validate`) can name a bad
``replay.redis_url`` before anything starts, and every log line, error and file that
mentions a URL shows ``***`` instead of its password.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit


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


__all__ = ["check_redis_url", "mask_url", "redact_text", "redact_url", "redis_url_problem"]
