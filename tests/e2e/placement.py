"""Where Ray placed the fsrl actors: read from Ray's own state on the head."""

from __future__ import annotations

from cluster import Cluster


def actor_hosts(cluster: Cluster, since_ids: set[str] | None = None) -> dict[str, list[str]]:
    """ActorWorker actors by the IP of the node Ray placed them on (Ray's own state)."""
    state = cluster.ray_state()
    ip_of = {n["id"]: n["ip"] for n in state["nodes"]}
    out: dict[str, list[str]] = {}
    for a in state["actors"]:
        if a["cls"] == "ActorWorker" and (since_ids is None or a["id"] not in since_ids):
            out.setdefault(ip_of.get(a["node"], f"node {a['node']}"), []).append(a["id"])
    return out


def worker_actor_ids(cluster: Cluster) -> set[str]:
    return {a["id"] for a in cluster.ray_state()["actors"] if a["cls"] == "ActorWorker"}
