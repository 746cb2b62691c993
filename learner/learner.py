"""The learner loop: replay batches in, the agent's updates, versioned weights out.

:class:`Learner` owns the agent's :class:`~agents.core.AgentLearner`, a replay sampler,
the weight store and checkpoints; it knows no algorithm. In async mode ``prefetch_batches`` sampled batches are
kept ready — by a sampler process (:class:`ProcessPrefetcher`, the default: sampling
then holds no GIL the updates need) or by a :class:`Prefetcher` thread — and priority
updates flow back the same way, so the device never waits on Redis while there is
data; ``wait_fraction`` says how much of the time it did. In sync mode batches are
sampled inline (deterministic).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from actors.spec import frame_layout
from agents.core import Agent
from learner.checkpoint import find_latest_checkpoint, load_checkpoint, save_checkpoint
from learner.evaluation import Episodes, play_greedy
from learner.prefetch import Prefetcher, ProcessPrefetcher, Sampled
from replay.config import sampler_kwargs
from replay.errors import ReplayTimeoutError

logger = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda``/``cuda:N`` without CUDA → ValueError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"learner.device={name!r} but this machine has no CUDA device "
                f"(torch {torch.__version__}); use learner.device=auto or cpu"
            )
        index = int(name.split(":", 1)[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"learner.device={name!r} but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("learner.device='mps' but MPS is not available here")
    return torch.device(name)


def set_torch_threads(cfg: Any) -> None:
    """Apply ``learner.torch_threads`` (0 keeps torch's default) to the calling thread.

    The setting is per OS thread (OpenMP), so the thread that runs the updates must call
    this itself: a learner built in one thread and trained in another calls it twice.
    """
    if cfg.learner.torch_threads:
        torch.set_num_threads(int(cfg.learner.torch_threads))


@dataclass
class LearnerCounters:
    """Counters saved with checkpoints and restored on resume."""

    updates: int = 0
    env_steps: int = 0
    published_version: int = -1
    samples: int = 0
    best_eval_return: float = float("-inf")
    extra: dict[str, Any] = field(default_factory=dict)


class Learner:
    """Trains an agent from the replay and publishes immutable weight versions.

    Promises: :meth:`publish` stores a version strictly greater than every version
    this learner (or a checkpoint it resumed from) published; :meth:`checkpoint`
    writes everything :meth:`resume` needs (no pickle); the same seed and the same
    batches give bit-identical weights (sync mode).
    """

    def __init__(
        self,
        cfg: Any,
        agent: Agent,
        client: Any,
        store: Any,
        tag: str,
        run_dir: Path,
        plain_config: dict[str, Any],
    ) -> None:
        self.cfg = cfg
        self.agent = agent
        self.client = client
        self.store = store
        self.tag = tag
        self.plain_config = plain_config
        self.device = resolve_device(cfg.learner.device)
        set_torch_threads(cfg)
        self.algo = agent.learner(self.device, int(cfg.seed))
        # stacked frames are stored once per record: next_obs is rebuilt before prepare
        self.layout = frame_layout(agent, cfg.env)
        self.counters = LearnerCounters()
        self.last_eval: Episodes | None = None  # the latest evaluate() record
        self.beta = float(cfg.replay.beta)  # importance-sampling exponent, annealed
        self._sampler: Any = None  # in-process sampler: sync mode and the prefetch thread
        self.prefetcher: Prefetcher | ProcessPrefetcher | None = None
        self.checkpoint_dir = Path(cfg.learner.checkpoint_dir or run_dir / "checkpoints")
        self.last_stats: dict[str, float] = {}
        self._final_wait_fraction = 0.0
        self._lag_sum = 0.0
        self._lag_n = 0

    def _prepare(self, data: Any, weights: np.ndarray) -> Any:
        """The agent's ``prepare`` of a sampled batch in its standard columns."""
        if self.layout is not None:
            data = self.layout.unpack(data)
        return self.algo.prepare(data, weights)

    # ------------------------------------------------------------------ start / resume
    def resume(self, path: str | Path | None = None, search_root: Path | None = None) -> bool:
        """Restore networks, optimizer and counters from a checkpoint; False when none.

        ``path`` (a checkpoint or a folder of them) wins; else ``learner.checkpoint_dir``;
        else the newest checkpoint of this model tag anywhere under ``search_root``
        (the Hydra runs folder), so ``learner.resume=true`` continues the last run.
        """
        where: Path | None = Path(path) if path else None
        if where is None and self.cfg.learner.checkpoint_dir:
            where = Path(self.cfg.learner.checkpoint_dir)
        if where is None and search_root is not None:
            where = find_latest_checkpoint(search_root, self.tag)
        if where is None:
            logger.warning("learner.resume: no checkpoint of %s found; starting fresh", self.tag)
            return False
        try:
            ckpt = load_checkpoint(where, "cpu")  # state dicts copy onto the device
        except FileNotFoundError:
            logger.warning("learner.resume: no checkpoint under %s; starting fresh", where)
            return False
        self.algo.load_state(ckpt.tensors, ckpt.optimizer)
        c = ckpt.counters
        self.counters = LearnerCounters(
            updates=int(c.get("updates", 0)),
            env_steps=int(c.get("env_steps", 0)),
            published_version=int(c.get("published_version", -1)),
            samples=int(c.get("samples", 0)),
            best_eval_return=float(
                c["best_eval_return"] if c.get("best_eval_return") is not None else float("-inf")
            ),
        )
        self.algo.updates = self.counters.updates
        logger.info("resumed from %s at update %d", ckpt.path, self.counters.updates)
        return True

    def adopt_published(self) -> bool:
        """Start from the store's newest sound version of the tag (e.g. a cold start, or a
        resume whose latest version is corrupt: it falls back to the newest good one);
        False if there is none. New versions still number above every stored one."""
        latest = self.store.latest_version(self.tag)
        if latest is None:
            return False
        self.counters.published_version = max(self.counters.published_version, latest)
        found = self.store.fetch_newest_sound(self.tag)
        if found is None:
            logger.warning("no sound version of %s in the store; starting fresh", self.tag)
            return False
        version, tensors, meta = found
        if version != latest:
            logger.warning(
                "latest %s version %d is corrupt; starting from version %d",
                self.tag,
                latest,
                version,
            )
        try:
            self.algo.load_export(tensors, dict(meta))
        except (ValueError, RuntimeError) as exc:
            raise ValueError(
                f"model.tag={self.tag!r} version {version} in the store is a different network "
                f"than this config builds ({exc}); pick a new model.tag"
            ) from exc
        logger.info("starting from published %s version %d", self.tag, version)
        return True

    # ------------------------------------------------------------------ weights
    def publish(self) -> int:
        """Publish the agent's exported weights as a new version; returns it."""
        tensors, meta = self.algo.export()
        meta = {
            **meta,
            "agent": self.agent.name,
            "tag": self.tag,
            "env_id": str(self.cfg.env.id),
            "learner_updates": str(self.counters.updates),
            "env_steps": str(self.counters.env_steps),
        }
        version = self.store.publish(
            self.tag, tensors, meta, min_version=self.counters.published_version + 1
        )
        self.counters.published_version = version
        return version

    def weights_sha256(self) -> str:
        """sha256 of the exported tensors (bit-for-bit reproducibility)."""
        tensors, _ = self.algo.export()
        h = hashlib.sha256()
        for name in sorted(tensors):
            h.update(name.encode())
            h.update(np.ascontiguousarray(tensors[name]).tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------------ training
    @property
    def sampler(self) -> Any:
        """The in-process replay sampler, built (and its index read from Redis) on first use:
        with the sampler process, async runs never need one here."""
        if self._sampler is None:
            self._sampler = self.client.sampler(
                self.cfg.replay.table, seed=int(self.cfg.seed), **sampler_kwargs(self.cfg.replay)
            )
            self._sampler.beta = self.beta
        return self._sampler

    def set_progress(self, fraction: float) -> None:
        """Anneal the importance-sampling exponent with the run's progress (0..1)."""
        start, final = float(self.cfg.replay.beta), float(self.cfg.algo.priority_beta_final)
        f = min(1.0, max(0.0, fraction))
        beta = start + f * (final - start)
        if beta == self.beta:
            return
        self.beta = beta
        if self._sampler is not None:
            self._sampler.beta = beta
        if isinstance(self.prefetcher, ProcessPrefetcher):
            self.prefetcher.set_beta(beta)

    def start_prefetch(self) -> None:
        """Start keeping batches ready (async mode); a no-op once started."""
        if self.prefetcher is not None:
            return
        batch, depth = int(self.cfg.algo.batch_size), int(self.cfg.learner.prefetch_batches)
        if self.cfg.learner.sampler_process:
            self.prefetcher = ProcessPrefetcher(
                self.client,
                self.cfg.replay.table,
                batch,
                depth,
                self._prepare,
                {**sampler_kwargs(self.cfg.replay), "beta": self.beta},
                seed=int(self.cfg.seed),
            ).start()
        else:
            self.prefetcher = Prefetcher(self.sampler, batch, depth, self._prepare).start()

    def stop_prefetch(self) -> None:
        if self.prefetcher is not None:
            self.prefetcher.stop()
            self._final_wait_fraction = self.prefetcher.wait_fraction
            self.prefetcher = None

    def _train_on(self, item: Sampled) -> np.ndarray:
        priorities, stats = self.algo.update(item.batch)
        self.counters.updates = self.algo.updates
        self.counters.samples += len(item.ids)
        self.last_stats = stats
        if item.policy_version is not None:
            pv = item.policy_version[item.policy_version >= 0]
            if pv.size:
                self._lag_sum += float(self.counters.published_version - pv.mean())
                self._lag_n += 1
        return priorities

    def step_async(self, timeout_s: float = 0.1) -> bool:
        """One update from a prefetched batch; False when none arrived within ``timeout_s``."""
        self.start_prefetch()
        assert self.prefetcher is not None
        item = self.prefetcher.get(timeout_s)
        if item is None:
            return False
        priorities = self._train_on(item)
        self.prefetcher.update_priorities(item.ids, priorities)
        return True

    def step_sync(self) -> bool:
        """One update from a batch sampled inline (deterministic); False when none is there."""
        try:
            sb = self.sampler.sample(
                int(self.cfg.algo.batch_size), timeout_ms=int(self.cfg.learner.sample_timeout_ms)
            )
        except ReplayTimeoutError:
            return False
        item = Sampled(
            ids=sb.ids,
            batch=self._prepare(sb.data, sb.weights),
            policy_version=sb.data.get("policy_version"),
        )
        priorities = self._train_on(item)
        self.sampler.update_priorities(item.ids, priorities)
        return True

    def policy_lag(self) -> float:
        """Mean (latest published − behaviour version) over batches since the last call."""
        lag = self._lag_sum / self._lag_n if self._lag_n else float("nan")
        self._lag_sum, self._lag_n = 0.0, 0
        return lag

    def reset_wait(self) -> None:
        """Count the time waited on replay from now on."""
        if self.prefetcher is not None:
            self.prefetcher.reset_wait()

    @property
    def wait_fraction(self) -> float:
        if self.prefetcher is not None:
            return self.prefetcher.wait_fraction
        return self._final_wait_fraction

    # ------------------------------------------------------------------ evaluation / checkpoints
    def evaluate(self, episodes: int | None = None) -> np.ndarray:
        """Greedy scores (``env.eval_metric``) of ``episodes`` fixed-seed episodes; the whole
        record (returns, lengths, info totals) stays in :attr:`last_eval`."""
        env = self.cfg.env
        rec = play_greedy(
            self.algo.greedy(), env, int(episodes or env.eval_episodes), int(env.eval_seed)
        )
        self.last_eval = rec
        scores = rec.scores(str(env.eval_metric))
        self.counters.best_eval_return = max(self.counters.best_eval_return, float(scores.mean()))
        return scores

    def checkpoint(self) -> Path:
        c = self.counters
        counters = {
            "updates": c.updates,
            "env_steps": c.env_steps,
            "published_version": c.published_version,
            "samples": c.samples,
            "best_eval_return": c.best_eval_return if np.isfinite(c.best_eval_return) else None,
            "tag": self.tag,
            "weights_sha256": self.weights_sha256(),
        }
        tensors, extras = self.algo.state()
        return save_checkpoint(
            self.checkpoint_dir,
            tensors,
            extras,
            counters,
            self.plain_config,
            keep=int(self.cfg.learner.keep_checkpoints),
        )

    def close(self) -> None:
        self.stop_prefetch()


__all__ = ["Learner", "LearnerCounters", "resolve_device", "set_torch_threads"]
