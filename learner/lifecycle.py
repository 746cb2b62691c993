"""A model tag's lifecycle during a run: the lease, gated promotion, per-version records.

Promises: :class:`TagLifecycle` holds the tag's lease for the whole run (a second learner
on the same tag and namespace fails at start, naming the holder); every full evaluation
is recorded against the version it evaluated, and that version becomes the tag's
``champion`` only when it passes the gate (a higher evaluation return than the
champion's, by ``learner.gate_margin``, or for two-player games a score of
``learner.gate_threshold`` against the champion in the arena; the first evaluated
version is crowned), so
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

import redis

from learner.gate import GateResult, gate_by_return
from learner.version_log import OnlineReturns, VersionLog
from replay.errors import ReplayError
from replay.registry import ModelRegistry, TagLease, TagLeaseError
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
        """Keep the tag. Redis out of reach: try again at the next renewal (the lease holds
        for ``lease_ttl_s``). Lost meanwhile (it expired during an outage): take it back if
        nobody else has; :class:`~replay.registry.TagLeaseError` naming the holder if so."""
        try:
            self.lease.renew()
        except redis.RedisError as exc:
            logger.warning("cannot renew the lease on %s yet: %s", self.tag, exc)
        except TagLeaseError as exc:
            logger.warning("%s; taking it back", exc)
            self.lease.acquire()

    def evaluated(
        self, version: int, mean_return: float, episodes: int, gate: GateResult | None = None
    ) -> GateResult:
        """Record an evaluation of ``version``; promote it when it passes the gate: ``gate``
        when given (two-player games: the arena's verdict against the champion, see
        :mod:`learner.judge`), else a higher evaluation return than the champion's."""
        result = gate or gate_by_return(mean_return, self.champion_return, self.gate_margin)
        self.log.record(
            self.tag, version, eval_return=mean_return, eval_episodes=episodes, gate=result
        )
        try:
            self.registry.record_gate(self.tag, version, result.passed, result.to_dict())
            if result.passed:
                self.registry.set_champion(self.tag, version)
        except (redis.RedisError, ReplayError) as exc:  # the next evaluation gates again
            logger.warning("gate of %s version %d not stored: %s", self.tag, version, exc)
            return result
        if result.passed:
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
