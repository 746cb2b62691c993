"""The sections of an fsrl run that say where and how long it runs: replay, ray, budget,
logging, robot.

Every field is documented where it is declared, with its unit in its name; every
default is what the default run (``python -m learner.main``) uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ReplayConfig:
    """Where the replay lives, how big it is, how it samples and how fast it may be read."""

    # Redis URL of the replay (and weight store), e.g. redis://user:pass@host:6379/0;
    # null starts a private embedded redis-server for the run and stops it afterwards.
    redis_url: str | None = None
    # Key namespace of this run: every key lives under fsrl:{namespace}:; null derives one.
    namespace: str | None = None
    # Name of the replay table.
    table: str = "replay"
    # Most transitions kept; the oldest chunks are dropped first (FIFO ring).
    capacity: int = 100_000
    # Prioritized (proportional) sampling; false samples uniformly.
    prioritized: bool = True
    # Priority exponent: P(i) ~ (priority_i + priority_eps) ** alpha.
    alpha: float = 0.6
    # Importance-sampling exponent of the weights (N * P(i)) ** -beta.
    beta: float = 0.4
    # Added to every priority so no transition gets probability 0.
    priority_eps: float = 1e-6
    # Write updated priorities back into Redis, so a restarted learner starts from them.
    persist_priorities: bool = True
    # Samples wait until the table holds this many transitions (0 is treated as 1).
    min_size_to_sample: int = 1_000
    # Target sampled/inserted transitions ratio (Reverb semantics); null or 0 = no limit.
    # The default: the learner samples each transition ~8 times on average (16 env steps
    # per update at batch 128), so actors that outrun it wait instead of eating the
    # env-step budget and the CPU the learner needs.
    samples_per_insert: float | None = 8.0
    # Allowed drift of inserts*SPI - samples, in transitions; null = max(100, 2*max(1, SPI)).
    # The default lets the learner run well ahead of the actors before it waits.
    error_buffer: float | None = 20_000.0
    # Transitions per chunk (one atomic Redis write; the writer is the only place that
    # chunks); tens to hundreds.
    chunk_size: int = 64
    # Chunks buffered before a writer sends them in one pipelined round trip.
    max_pending_chunks: int = 16
    # A partial chunk older than this is sent by the writer's flush_due (every env step),
    # milliseconds.
    max_chunk_age_ms: int = 1_000
    # Longest one flush waits on the rate limiter before the actor checks in (heartbeat,
    # stop key) and tries again, milliseconds.
    flush_timeout_ms: int = 1_000
    # Time allowed to reach Redis (and authenticate) before failing, seconds.
    connect_timeout_s: float = 5.0
    # Time one Redis call may take before it counts as a lost connection, seconds.
    socket_timeout_s: float = 30.0
    # How long a lost connection is retried (with backoff) before the run fails, seconds.
    reconnect_timeout_s: float = 60.0
    # Redis maxmemory for the embedded server in MiB (noeviction backstop); null = unlimited.
    maxmemory_mb: int | None = None


@dataclass
class RayConfig:
    """Where the actors run: a local Ray or an existing cluster."""

    # null: start a local Ray; "auto": join the cluster on this node; "ray://host:10001": client.
    address: str | None = None
    # CPUs of the local Ray (null: all of this machine's); ignored when joining a cluster.
    num_cpus: int | None = None
    # Ray namespace of the run's named actors.
    namespace: str = "fsrl"
    # Start Ray's dashboard (local Ray only).
    include_dashboard: bool = False
    # Nice increment (over the launcher's) of the worker processes of a local Ray: the
    # actors and what they start (the robot sim). Ray's default, 15, starves them beside
    # any other load. Ignored when joining a cluster (its raylets decide).
    worker_niceness: int = 15


@dataclass
class BudgetConfig:
    """When the run stops: the first budget reached wins (null: unlimited)."""

    # Environment steps collected by all actors.
    env_steps: int | None = 1_000_000
    # Learner updates.
    learner_updates: int | None = None
    # Wall-clock seconds from start.
    wall_time_s: float | None = 900.0
    # Stop as soon as a greedy evaluation reaches this mean score (null: never); the score
    # is the return unless env.eval_metric names an info total (Tetris lines, Snake apples).
    target_eval_return: float | None = "${env.solved_return}"  # type: ignore[assignment]
    # And every one of these evaluation means of info totals too (e.g. {win: 0.05}: at least
    # one Snake game in 20 fills the board); empty: the target above alone.
    target_eval_means: dict[str, float] = field(default_factory=dict)


@dataclass
class LoggingConfig:
    """The metrics logger's sinks (one logger, namespaces charts/ losses/ replay/ actors/)."""

    # Live rich console view.
    console: bool = True
    # TensorBoard event files in the run dir.
    tensorboard: bool = True
    # metrics.jsonl in the run dir.
    jsonl: bool = True
    # Seconds between metric dumps.
    interval_s: float = 2.0
    # Python logging level of fsrl's loggers.
    level: str = "INFO"
    # text | json (one JSON object per line with run, tag, version, actor, host; see telemetry/).
    format: str = "text"
    # With format=json, where lines are shipped: redis (a bounded stream of the run) | amqp |
    # nats | none.
    ship: str = "redis"
    # Broker URL; null: the run's Redis / amqp://guest:guest@127.0.0.1:5672 / nats://127.0.0.1:4222.
    ship_url: str | None = None
    # AMQP queue / NATS subject; null: fsrl.logs.<namespace>.
    ship_topic: str | None = None
    # Entries kept in the Redis log stream (MAXLEN ~).
    ship_maxlen: int = 10_000
    # Extra metric sinks beside TensorBoard: wandb and/or mlflow (optional packages).
    sinks: list[str] = field(default_factory=list)


@dataclass
class RobotConfig:
    """The GoPiGo3 robot reached through ``envs/gopigo_bridge`` and ``robot_edge``."""

    # sim (a simulated robot, same service) | gopigo3 (the real motors/sensors).
    backend: str = "sim"
    # ZeroMQ endpoint of the robot_edge service; null auto-starts a local sim edge.
    endpoint: str | None = None
    # Motors stop when no command arrives within this many milliseconds.
    watchdog_ms: int = 300
    # A step without reply within this many milliseconds fails the step.
    step_timeout_ms: int = 200
    # Tries of a request after a timeout (Lazy Pirate: the socket is recreated each time).
    retries: int = 3
    # This host's CURVE key home (python -m robot_edge.pair); null: plain text (local sim only).
    keys_dir: str | None = None
    # The Pi's public key file; null: <keys_dir>/peers/pi.key.
    server_key_file: str | None = None
