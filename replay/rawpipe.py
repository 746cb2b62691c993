"""A dedicated Redis connection that sends one pre-packed pipeline and parses the
replies with hiredis directly — for the sampler's hot path, where redis-py's
per-command Python overhead would dominate (hundreds of GETRANGEs per batch)."""

from __future__ import annotations

from typing import Any

import numpy as np
import redis

try:
    import hiredis
except ImportError as exc:  # pragma: no cover - hiredis is a declared dependency
    raise ImportError("replay needs the hiredis parser: pip install 'redis[hiredis]'") from exc


def resp_command(*args: Any) -> bytes:
    """One command in RESP (``*N\\r\\n$len\\r\\narg\\r\\n...``)."""
    return hiredis.pack_command(tuple(args))


class RawPipe:
    """Send bytes, read exactly ``n`` replies. Error replies come back as
    :class:`hiredis.ReplyError` objects in the list; a broken socket raises
    :class:`redis.ConnectionError` (and the next call reconnects)."""

    def __init__(self, client: redis.Redis) -> None:
        pool = client.connection_pool
        self._cls = pool.connection_class
        self._kwargs = dict(pool.connection_kwargs)
        self._conn: Any = None
        self._reader: Any = None

    def request(self, payload: bytes | list[Any], n: int) -> list[Any]:
        """Send ``payload`` (bytes, or a list of buffers sent in order without joining)
        and return the next ``n`` replies."""
        self.send(payload)
        return self.recv(n)

    def send(self, payload: bytes | list[Any]) -> None:
        """Send without waiting for the replies (read them later with :meth:`recv`)."""
        if self._conn is None:
            conn = self._cls(**self._kwargs)
            conn.connect()  # AUTH / SELECT as configured by the URL
            self._conn = conn
            self._reader = hiredis.Reader()
        sock = self._conn._sock
        try:
            if isinstance(payload, list):
                for part in payload:
                    if len(part):
                        sock.sendall(part)
            else:
                sock.sendall(payload)
        except OSError as exc:
            self.close()
            raise redis.ConnectionError(str(exc)) from exc
        except BaseException:
            self.close()  # e.g. KeyboardInterrupt mid-send: the stream is out of step
            raise

    def recv(self, n: int) -> list[Any]:
        """The next ``n`` replies, in order."""
        if self._conn is None:
            raise redis.ConnectionError("connection lost before the replies were read")
        sock, reader = self._conn._sock, self._reader
        out: list[Any] = []
        try:
            while len(out) < n:
                reply = reader.gets()
                if reply is not False:
                    out.append(reply)
                    continue
                data = sock.recv(1 << 20)
                if not data:
                    raise redis.ConnectionError("connection closed by the server")
                reader.feed(data)
            return out
        except OSError as exc:
            self.close()
            raise redis.ConnectionError(str(exc)) from exc
        except BaseException:
            self.close()
            raise

    def recv_bulk_run(
        self, count: int, size: int, n_after: int
    ) -> tuple[bytearray | None, list[Any]]:
        """Read ``count`` replies expected to be bulk strings of exactly ``size`` bytes,
        then ``n_after`` more replies.

        Fast path: the ``count`` replies land, framing checked with numpy, in one buffer
        where reply ``i``'s bytes start at ``i * stride + len(b"$<size>\\r\\n")`` with
        ``stride = len(b"$<size>\\r\\n") + size + 2``; returns ``(buffer, the n_after
        replies)``. If any of them is not such a string (an empty one for a deleted key,
        an error), everything is parsed the ordinary way: ``(None, all replies)``.
        """
        if self._conn is None:
            raise redis.ConnectionError("connection lost before the replies were read")
        sock, reader = self._conn._sock, self._reader
        head = b"$%d\r\n" % size
        h, stride = len(head), len(head) + size + 2
        need = count * stride
        buf = bytearray(need)
        view = memoryview(buf)
        arr = np.frombuffer(buf, dtype=np.uint8)
        head_arr = np.frombuffer(head, dtype=np.uint8)
        cols = np.arange(h)
        got = checked = 0
        ok = True
        try:
            while got < need:
                n = sock.recv_into(view[got:], need - got)
                if not n:
                    raise redis.ConnectionError("connection closed by the server")
                got += n
                ready = min(count, (got - h) // stride + 1) if got >= h else 0
                if ready > checked:  # headers that arrived since the last look
                    starts = np.arange(checked, ready) * stride
                    if not (arr[starts[:, None] + cols] == head_arr).all():
                        ok = False
                        break
                    checked = ready
            if ok:
                frames = arr.reshape(count, stride)
                if not ((frames[:, -2] == 13) & (frames[:, -1] == 10)).all():
                    raise redis.ConnectionError("reply stream out of step (bad record framing)")
                del view
                return buf, self.recv(n_after)
            reader.feed(bytes(view[:got]))
            return None, self.recv(count + n_after)
        except OSError as exc:
            self.close()
            raise redis.ConnectionError(str(exc)) from exc
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.disconnect()
