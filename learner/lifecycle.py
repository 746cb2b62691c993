"""A model tag's lifecycle during a run: the lease, gated promotion, per-version records.

Promises: :class:`TagLifecycle` holds the tag's lease for the whole run (a second learner
on the same tag and namespace fails at start, naming the holder); every full evaluation
is recorded against the version it evaluated, and that version becomes the tag's
``champion`` only when it passes the gate (a higher evaluation return than the
champion's, by ``learner.gate_margin``; the first evaluated version is crowned), so
actors and the robot set to follow ``champion`` never act with a version that failed;
every finished episode is counted against the version that played it, in Redis
(:class:`replay.registry.ModelRegistry`) and in ``versions.jsonl`` of the run
directory (:class:`learner.version_log.VersionLog`), which the leaderboard reads.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import defaultdict
from pathlib import Path
from typing import Any

from learner.gate import GateResult, gate_by_return
from learner.version_log import OnlineReturns, VersionLog
from replay.registry import ModelRegistry, TagLease
from replay.weights import WeightStore

logger = logging.getLogger(__name__)


class TagLifecycle:
    """The tag's lease, gates, champion and online returns for one run (see module doc)."""

    def __init__(
        self, store: WeightStore, tag: str, run_dir: Path, lease_ttl_s: float, gate_margin: float
    ) -> None:
        self.tag = tag
        self.registry = ModelRegistry(store)
        owner = f"{socket.gethostname()}:{os.getpid()}:{run_dir}"
        self.lease = TagLease(store.redis, store.keys, tag, owner, lease_ttl_s).acquire()
        self.log = VersionLog(run_dir)
        self.online = OnlineReturns()
        self.gate_margin = float(gate_margin)
        self.champion = self.registry.champion(tag)
        self.champion_return: float | None = self._recorded_return(self.champion)
        self._pending: dict[int, list[float]] = defaultdict(list)

    def _recorded_return(self, version: int | None) -> float | None:
        """The evaluation return a gate recorded for ``version`` (a resumed tag's champion)."""
        if version is None:
            return None
        detail = self.registry.gates(self.tag).get(version, {}).get("detail", {})
        value = detail.get("candidate_return") if isinstance(detail, dict) else None
        return float(value) if value is not None else None

    def renew(self) -> None:
        self.lease.renew()

    def evaluated(self, version: int, mean_return: float, episodes: int) -> GateResult:
        """Record an evaluation of ``version``; promote it when it passes the gate."""
        result = gate_by_return(mean_return, self.champion_return, self.gate_margin)
        self.registry.record_gate(self.tag, version, result.passed, result.to_dict())
        self.log.record(
            self.tag, version, eval_return=mean_return, eval_episodes=episodes, gate=result
        )
        if result.passed:
            self.registry.set_champion(self.tag, version)
            self.champion, self.champion_return = version, float(mean_return)
            self.log.record(self.tag, version, champion=True)
            logger.info("%s version %d is champion (%s)", self.tag, version, result.reason)
        return result

    def episode(self, version: int, episode_return: float) -> None:
        """Count an episode an actor (or the robot) finished with ``version``."""
        if version < 0:  # acted with the seeded initial weights: no version to credit
            return
        self.online.add(version, episode_return)
        self._pending[version].append(episode_return)

    def flush(self) -> None:
        """Send the episodes counted since the last flush to Redis (one call per version)."""
        pending, self._pending = self._pending, defaultdict(list)
        for version, returns in pending.items():
            self.registry.record_episodes(self.tag, version, returns)

    def close(self) -> None:
        """Flush, write each version's online returns to ``versions.jsonl``, free the tag."""
        try:
            self.flush()
            for version, stats in sorted(self.online.by_version.items()):
                self.log.record(self.tag, version, online=stats)
        finally:
            self.log.close()
            self.lease.release()

    def summary(self) -> dict[str, Any]:
        return {"champion": self.champion, "champion_eval_return": self.champion_return}


__all__ = ["TagLifecycle"]
