"""The actor worker: steps environments, folds n-step transitions, writes them to the replay.

:class:`ActorWorker` is the algorithm apart from its process wrapper (a plain class,
usable in-process); :func:`create_remote_actor` wraps it as a restartable Ray actor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import redis
from gymnasium.spaces import Discrete

from actors.envs import VectorStepper, make_vector_env
from actors.exploration import actor_epsilons, epsilon_greedy
from actors.nstep import NStepFolder
from actors.policy import ActorPolicy, make_actor_policy
from telemetry import install_logging, set_log_context

logger = logging.getLogger(__name__)

#: Version of the flat field maps this module writes to Redis (episodes, switches, status).
ACTOR_PROTOCOL_VERSION = 1
#: How long the actor keeps acting through a Redis outage before failing (Ray restarts it).
OUTAGE_TOLERANCE_S = 60.0
#: Transitions written before any weights were fetched carry this policy version.
NO_VERSION = -1


def episodes_key(namespace: str) -> str:
    """Stream of finished episodes (one entry each, flat string fields, see :class:`ActorWorker`)."""
    return f"fsrl:{namespace}:episodes"


def switches_key(namespace: str) -> str:
    """Stream of weight switches: one entry each time an actor starts acting with a new version."""
    return f"fsrl:{namespace}:actors:switches"


def status_key(namespace: str, actor_id: int) -> str:
    """Hash with an actor's heartbeat and counters; expires after 3 heartbeat intervals."""
    return f"fsrl:{namespace}:actors:{actor_id}"


def life_key(namespace: str, actor_id: int) -> str:
    """Hash that outlives crashes (no expiry): restarts and env steps across incarnations."""
    return f"fsrl:{namespace}:actors:{actor_id}:life"


def stop_key(namespace: str) -> str:
    """When this key exists, every actor of the namespace leaves ``run()``."""
    return f"fsrl:{namespace}:actors:stop"


class ActorConfigError(ValueError):
    """The root config lacks a key the actor needs, or holds a value it cannot use."""


@dataclass(frozen=True)
class ActorSettings:
    """What one actor reads from the root config (a plain dict), in one place."""

    actor_id: int
    num_actors: int
    envs_per_actor: int
    eps_base: float
    eps_alpha: float
    gamma: float
    n_step: int
    chunk_size: int
    flush_timeout_ms: int
    weight_poll_interval_s: float
    heartbeat_interval_s: float
    torch_threads: int
    max_task_retries: int
    seed: int
    table: str
    env: Mapping[str, Any]
    model: Mapping[str, Any]

    @classmethod
    def from_root(cls, cfg: Mapping[str, Any], actor_id: int) -> ActorSettings:
        def get(path: str, default: Any = ...) -> Any:
            node: Any = cfg
            for part in path.split("."):
                if not isinstance(node, Mapping) or part not in node:
                    if default is not ...:
                        return default
                    raise ActorConfigError(f"config key {path!r} is missing (actor {actor_id})")
                node = node[part]
            return node

        if not isinstance(cfg, Mapping):
            raise ActorConfigError(
                f"ActorWorker needs the root config as a plain dict "
                f"(OmegaConf.to_container), got {type(cfg).__name__}"
            )
        num = int(get("actors.num"))
        if not isinstance(actor_id, int) or not 0 <= actor_id < num:
            raise ActorConfigError(f"actor_id={actor_id!r} outside [0, actors.num={num})")
        return cls(
            actor_id=actor_id,
            num_actors=num,
            envs_per_actor=int(get("actors.envs_per_actor")),
            eps_base=float(get("actors.eps_base")),
            eps_alpha=float(get("actors.eps_alpha")),
            gamma=float(get("algo.gamma")),
            n_step=int(get("algo.n_step")),
            chunk_size=int(get("actors.chunk_size")),
            flush_timeout_ms=int(get("actors.flush_timeout_ms")),
            weight_poll_interval_s=float(get("actors.weight_poll_interval_s")),
            heartbeat_interval_s=float(get("actors.heartbeat_interval_s")),
            torch_threads=int(get("actors.torch_threads", 1)),
            max_task_retries=int(get("actors.max_task_retries", -1)),
            seed=int(get("seed", 0)),
            table=str(get("replay.table", "replay")),
            env=dict(get("env")),
            model=dict(get("model")),
        )


def transition_spec(env_cfg: Mapping[str, Any]) -> Any:
    """The replay :class:`~replay.schema.TransitionSpec` of this env's transitions.

    The launcher creates the table with it before starting actors.
    """
    from replay.schema import TransitionSpec

    env = make_vector_env(env_cfg, num_envs=1)
    try:
        return TransitionSpec.from_spaces(env.single_observation_space, env.single_action_space)
    finally:
        env.close()


def _unflatten(batch: Mapping[str, np.ndarray], prefix: str) -> Any:
    if prefix in batch:
        return batch[prefix]
    head = prefix + "/"
    return {k[len(head) :]: v for k, v in batch.items() if k.startswith(head)}


def _reconstructed_by_ray() -> bool:
    try:
        import ray

        if not ray.is_initialized():
            return False
        ctx = ray.get_runtime_context()
        with warnings.catch_warnings():  # Ray's own property uses a deprecated accessor
            warnings.simplefilter("ignore", DeprecationWarning)
            return bool(ctx.get_actor_id()) and bool(ctx.was_current_actor_reconstructed)
    except Exception:  # not inside a Ray actor
        return False


class ActorWorker:
    """One Ape-X actor: ``envs_per_actor`` environments, a CPU copy of the Q-network.

    Construction (what the launcher passes; all plain, so Ray can ship it)::

        ActorWorker(config, actor_id, replay_url, namespace, model_tag)

    * ``config`` — the ROOT config as plain dicts (``OmegaConf.to_container(cfg,
      resolve=True)`` / ``conf.to_container``); read keys: ``seed``, ``env.*``,
      ``model.*``, ``algo.gamma``, ``algo.n_step``, ``actors.{num, envs_per_actor,
      eps_base, eps_alpha, chunk_size, flush_timeout_ms, weight_poll_interval_s,
      heartbeat_interval_s, torch_threads}``, ``replay.table``.
    * ``actor_id`` in ``[0, actors.num)``; it picks this actor's slice of the ε ladder
      (slot ``actor_id * envs_per_actor + env``) and its seeds.
    * ``replay_url``, ``namespace`` — the Redis of the run; the replay table must
      already exist, created by the launcher with :func:`transition_spec` ``(cfg["env"])``.
    * ``model_tag`` — the weight line to follow in the :class:`~replay.weights.WeightStore`.

    The constructor builds the envs, the Q-function (:func:`actors.policy.make_actor_policy`
    from ``config["model"]``: numpy for ``mlp_dueling``, so such an actor never imports
    torch; the learner's torch module otherwise) and the replay writer, fetches the latest
    weights if any (else acts with the seeded initial network of
    ``learner.models.build_q_network``, built with torch only then, stamping version
    ``-1``), and returns; it never blocks on the learner.

    Methods (all safe to call from another thread while ``run()`` runs, which is how
    the Ray wrapper uses them — ``max_concurrency`` > 1):

    * ``run(max_env_steps=None, max_duration_s=None) -> dict`` — async mode: step,
      write, poll weights until :meth:`stop`, the stop key ``fsrl:{ns}:actors:stop``
      exists, or a budget is reached (env steps counted over this actor's life,
      restarts included). Flushes what it holds on the way out; returns :meth:`stats`.
    * ``collect(num_steps) -> dict`` — sync mode: polls weights once, then exactly
      ``num_steps`` env steps (a multiple of ``envs_per_actor``; deterministic given the
      seed and the weights), flushes every complete transition, returns a summary.
    * ``stats() -> dict`` — counters: env_steps, transitions, episodes, policy_version,
      weights_refused, restarts, per-version episode aggregates, write/inference time.
    * ``heartbeat() -> dict`` — refreshes and returns the status hash.
    * ``stop()`` — idempotent; ends ``run()`` and releases envs, writer and connections.

    What it writes to Redis (flat string field maps, ``proto`` = ACTOR_PROTOCOL_VERSION,
    no pickle):

    * transitions: the standard columns with ``policy_version`` (the version that
      chose ``action``) and ``actor_id``, in chunks of ``chunk_size`` (a partial chunk
      waits at most ``flush_timeout_ms``), each with its initial priority;
    * ``fsrl:{ns}:episodes`` (XADD, approximate MAXLEN): ``proto, actor_id, env,
      policy_version`` (at the episode's end), ``policy_version_first``, ``return``,
      ``length``, ``time_s``;
    * ``fsrl:{ns}:actors:switches`` (XADD): ``proto, actor_id, policy_version, time_s``
      when the actor starts acting with a new version;
    * ``fsrl:{ns}:actors:{actor_id}`` (HSET, expires after 3 heartbeat intervals): the
      heartbeat and counters (``running`` is 0 after :meth:`stop`);
      ``fsrl:{ns}:actors:{actor_id}:life`` (no expiry): restarts and env steps across
      incarnations, as of the last heartbeat (a crash loses at most one interval).

    Initial priorities (Ape-X): the actor computes ``|r + d · max_a Q(s', a) − Q(s, a)|``
    (``d`` the stored discount, masked actions excluded) with its *local* copy of the
    network over each chunk in one batched forward, so new experience enters the
    replay with a meaningful priority instead of the running maximum, and no learner
    round trip is needed. The copy may be a few versions old; the learner overwrites
    the priority the first time it samples the transition.

    Restarts: under Ray (``max_restarts``) a crashed actor is rebuilt by its
    constructor — fresh envs (seeds offset by the restart count), writer and
    connections — and ``run()`` is retried (``max_task_retries``); its env-step count
    continues from the status hash. Open n-step windows and unflushed transitions of
    the crashed incarnation are lost (at most one chunk per actor).
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        actor_id: int,
        replay_url: str,
        namespace: str,
        model_tag: str,
    ) -> None:
        from replay.weights import WeightFollower, WeightStore, connect

        self.settings = s = ActorSettings.from_root(config, actor_id)
        self.actor_id = actor_id
        self.namespace = namespace
        self.model_tag = model_tag
        self.replay_url = replay_url
        # issue 14: logging.format=json lines carry run/tag/version/actor/host and are shipped
        install_logging(config.get("logging"), namespace, model_tag, actor_id, redis_url=replay_url)
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._closed = False
        self._running = False

        self._redis = connect(replay_url)
        self._status_key = status_key(namespace, actor_id)
        self._life_key = life_key(namespace, actor_id)
        self.restarts = 0
        self._env_steps_before = 0
        if _reconstructed_by_ray():
            self.restarts = int(self._redis.hincrby(self._life_key, "restarts", 1))
            self._env_steps_before = int(self._redis.hget(self._life_key, "env_steps") or 0)
            logger.warning("actor %d restarted by Ray (restart %d)", actor_id, self.restarts)

        # Seeds: one stream per actor and per incarnation, all derived from cfg.seed.
        self._seed = s.seed * 1_000_003 + actor_id * 10_007 + self.restarts * 101
        self._rng = np.random.default_rng(self._seed)

        env = make_vector_env(s.env, s.envs_per_actor, seed=self._seed)
        self._stepper = VectorStepper(env, seed=self._seed)
        self.observation_space = env.single_observation_space
        self.num_actions = int(cast(Discrete, env.single_action_space).n)
        # numpy for mlp_dueling (torch never imported), torch for the conv/candidate nets
        self._policy: ActorPolicy = make_actor_policy(
            s.model, self.observation_space, self.num_actions, self._seed, s.torch_threads
        )
        self._epsilons = actor_epsilons(
            actor_id, s.num_actors, s.envs_per_actor, s.eps_base, s.eps_alpha
        )
        self._folder = NStepFolder(s.envs_per_actor, s.n_step, s.gamma)
        self._obs = self._stepper.reset()

        from replay import ReplayClient

        self._client = ReplayClient(replay_url, namespace=namespace)
        self._writer = self._client.writer(s.table, chunk_size=s.chunk_size)
        self._store = WeightStore(replay_url, namespace)
        self._follower = WeightFollower(self._store, model_tag)
        self.policy_version = NO_VERSION
        self._weights_refused = 0

        self._pending: list[dict[str, np.ndarray]] = []
        self._pending_rows = 0
        self._pending_since = 0.0
        self._ep_return = np.zeros(s.envs_per_actor, dtype=np.float64)
        self._ep_length = np.zeros(s.envs_per_actor, dtype=np.int64)
        self._ep_first_version = np.full(s.envs_per_actor, NO_VERSION, dtype=np.int64)
        self._env_steps = 0
        self._transitions = 0
        self._episodes = 0
        # version -> [episodes, return sum, length sum] for the 64 newest versions
        self._per_version: dict[int, list[float]] = {}
        self._inference_s = 0.0
        self._write_s = 0.0
        self._env_s = 0.0
        self._last_poll = 0.0
        self._last_heartbeat = 0.0
        self._episode_pipe: list[dict[str, str]] = []
        self._blocked_flushes = 0
        self._redis_errors = 0
        self._outage_since: float | None = None

        self.poll_weights()
        if self.policy_version == NO_VERSION:  # nothing published (or it did not fit)
            self._policy.ensure_weights()  # the seeded initial network
        self.heartbeat()

    # ------------------------------------------------------------------ weights
    def poll_weights(self) -> bool:
        """Move to the latest published version if it is new and sound; True when moved.

        One GET when nothing changed. A corrupt blob, or one that does not fit the
        network, is refused and counted; the current version stays in use.
        """
        self._last_poll = time.monotonic()
        refused_before = self._follower.refused
        moved = self._follower.poll()
        self._weights_refused += self._follower.refused - refused_before
        if not moved:
            return False
        version = int(self._follower.version)  # type: ignore[arg-type]
        try:
            self._policy.load(self._follower.tensors or {}, self._follower.metadata)
        except (ValueError, RuntimeError) as exc:
            self._weights_refused += 1
            logger.warning(
                "actor %d refuses weights %s v%d: %s", self.actor_id, self.model_tag, version, exc
            )
            return False
        self.policy_version = version
        set_log_context(version=version)  # issue 14: JSON log lines name the version
        self._follower.tensors = None  # the policy holds them now
        self._redis.xadd(
            switches_key(self.namespace),
            {
                "proto": str(ACTOR_PROTOCOL_VERSION),
                "actor_id": str(self.actor_id),
                "policy_version": str(version),
                "time_s": f"{time.time():.6f}",
            },
            maxlen=100_000,
            approximate=True,
        )
        return True

    # ------------------------------------------------------------------ stepping
    def _act(self) -> np.ndarray:
        t0 = time.perf_counter()
        q = self._policy.q_values(self._obs)
        mask = self._obs.get("action_mask") if isinstance(self._obs, Mapping) else None
        actions = epsilon_greedy(q, self._epsilons, self._rng, mask)
        self._inference_s += time.perf_counter() - t0
        return actions

    def _step(self) -> None:
        actions = self._act()
        t0 = time.perf_counter()
        step = self._stepper.step(actions)
        self._env_s += time.perf_counter() - t0
        version = self.policy_version
        n = self.settings.envs_per_actor
        out = self._folder.step(
            self._obs,
            actions,
            step.reward,
            step.terminated,
            step.truncated,
            step.next_obs,
            extras={"policy_version": np.full(n, version, dtype=np.int64)},
            valid=step.valid,
        )
        valid = step.valid
        first = valid & (self._ep_length == 0)
        self._ep_first_version[first] = version
        self._ep_return += np.where(valid, step.reward, 0.0)
        self._ep_length += valid
        ended = np.flatnonzero(valid & (step.terminated | step.truncated))
        for e in ended:  # O(episodes ended), not O(steps)
            self._record_episode(int(e), version)
        self._obs = step.obs
        self._env_steps += n
        rows = len(out["reward"])
        if rows:
            if not self._pending:
                self._pending_since = time.monotonic()
            self._pending.append(out)
            self._pending_rows += rows

    def _record_episode(self, env: int, version: int) -> None:
        ret, length = float(self._ep_return[env]), int(self._ep_length[env])
        self._episode_pipe.append(
            {
                "proto": str(ACTOR_PROTOCOL_VERSION),
                "actor_id": str(self.actor_id),
                "env": str(env),
                "policy_version": str(version),
                "policy_version_first": str(int(self._ep_first_version[env])),
                "return": repr(ret),
                "length": str(length),
                "time_s": f"{time.time():.6f}",
            }
        )
        if version not in self._per_version and len(self._per_version) >= 64:
            del self._per_version[min(self._per_version)]  # keep the 64 newest versions
        agg = self._per_version.setdefault(version, [0.0, 0.0, 0.0])
        agg[0] += 1
        agg[1] += ret
        agg[2] += length
        self._episodes += 1
        self._ep_return[env] = 0.0
        self._ep_length[env] = 0

    # ------------------------------------------------------------------ writing
    def _priorities(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        obs = _unflatten(batch, "obs")
        nxt = _unflatten(batch, "next_obs")
        q = self._policy.q_values(obs).astype(np.float64)
        q_next = self._policy.q_values(nxt).astype(np.float64)
        q_sa = q[np.arange(len(q)), batch["action"].astype(np.int64)]
        with np.errstate(invalid="ignore"):
            boot = np.max(q_next, axis=1)
        discount = batch["discount"].astype(np.float64)
        boot = np.where(np.isfinite(boot) & (discount > 0), boot, 0.0)
        td = batch["reward"].astype(np.float64) + discount * boot - q_sa
        return np.nan_to_num(np.abs(td), nan=1.0, posinf=1.0).astype(np.float32)

    def _write_pending(self, force_flush: bool) -> None:
        """Send held transitions: whole chunks always, the partial rest when ``force_flush``."""
        if not self._pending:
            if force_flush:
                self._flush_episodes()
            return
        t0 = time.perf_counter()
        merged = {k: np.concatenate([p[k] for p in self._pending]) for k in self._pending[0]}
        total = len(merged["reward"])
        send = total if force_flush else total - total % self.settings.chunk_size
        if send:
            batch = {k: v[:send] for k, v in merged.items() if k != "env_index"}
            batch["actor_id"] = np.full(send, self.actor_id, dtype=np.int32)
            priorities = self._priorities(batch)
            self._writer.append(batch, priorities)
            self._flush_writer()
            self._transitions += send
        rest = {k: v[send:] for k, v in merged.items()}
        self._pending = [rest] if total - send else []
        self._pending_rows = total - send
        if self._pending:
            self._pending_since = time.monotonic()
        self._flush_episodes()
        self._write_s += time.perf_counter() - t0

    def _flush_writer(self) -> None:
        """Send the writer's chunks, blocking while the replay's rate limiter holds inserts
        back (Reverb semantics), but leaving promptly when stop() is called."""
        from replay import ReplayTimeoutError

        while True:
            try:
                self._writer.flush(timeout_ms=self.settings.flush_timeout_ms)
                return
            except ReplayTimeoutError:
                self._blocked_flushes += 1
                if self._stop_event.is_set():  # the run is ending: the learner stopped sampling
                    logger.info(
                        "actor %d stopping with %d transitions held back by the rate limiter",
                        self.actor_id,
                        self._writer.pending_transitions,
                    )
                    return
                if time.monotonic() - self._last_heartbeat >= self.settings.heartbeat_interval_s:
                    self.heartbeat()

    def _flush_episodes(self) -> None:
        if not self._episode_pipe:
            return
        pipe = self._redis.pipeline(transaction=False)
        key = episodes_key(self.namespace)
        for fields in self._episode_pipe:
            pipe.xadd(key, cast(dict[Any, Any], fields), maxlen=100_000, approximate=True)
        try:
            pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError) as exc:  # kept for the next flush
            self._redis_errors += 1
            self._episode_pipe = self._episode_pipe[-10_000:]
            logger.warning("actor %d: episode stats not sent yet: %s", self.actor_id, exc)
            return
        self._episode_pipe = []

    def _maybe_write(self, now: float) -> None:
        if self._pending_rows >= self.settings.chunk_size:
            self._write_pending(force_flush=False)
        if self._pending and (now - self._pending_since) * 1000 >= self.settings.flush_timeout_ms:
            self._write_pending(force_flush=True)

    # ------------------------------------------------------------------ public API
    def heartbeat(self) -> dict[str, str]:
        """Refresh the status hash (expires after 3 heartbeat intervals) and return it."""
        self._last_heartbeat = time.monotonic()
        fields = {
            "proto": str(ACTOR_PROTOCOL_VERSION),
            "actor_id": str(self.actor_id),
            "pid": str(os.getpid()),
            "heartbeat_s": f"{time.time():.6f}",
            "env_steps": str(self._env_steps_before + self._env_steps),
            "transitions": str(self._transitions),
            "episodes": str(self._episodes),
            "policy_version": str(self.policy_version),
            "restarts": str(self.restarts),
            "running": "1" if self._running else "0",
        }
        ttl_ms = max(1, int(3_000 * self.settings.heartbeat_interval_s))
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(self._status_key, mapping=cast(dict[Any, Any], fields))
        pipe.pexpire(self._status_key, ttl_ms)
        pipe.hset(self._life_key, "env_steps", fields["env_steps"])
        pipe.execute()
        return fields

    def stats(self) -> dict[str, Any]:
        """Counters of this incarnation (env_steps_total also counts earlier incarnations)."""
        per_version = {
            str(v): {
                "episodes": int(a[0]),
                "mean_return": a[1] / a[0] if a[0] else 0.0,
                "mean_length": a[2] / a[0] if a[0] else 0.0,
            }
            for v, a in sorted(list(self._per_version.items()))
        }
        return {
            "actor_id": self.actor_id,
            "env_steps": self._env_steps,
            "env_steps_total": self._env_steps_before + self._env_steps,
            "transitions": self._transitions,
            "pending_transitions": self._pending_rows,
            "episodes": self._episodes,
            "policy_version": self.policy_version,
            "weights_refused": self._weights_refused,
            "restarts": self.restarts,
            "per_version": per_version,
            "inference_s": self._inference_s,
            "env_s": self._env_s,
            "write_s": self._write_s,
            "blocked_flushes": self._blocked_flushes,
            "redis_errors": self._redis_errors,
        }

    def run(self, max_env_steps: int | None = None, max_duration_s: float | None = None) -> dict:
        """Async mode: act until stopped or a budget is reached; returns :meth:`stats`."""
        s = self.settings
        if self._closed:
            raise RuntimeError(f"actor {self.actor_id} is stopped")
        self._running = True
        # say so at once: a fast env writes thousands of transitions before the first
        # periodic heartbeat, and a status hash still saying running=0 misleads watchers
        self._tolerate_outage(self.heartbeat)
        start = time.monotonic()
        stop_k = stop_key(self.namespace)
        try:
            while not self._stop_event.is_set():
                if max_env_steps is not None and (
                    self._env_steps_before + self._env_steps >= max_env_steps
                ):
                    break
                self._step()
                now = time.monotonic()
                self._maybe_write(now)
                if now - self._last_poll >= s.weight_poll_interval_s:
                    self._tolerate_outage(self.poll_weights)
                if now - self._last_heartbeat >= s.heartbeat_interval_s:
                    if self._tolerate_outage(
                        lambda: self.heartbeat() and self._redis.exists(stop_k)
                    ):
                        break
                    if max_duration_s is not None and now - start >= max_duration_s:
                        break
            if not self._closed:
                self._write_pending(force_flush=True)
        finally:
            self._running = False
            if self._stop_event.is_set():
                self._close()
            elif not self._closed:
                self.heartbeat()
        return self.stats()

    def _tolerate_outage(self, fn: Any) -> Any:
        """Run a housekeeping call (weights poll, heartbeat); a Redis outage shorter than
        ``OUTAGE_TOLERANCE_S`` is logged and skipped (the writer has its own reconnects),
        a longer one is raised so Ray restarts the actor."""
        from replay import ReplayConnectionError

        try:
            result = fn()
        except (redis.ConnectionError, redis.TimeoutError, ReplayConnectionError) as exc:
            now = time.monotonic()
            self._redis_errors += 1
            if self._outage_since is None:
                self._outage_since = now
            if now - self._outage_since > OUTAGE_TOLERANCE_S:
                raise
            self._last_poll = self._last_heartbeat = now  # retry at the next interval
            logger.warning("actor %d: Redis unreachable, carrying on: %s", self.actor_id, exc)
            return None
        self._outage_since = None
        return result

    def collect(self, num_steps: int) -> dict[str, Any]:
        """Sync mode: poll weights, take exactly ``num_steps`` env steps, flush, summarise."""
        n = self.settings.envs_per_actor
        if not isinstance(num_steps, int) or num_steps < 0 or num_steps % n:
            raise ValueError(
                f"collect(num_steps={num_steps!r}): must be an int >= 0 and a multiple of "
                f"actors.envs_per_actor={n}"
            )
        if self._closed:
            raise RuntimeError(f"actor {self.actor_id} is stopped")
        self.poll_weights()
        before_t, before_e = self._transitions, self._episodes
        for _ in range(num_steps // n):
            self._step()
            if self._pending_rows >= self.settings.chunk_size:
                self._write_pending(force_flush=False)
        self._write_pending(force_flush=True)
        self.heartbeat()
        return {
            "actor_id": self.actor_id,
            "env_steps": num_steps,
            "transitions": self._transitions - before_t,
            "episodes": self._episodes - before_e,
            "policy_version": self.policy_version,
        }

    def stop(self) -> None:
        """Idempotent: end ``run()`` (at its next step) and release envs, writer, connections."""
        self._stop_event.set()
        if not self._running:
            self._close()

    def _close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        from replay import ReplayTimeoutError

        # Stopped with the run (stop() or the stop key): the learner no longer samples, so
        # chunks the rate limiter holds back will not be let in; do not wait for them.
        stopping = self._stop_event.is_set()
        close_ms = 100 if stopping else self.settings.flush_timeout_ms
        for what, fn in (
            ("flush", lambda: self._write_pending(force_flush=True)),
            ("writer", lambda: self._writer.close(timeout_ms=close_ms)),
            ("envs", self._stepper.close),
            ("weights", self._store.close),
        ):
            try:
                fn()
            except ReplayTimeoutError as exc:
                log = logger.info if stopping else logger.warning
                log("actor %d: %s left unsent at close: %s", self.actor_id, what, exc)
            except Exception as exc:  # keep closing the rest
                logger.warning("actor %d: closing %s failed: %s", self.actor_id, what, exc)
        with contextlib.suppress(Exception):
            self.heartbeat()  # final counts (running=0); the status hash then expires
        with contextlib.suppress(Exception):
            self._redis.close()

    def is_stopped(self) -> bool:
        return self._closed


def create_remote_actor(
    config: Mapping[str, Any],
    actor_id: int,
    replay_url: str,
    namespace: str,
    model_tag: str,
    name: str | None = None,
) -> Any:
    """A Ray actor handle running :class:`ActorWorker` with the config's fault tolerance.

    Options from ``config["actors"]``: ``num_cpus_per_actor``, ``max_restarts``,
    ``max_task_retries`` (default -1: retry ``run()`` on the restarted actor);
    ``max_concurrency=4`` so ``stop()``/``stats()``/``heartbeat()`` answer while ``run()``
    is in flight.
    """
    import ray

    s = ActorSettings.from_root(config, actor_id)
    actors = config["actors"]
    options: dict[str, Any] = {
        "num_cpus": float(actors.get("num_cpus_per_actor", 1.0)),
        "max_restarts": int(actors.get("max_restarts", 3)),
        "max_task_retries": s.max_task_retries,
        "max_concurrency": 4,
    }
    if name is not None:
        options["name"] = name
    remote_cls = ray.remote(ActorWorker)
    return remote_cls.options(**options).remote(
        dict(config), actor_id, replay_url, namespace, model_tag
    )
