"""Helpers of the self-play tests: configs on the test Redis, stored replay contents, and
tic-tac-toe versions that play a fixed order of preference."""

from __future__ import annotations

from typing import Any

import numpy as np

import conf
from replay import ReplayClient
from replay.codec import decode_chunk

#: Centre, corners, edges: beats EDGES_FIRST on the arena's fixed seeds (17-1-2 of 20).
CENTRE_FIRST = [4, 0, 2, 6, 8, 1, 3, 5, 7]
EDGES_FIRST = [1, 3, 5, 7, 0, 2, 6, 8, 4]


def selfplay_cfg(redis_url: str, namespace: str, *overrides: str) -> Any:
    """``experiment=tictactoe_selfplay`` on the test Redis and namespace."""
    return conf.load_config(
        [
            "experiment=tictactoe_selfplay",
            f"replay.redis_url={redis_url}",
            f"replay.namespace={namespace}",
            *overrides,
        ]
    )


def stored_transitions(client: ReplayClient, table: str = "replay") -> dict[str, np.ndarray]:
    """Every transition stored in ``table``, chunk by chunk in commit order, as columns."""
    keys = client.keys.table(table)
    _, spec = client.table_info(table)
    seqs = sorted(
        int(k.decode().rsplit(":", 1)[1])
        for k in client.redis.scan_iter(match=keys.chunk_prefix + "*")
    )
    chunks = [decode_chunk(client.redis.get(keys.chunk(s)), spec)[2] for s in seqs]
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def preference_version(cfg: Any, order: list[int]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Weights of ``cfg``'s Q-network that prefer moves in ``order`` (greedy: the first legal
    of it), whatever the board: every weight 0, the advantage head's last bias ranked."""
    import torch

    from actors.envs import probe_spaces
    from agents.dqn.networks import build_q_network, export_for_edge

    space, actions = probe_spaces(cfg.env)
    net = build_q_network(cfg.model, space, int(actions.n))
    rank = torch.zeros(int(actions.n))
    rank[order] = torch.arange(len(order), 0, -1, dtype=torch.float32)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.advantage[-1].bias.copy_(rank)
    return export_for_edge(net)
