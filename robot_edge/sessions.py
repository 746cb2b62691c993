"""Client sessions: sequence numbers and the clock offset that makes a command stale.

A client opens a session with HELLO (a nonzero session id of its choosing); every
later message of the session carries a strictly larger ``seq`` and the sender's
``time.time_ns()``. The table refuses a message that is out of order, older than
``max_command_age_ms`` or stamped more than ``max_command_age_ms`` ahead of the
session's clock (``HELLO_SLACK_MS`` for the first command after HELLO, whose offset a
late HELLO may have set too high) — the last without touching the session, so one bad
stamp never locks the session out.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

from robot_edge import protocol as P

_OFFSET_WINDOW = 64
#: How far ahead of the HELLO's offset the session's first command may be stamped: a HELLO
#: that sat in a queue makes the first estimate too high, and the next command corrects it.
HELLO_SLACK_MS = 5000


@dataclass
class Session:
    """One client's sequence counter and clock offset.

    ``offsets_ns`` holds ``server_now - client_timestamp`` of the session's last accepted
    messages; its minimum is the clock offset plus the fastest delivery seen, so a
    message's age is how much later than that it arrived. The window lets the estimate
    follow slow clock drift; a slow HELLO only makes the first estimate too high, and
    the next faster message corrects it (by up to ``HELLO_SLACK_MS``). Lowering the
    estimate can only refuse more, so afterwards a message may lower it by at most
    ``max_command_age_ms``; one stamped further ahead is refused and not recorded.
    """

    last_seq: int
    offsets_ns: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=_OFFSET_WINDOW)
    )


class SessionTable:
    """The sessions the edge remembers, keyed by (CURVE user, session id).

    Promises: :meth:`check` either accepts a message (and records it) or raises a
    ProtocolError (NO_SESSION, OUT_OF_ORDER, STALE, MALFORMED) that leaves the session
    as it was, except that a refused message's ``seq`` is used up. At most
    ``max_sessions`` are kept; the oldest is forgotten first.
    """

    def __init__(self, max_command_age_ms: int, max_sessions: int) -> None:
        self.max_age_ns = int(max_command_age_ms) * 1_000_000
        self.max_sessions = int(max_sessions)
        self._sessions: collections.OrderedDict = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def check(self, header: P.Header, msg_type: P.MsgType, user: str = "") -> None:
        """Accept ``header`` for its session or raise ProtocolError saying why not."""
        key = (user, header.session)
        now = time.time_ns()
        if msg_type == P.MsgType.HELLO:
            if header.session == 0:
                raise P.ProtocolError(P.Status.MALFORMED, "HELLO needs a nonzero session id")
            self._sessions.pop(key, None)
            session = Session(header.seq)
            session.offsets_ns.append(now - header.timestamp_ns)
            self._sessions[key] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
            return
        sess = self._sessions.get(key)
        if sess is None:
            raise P.ProtocolError(
                P.Status.NO_SESSION, f"session {header.session} unknown: send HELLO first"
            )
        if header.seq <= sess.last_seq:
            raise P.ProtocolError(
                P.Status.OUT_OF_ORDER,
                f"seq {header.seq} after {sess.last_seq} in session {header.session}",
            )
        sess.last_seq = header.seq
        raw_ns = now - header.timestamp_ns
        offset_ns = min(sess.offsets_ns)
        limit_ms = self.max_age_ns // 1_000_000
        ahead_limit_ns = self.max_age_ns
        if len(sess.offsets_ns) == 1:  # only the HELLO's estimate so far
            ahead_limit_ns = max(ahead_limit_ns, HELLO_SLACK_MS * 1_000_000)
        if raw_ns < offset_ns - ahead_limit_ns:
            raise P.ProtocolError(
                P.Status.STALE,
                f"{msg_type.name} seq {header.seq} is stamped "
                f"{(offset_ns - raw_ns) / 1e6:.0f} ms in the future of the session's clock "
                f"(limit {ahead_limit_ns // 1_000_000} ms): send HELLO to resynchronise",
            )
        age_ns = raw_ns - min(raw_ns, offset_ns)
        if age_ns > self.max_age_ns:
            raise P.ProtocolError(
                P.Status.STALE,
                f"{msg_type.name} seq {header.seq} is {age_ns / 1e6:.0f} ms old "
                f"(limit {limit_ms} ms)",
            )
        sess.offsets_ns.append(raw_ns)
