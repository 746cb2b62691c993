"""Batches kept ready for the learner: by a sampler process (the default) or a thread.

:class:`ProcessPrefetcher` takes batches from a :class:`~replay.sampler_process.SamplerProcess`
(sampling then holds no GIL the updates need); :class:`Prefetcher` samples in a thread
of the learner. Both hand out :class:`Sampled` batches already prepared by the agent
(``AgentLearner.prepare``: on the device), take priority updates back, and say how much
of the time the learner waited (``wait_fraction``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from replay.errors import ReplayError, ReplayTimeoutError
from replay.sampler_process import SamplerProcess, WaitMeter, interleaved_parts

logger = logging.getLogger(__name__)

#: The agent's ``prepare(batch, importance_weights)`` (``AgentLearner.prepare``).
Prepare = Callable[[dict[str, np.ndarray], np.ndarray], Any]


@dataclass
class Sampled:
    """One prefetched batch: replay ids, the agent's prepared batch and its policy versions."""

    ids: np.ndarray
    batch: Any
    policy_version: np.ndarray | None


class Prefetcher:
    """Background thread: samples batches ahead and applies priority updates.

    Promises: :meth:`get` returns a batch or None after ``timeout_s``; priorities
    passed to :meth:`update_priorities` are applied in order before later samples;
    :meth:`stop` is idempotent and joins the thread. ``wait_fraction`` is the share
    of wall time the consumer spent blocked in :meth:`get`.
    """

    def __init__(
        self,
        sampler: Any,
        batch_size: int,
        depth: int,
        prepare: Prepare,
        sample_timeout_ms: int = 200,
    ) -> None:
        self.sampler = sampler
        self.batch_size = batch_size
        self.prepare = prepare
        self.sample_timeout_ms = sample_timeout_ms
        self.group = max(1, depth // 2)  # batches drawn per sampler call
        self._ready: queue.Queue[Sampled] = queue.Queue(maxsize=depth)
        self._updates: queue.Queue[tuple[np.ndarray, np.ndarray]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fsrl-prefetch", daemon=True)
        self.wait = WaitMeter()
        self.errors = 0
        self.last_error: str | None = None
        self.sampled = 0

    def start(self) -> Prefetcher:
        self.wait.reset()
        self._thread.start()
        return self

    @property
    def wait_fraction(self) -> float:
        return self.wait.fraction

    def reset_wait(self) -> None:
        self.wait.reset()

    def _apply_updates(self) -> None:
        """Apply every pending priority update in one call (one Redis round trip)."""
        ids, prios = [], []
        while True:
            try:
                i, p = self._updates.get_nowait()
            except queue.Empty:
                break
            ids.append(i)
            prios.append(p)
        if ids:
            self.sampler.update_priorities(np.concatenate(ids), np.concatenate(prios))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._apply_updates()
                if self._ready.full():
                    time.sleep(0.001)
                    continue
                # Several batches per round trip when there is room for them.
                group = max(1, min(self.group, self._ready.maxsize - self._ready.qsize()))
                B = self.batch_size
                sb = self.sampler.sample(B * group, timeout_ms=self.sample_timeout_ms)
                self.sampled += len(sb.ids)
                for part in interleaved_parts(B * group, group):
                    data = {k: v[part] for k, v in sb.data.items()}
                    item = Sampled(
                        ids=sb.ids[part],
                        batch=self.prepare(data, sb.weights[part]),
                        policy_version=data.get("policy_version"),
                    )
                    while not self._stop.is_set():
                        try:
                            self._ready.put(item, timeout=0.05)
                            break
                        except queue.Full:
                            self._apply_updates()
            except ReplayTimeoutError:
                continue
            except (ReplayError, OSError) as exc:  # Redis down for a moment: keep trying
                self.errors += 1
                self.last_error = str(exc)
                logger.warning("prefetch: sampling failed, retrying: %s", exc)
                self._stop.wait(0.5)
            except Exception as exc:  # a bug: record it, keep the thread alive to report
                self.errors += 1
                self.last_error = repr(exc)
                logger.exception("prefetch: unexpected error")
                self._stop.wait(0.5)

    def get(self, timeout_s: float) -> Sampled | None:
        t0 = time.monotonic()
        try:
            return self._ready.get(timeout=timeout_s)
        except queue.Empty:
            return None
        finally:
            self.wait.add(time.monotonic() - t0)

    def update_priorities(self, ids: np.ndarray, priorities: np.ndarray) -> None:
        self._updates.put((ids, priorities))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class ProcessPrefetcher:
    """Batches from a :class:`~replay.sampler_process.SamplerProcess` as device tensors.

    Same promises as :class:`Prefetcher` (batches in order, priorities applied before
    later draws, idempotent :meth:`stop`), with the sampling in a child process.
    """

    def __init__(
        self,
        client: Any,
        table: str,
        batch_size: int,
        depth: int,
        prepare: Prepare,
        sampler_kwargs: dict[str, Any],
        seed: int,
    ) -> None:
        self.prepare = prepare
        self.process = SamplerProcess(client, table, batch_size, depth, sampler_kwargs, seed)
        self.group = self.process.group

    def start(self) -> ProcessPrefetcher:
        self.process.start()
        return self

    @property
    def wait_fraction(self) -> float:
        return self.process.wait_fraction

    def reset_wait(self) -> None:
        self.process.reset_wait()

    @property
    def errors(self) -> int:
        return self.process.errors

    @property
    def last_error(self) -> str | None:
        return self.process.last_error

    def set_beta(self, beta: float) -> None:
        self.process.set_beta(beta)

    def get(self, timeout_s: float) -> Sampled | None:
        sb = self.process.get(timeout_s)
        if sb is None:
            return None
        return Sampled(
            ids=sb.ids,
            batch=self.prepare(sb.data, sb.weights),
            policy_version=sb.data.get("policy_version"),
        )

    def update_priorities(self, ids: np.ndarray, priorities: np.ndarray) -> None:
        self.process.update_priorities(ids, priorities)

    def stop(self) -> None:
        self.process.stop()


__all__ = ["Prefetcher", "ProcessPrefetcher", "Prepare", "Sampled"]
