"""The edge's socket: CURVE or plain text decided before anything binds (fail closed)."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

import zmq
import zmq.auth.thread

from robot_edge import keys as keyfiles
from robot_edge import protocol as P
from robot_edge.config import EdgeConfig, EdgeConfigError

logger = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def curve_keys(cfg: EdgeConfig) -> tuple[bytes, bytes] | None:
    """The server's CURVE key pair, or None for plain text where that is allowed.

    Raises EdgeConfigError naming the setting when neither works: a key home without
    paired clients, plain text on a non-loopback bind, or real motors without keys
    (unless ``insecure=true``).
    """
    host = urlparse(cfg.bind).hostname or ""
    if cfg.keys_dir:
        pair = keyfiles.load_keypair(cfg.keys_dir)
        allowed = keyfiles.trusted(cfg.keys_dir)
        if not allowed:
            raise EdgeConfigError(
                f"keys_dir={cfg.keys_dir}: no paired client keys in "
                f"{keyfiles.peers_dir(cfg.keys_dir)}; refusing to start (pair first: "
                "python -m robot_edge.pair)"
            )
        logger.info("CURVE on; %d paired client key(s): %s", len(allowed), sorted(allowed))
        return pair
    if host not in _LOOPBACK:
        raise EdgeConfigError(
            f"bind={cfg.bind} is not loopback: CURVE is required there (keys_dir=<key home>, "
            "pair with python -m robot_edge.pair); plain text is accepted on loopback only"
        )
    if not (cfg.insecure or cfg.backend == "sim"):
        raise EdgeConfigError(
            f"backend={cfg.backend} without keys_dir: CURVE is required to drive real motors "
            "(pair with python -m robot_edge.pair), or pass insecure=true on loopback"
        )
    logger.warning("CURVE off (plain text on loopback %s, backend=%s)", cfg.bind, cfg.backend)
    return None


def bind_socket(
    context: zmq.Context, cfg: EdgeConfig, keys: tuple[bytes, bytes] | None
) -> tuple[zmq.Socket, zmq.auth.thread.ThreadAuthenticator | None]:
    """The bound REP socket and, with CURVE, the running ZAP authenticator."""
    sock = context.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, P.MAX_MESSAGE_SIZE + 64)
    sock.setsockopt(zmq.RCVHWM, 16)
    sock.setsockopt(zmq.SNDHWM, 16)
    auth = None
    if keys is not None and cfg.keys_dir:
        public, secret = keys
        auth = zmq.auth.thread.ThreadAuthenticator(context)
        auth.start()
        auth.configure_curve(domain="fsrl", location=str(keyfiles.peers_dir(cfg.keys_dir)))
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        sock.curve_server = True
        sock.zap_domain = b"fsrl"
    bind = cfg.bind[:-2] + ":*" if cfg.bind.endswith(":0") else cfg.bind
    try:
        sock.bind(bind)
    except zmq.ZMQError as exc:
        sock.close()
        if auth is not None:
            auth.stop()
        raise EdgeConfigError(f"cannot bind {cfg.bind}: {exc}") from exc
    return sock, auth
