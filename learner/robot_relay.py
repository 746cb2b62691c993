"""``python -m learner.robot_relay``: keep a robot on a tag's weights from the run's Redis.

    python -m learner.robot_relay endpoint=tcp://pi:5555 keys_dir=~/.fsrl/host-keys \
        redis_url=redis://host:6379/0 namespace=run-abc tag=gopigo-mlp_dueling follow=champion

Wires the Redis weight store (:mod:`replay.weights`) to the relay
(:class:`envs.gopigo_bridge.relay.WeightRelay`), which pushes each new version of the
tag (``follow=champion``: only versions that passed their promotion gate) to the Pi and
moves the Pi's episode metrics into the run's ``edge_metrics`` stream.
"""

from __future__ import annotations

import argparse
import logging
import sys

from envs.gopigo_bridge.client import EdgeClient
from envs.gopigo_bridge.relay import WeightRelay
from replay.weights import WeightStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m learner.robot_relay", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--redis_url", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--keys_dir", default=None)
    parser.add_argument("--server_key_file", default=None)
    parser.add_argument("--poll_interval_s", type=float, default=0.5)
    parser.add_argument("--drive_steps_per_poll", type=int, default=0)
    parser.add_argument("--follow", choices=("latest", "champion"), default="latest")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(["--" + t if "=" in t and not t.startswith("-") else t for t in raw])
    logging.basicConfig(level=logging.INFO)
    store = WeightStore(args.redis_url, args.namespace)
    client = EdgeClient(args.endpoint, keys_dir=args.keys_dir, server_key_file=args.server_key_file)
    relay = WeightRelay(
        store,
        args.tag,
        client,
        args.redis_url,
        args.namespace,
        args.poll_interval_s,
        follow=args.follow,
    )
    try:
        relay.run(args.drive_steps_per_poll)
    except KeyboardInterrupt:
        pass
    finally:
        relay.stop()
        client.close()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
