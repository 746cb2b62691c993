"""``fsrl replay ls|rm NAMESPACE`` (``python -m replay.admin``): what a run keeps in Redis.

``ls`` lists a namespace's replay tables (size, capacity, keys, memory) and model tags
(stored versions, latest, memory), plus the run's other keys (actors, episodes, logs);
without a namespace it lists the namespaces on the server. ``rm`` removes a namespace's
keys — only after ``--yes``; without it, it says what would go. Keys of a longer
namespace that starts with the same text (``run`` and ``run:2``) are never touched.

The Redis URL comes from ``--redis-url``, else ``FSRL_REDIS_URL``, else
``redis://127.0.0.1:6379/0``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import redis

from replay.connection import connect, mask_url
from replay.errors import ReplayConnectionError

DEFAULT_URL = "redis://127.0.0.1:6379/0"
#: First key segment after ``fsrl:{namespace}:`` of every key fsrl writes.
KNOWN_SEGMENTS = ("t", "weights", "actors", "episodes", "logs", "edge_metrics")
MIB = 1 << 20


@dataclass
class TableInfo:
    name: str
    size: int
    capacity: int
    keys: int
    bytes: int


@dataclass
class TagInfo:
    tag: str
    versions: list[int]
    latest: int | None
    bytes: int


@dataclass
class NamespaceInfo:
    """What one namespace holds; :attr:`keys` are every key :func:`remove` would delete."""

    namespace: str
    tables: list[TableInfo] = field(default_factory=list)
    tags: list[TagInfo] = field(default_factory=list)
    other: dict[str, int] = field(default_factory=dict)  # segment -> key count
    keys: list[bytes] = field(default_factory=list)
    bytes: int = 0


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def namespace_keys(r: redis.Redis, namespace: str) -> Iterator[bytes]:
    """Every key of ``namespace`` (SCAN, never KEYS), excluding longer namespaces' keys."""
    prefix = f"fsrl:{namespace}:"
    for key in r.scan_iter(match=_glob_escape(prefix) + "*", count=1000):
        rest = key[len(prefix) :].decode(errors="replace")
        if rest.split(":", 1)[0] in KNOWN_SEGMENTS:
            yield key


def namespaces(r: redis.Redis) -> list[str]:
    """The namespaces with fsrl keys on the server (a namespace may itself contain ':')."""
    found = set()
    pattern = re.compile(
        rb"^fsrl:(.+?):(" + b"|".join(s.encode() for s in KNOWN_SEGMENTS) + rb")(:|$)"
    )
    for key in r.scan_iter(match="fsrl:*", count=1000):
        m = pattern.match(key)
        if m:
            found.add(m.group(1).decode(errors="replace"))
    return sorted(found)


def _memory(r: redis.Redis, keys: Sequence[bytes]) -> list[int]:
    pipe = r.pipeline(transaction=False)
    for k in keys:
        pipe.memory_usage(k, samples=0)
    return [int(v or 0) for v in pipe.execute()]


def inspect(r: redis.Redis, namespace: str) -> NamespaceInfo:
    """The tables, tags and other keys of ``namespace`` with their sizes."""
    info = NamespaceInfo(namespace)
    info.keys = sorted(namespace_keys(r, namespace))
    sizes = dict(zip(info.keys, _memory(r, info.keys), strict=True))
    info.bytes = sum(sizes.values())
    prefix = f"fsrl:{namespace}:".encode()
    tables: dict[str, list[bytes]] = {}
    tags: dict[str, list[bytes]] = {}
    for key in info.keys:
        rest = key[len(prefix) :].decode(errors="replace")
        seg, _, tail = rest.partition(":")
        if seg == "t":
            tables.setdefault(tail.split(":", 1)[0], []).append(key)
        elif seg == "weights" and tail != "tags":
            tags.setdefault(
                tail.rsplit(":", 2)[0] if ":v:" in tail else tail.rsplit(":", 1)[0], []
            ).append(key)
        else:
            info.other[seg] = info.other.get(seg, 0) + 1
    for name, keys in sorted(tables.items()):
        base = f"fsrl:{namespace}:t:{name}:"
        size = r.hget(base + "state", "size")
        raw = r.hget(base + "meta", "config")
        capacity = int(json.loads(raw)["capacity"]) if raw else 0
        info.tables.append(
            TableInfo(name, int(size or 0), capacity, len(keys), sum(sizes[k] for k in keys))
        )
    for tag, keys in sorted(tags.items()):
        base = f"fsrl:{namespace}:weights:{tag}:"
        versions = sorted(int(v) for v in r.zrange(base + "versions", 0, -1))
        latest = r.get(base + "latest")
        info.tags.append(
            TagInfo(
                tag,
                versions,
                int(latest) if latest is not None else None,
                sum(sizes[k] for k in keys),
            )
        )
    return info


def remove(r: redis.Redis, namespace: str) -> int:
    """Delete every key of ``namespace`` (UNLINK, in batches); returns how many went."""
    removed = 0
    batch: list[bytes] = []
    for key in namespace_keys(r, namespace):
        batch.append(key)
        if len(batch) >= 500:
            removed += int(r.unlink(*batch))
            batch = []
    if batch:
        removed += int(r.unlink(*batch))
    return removed


def _versions_text(versions: list[int]) -> str:
    if not versions:
        return "none"
    if versions == list(range(versions[0], versions[-1] + 1)) and len(versions) > 2:
        return f"{versions[0]}..{versions[-1]}"
    return ",".join(map(str, versions))


def format_info(info: NamespaceInfo, url: str) -> str:
    lines = [
        f"namespace {info.namespace!r} on {mask_url(url)}: {len(info.keys)} keys, {info.bytes / MIB:,.2f} MiB"
    ]
    if not info.keys:
        return lines[0] + " (nothing stored)"
    lines.append("replay tables:" if info.tables else "replay tables: none")
    for t in info.tables:
        lines.append(
            f"  {t.name:<16} {t.size:>10,} / {t.capacity:,} transitions  {t.keys:>6,} keys  {t.bytes / MIB:>9,.2f} MiB"
        )
    lines.append("model tags:" if info.tags else "model tags: none")
    for g in info.tags:
        lines.append(
            f"  {g.tag:<32} versions {_versions_text(g.versions)} ({len(g.versions)} kept), "
            f"latest {g.latest}  {g.bytes / MIB:,.2f} MiB"
        )
    if info.other:
        lines.append("other keys: " + ", ".join(f"{k} {n}" for k, n in sorted(info.other.items())))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fsrl replay", description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("FSRL_REDIS_URL", DEFAULT_URL))
    sub = parser.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("ls", help="list namespaces, or one namespace's tables and tags")
    ls.add_argument("namespace", nargs="?")
    rm = sub.add_parser("rm", help="remove a namespace's tables, weights and run keys")
    rm.add_argument("namespace")
    rm.add_argument("--yes", action="store_true", help="really remove (else: say what would go)")
    args = parser.parse_args(argv)
    try:
        r = connect(args.redis_url, connect_timeout_s=5.0, socket_timeout_s=30.0)
    except ReplayConnectionError as exc:
        print(f"fsrl replay: {exc}", file=sys.stderr)
        return 2
    try:
        if args.cmd == "ls" and args.namespace is None:
            names = namespaces(r)
            print(
                "\n".join(names) if names else f"no fsrl namespaces on {mask_url(args.redis_url)}"
            )
            return 0
        info = inspect(r, args.namespace)
        print(format_info(info, args.redis_url))
        if args.cmd == "ls":
            return 0
        if not info.keys:
            return 0
        if not args.yes:
            print(
                f"nothing removed: pass --yes to remove these {len(info.keys)} keys",
                file=sys.stderr,
            )
            return 1
        print(f"removed {remove(r, args.namespace)} keys of namespace {args.namespace!r}")
        return 0
    finally:
        r.close()


if __name__ == "__main__":
    sys.exit(main())
