"""Pair a host and a Pi for CURVE: create key pairs and install each side's public key.

Two machines (only public keys cross the network)::

    pi$   python -m robot_edge.pair init ~/.fsrl/edge-keys
    host$ python -m robot_edge.pair init ~/.fsrl/host-keys
    host$ scp ~/.fsrl/host-keys/self.key pi:/tmp/host.key
    host$ scp pi:~/.fsrl/edge-keys/self.key /tmp/pi.key
    pi$   python -m robot_edge.pair trust ~/.fsrl/edge-keys /tmp/host.key --name host
    host$ python -m robot_edge.pair trust ~/.fsrl/host-keys /tmp/pi.key --name pi

One machine (then copy the Pi's directory to the Pi)::

    python -m robot_edge.pair local --host-dir keys/host --pi-dir keys/pi
"""

from __future__ import annotations

import argparse
import sys

from robot_edge import keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m robot_edge.pair",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_init = sub.add_parser("init", help="create this side's key pair in a key home")
    p_init.add_argument("home")
    p_init.add_argument("--force", action="store_true", help="replace an existing key pair")
    p_trust = sub.add_parser("trust", help="install a peer's public key (.key file)")
    p_trust.add_argument("home")
    p_trust.add_argument("peer_key")
    p_trust.add_argument("--name", required=True, help="peer name (file name in peers/)")
    p_local = sub.add_parser("local", help="create and cross-trust a host and a Pi key home")
    p_local.add_argument("--host-dir", required=True)
    p_local.add_argument("--pi-dir", required=True)
    p_local.add_argument("--host-name", default="host")
    p_local.add_argument("--pi-name", default="pi")
    p_show = sub.add_parser("show", help="print a key home's public key and trusted peers")
    p_show.add_argument("home")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "init":
            print(keys.generate(args.home, force=args.force).decode())
        elif args.cmd == "trust":
            print(keys.trust(args.home, args.peer_key, args.name))
        elif args.cmd == "local":
            keys.generate(args.host_dir)
            keys.generate(args.pi_dir)
            keys.trust(args.pi_dir, keys.public_key_path(args.host_dir), args.host_name)
            keys.trust(args.host_dir, keys.public_key_path(args.pi_dir), args.pi_name)
            print(f"paired: {args.host_dir} (host) <-> {args.pi_dir} (pi)")
        else:
            print(keys.load_keypair(args.home)[0].decode())
            for name, pub in keys.trusted(args.home).items():
                print(f"  trusts {name}: {pub.decode()}")
    except keys.KeyFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
