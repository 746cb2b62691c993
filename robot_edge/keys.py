"""CURVE key homes: one directory per side holding its key pair and its peers' public keys.

Layout of a key home::

    <home>/self.key          this side's public key (safe to share)
    <home>/self.key_secret   this side's secret key (mode 0600, never leaves the machine)
    <home>/peers/<name>.key  public keys this side trusts: on the Pi, the paired hosts
                             (the allow-list); on the host, the Pi (the server key)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import zmq.auth

SELF = "self"
PEERS = "peers"


class KeyFileError(ValueError):
    """A key home or key file that is missing or unreadable (the message names the path)."""


def _home(home: str | os.PathLike) -> Path:
    return Path(os.path.expanduser(os.fspath(home)))


def public_key_path(home: str | os.PathLike) -> Path:
    return _home(home) / f"{SELF}.key"


def generate(home: str | os.PathLike, force: bool = False) -> bytes:
    """Create the key pair of ``home`` (kept if it exists unless ``force``); return the public key."""
    root = _home(home)
    (root / PEERS).mkdir(parents=True, exist_ok=True)
    secret = root / f"{SELF}.key_secret"
    if secret.exists() and not force:
        return load_keypair(root)[0]
    for p in (secret, public_key_path(root)):
        if p.exists():
            p.unlink()
    zmq.auth.create_certificates(str(root), SELF)
    os.chmod(secret, 0o600)
    return load_keypair(root)[0]


def load_keypair(home: str | os.PathLike) -> tuple[bytes, bytes]:
    """(public, secret) of a key home; raise KeyFileError naming the file when absent."""
    path = _home(home) / f"{SELF}.key_secret"
    if not path.is_file():
        raise KeyFileError(f"no secret key at {path}: run `python -m robot_edge.pair init {home}`")
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read key pair {path}: {exc}") from exc
    if not secret:
        raise KeyFileError(f"{path} holds no secret key")
    return public, secret


def load_public(path: str | os.PathLike) -> bytes:
    """A public key from a ``.key`` certificate file."""
    p = _home(path)
    if not p.is_file():
        raise KeyFileError(f"no public key file at {p}")
    try:
        public, _ = zmq.auth.load_certificate(str(p))
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read public key {p}: {exc}") from exc
    if len(public) != 40:
        raise KeyFileError(f"{p}: public key is not a 40-character Z85 CURVE key")
    return public


def trust(home: str | os.PathLike, peer_public_file: str | os.PathLike, name: str) -> Path:
    """Install a peer's public key into ``home/peers/<name>.key``; return its path."""
    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"peer name {name!r} must be a plain file name")
    load_public(peer_public_file)  # validate before installing
    dest = _home(home) / PEERS / f"{name}.key"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(peer_public_file, dest)
    return dest


def peers_dir(home: str | os.PathLike) -> Path:
    return _home(home) / PEERS


def trusted(home: str | os.PathLike) -> dict[str, bytes]:
    """Every public key in ``home/peers`` by peer name."""
    d = peers_dir(home)
    if not d.is_dir():
        return {}
    return {p.stem: load_public(p) for p in sorted(d.glob("*.key"))}
