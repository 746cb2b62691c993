"""The sections of an fsrl run that say what is learned: env, model, algo, actors, learner.

Every field is documented where it is declared, with its unit in its name; every
default is what the default run (``python -m learner.main``) uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EnvConfig:
    """Which environment every actor (and the evaluator) builds."""

    # Gymnasium id; "module:Id" imports ``module`` first (it registers ``Id``).
    id: str = "CartPole-v1"
    # Keyword arguments passed to ``gymnasium.make``.
    kwargs: dict[str, Any] = field(default_factory=dict)
    # Time limit in steps (truncation); null keeps the registered limit.
    max_episode_steps: int | None = None
    # Episodes played by each greedy evaluation.
    eval_episodes: int = 20
    # Seed of the first evaluation episode; episode i uses eval_seed + i (fixed seeds).
    eval_seed: int = 1_000_000
    # Time limit of evaluation episodes in steps, apart from training's (e.g. 1,000,000
    # Tetris placements); null: the training limit (max_episode_steps or the registered one).
    eval_max_episode_steps: int | None = None
    # What an evaluation episode scores: "return"; "reached_limit" (1 if the episode ran
    # to its step limit, else 0: the robot's bump-free share); or an episode total the env
    # reports in info at the episode's end ("lines" for Tetris, "apples" for Snake).
    # Evaluation means, version gates and budget.target_eval_return compare this score.
    eval_metric: str = "return"
    # Evaluation mean return at which this environment counts as solved (null: none).
    solved_return: float | None = None
    # Atari preprocessing (Gymnasium's AtariPreprocessing; needs ale-py: pip install
    # 'fsrl[atari]'): random no-op reset, frame skip with a max-pool over the last two
    # frames, resize, grayscale uint8; the ALE env is made with frameskip=1 unless
    # env.kwargs says otherwise. max_episode_steps then counts agent steps.
    atari: bool = False
    # Most random no-op actions at reset (atari).
    atari_noop_max: int = 30
    # Emulator frames per agent step, max-pooled over the last two (atari).
    atari_frame_skip: int = 4
    # Side of the square observation in pixels (atari).
    atari_screen_size: int = 84
    # Training only (the actors' envs, never evaluation): a lost life ends the learner's
    # episode while the game goes on (atari).
    episodic_life: bool = False
    # Training only: rewards clipped to [-1, 1] (Gymnasium's ClipReward).
    clip_rewards: bool = False
    # Last frames stacked on a new first observation axis (Gymnasium's FrameStackObservation,
    # padded with the reset frame); 0 or 1: no stacking. The replay then stores each
    # transition's frames once (replay/frames.py).
    frame_stack: int = 0


@dataclass
class ModelConfig:
    """The Q-network family and its size; ``tag`` names the versioned weight line."""

    # Weight line in the store (versions are per tag); null derives "<env>-<arch>".
    tag: str | None = None
    # mlp_dueling | cnn_dueling | candidate_scorer | auto (chosen from the observation space).
    arch: str = "auto"
    # Widths of the shared torso (MLP) or of the per-candidate scorer (candidate_scorer).
    hidden_sizes: list[int] = field(default_factory=lambda: [128, 128])
    # Width of the value and advantage heads' hidden layer (0: linear heads).
    head_hidden_size: int = 0
    # CNN channels per conv layer (cnn_dueling).
    cnn_channels: list[int] = field(default_factory=lambda: [32, 64])
    # CNN kernel sizes per conv layer (cnn_dueling).
    cnn_kernel_sizes: list[int] = field(default_factory=lambda: [3, 3])
    # CNN strides per conv layer (cnn_dueling).
    cnn_strides: list[int] = field(default_factory=lambda: [1, 1])
    # Image axes of a cnn_dueling observation: chw (channels first, e.g. stacked frames
    # [4, 84, 84]), hwc (channels last, e.g. RGB [210, 160, 3]), hw (one gray image), or
    # auto: hw for 2-D; hwc when the last axis has <= 4 entries and the first more; else chw.
    cnn_layout: str = "auto"
    # Observations are multiplied by this before the network (e.g. 1/255 for pixels).
    input_scale: float = 1.0


@dataclass
class AlgoConfig:
    """What every agent's ``algo`` section has; an agent's own section extends it."""

    # The agent: a built-in (dqn, sac) or your own as "package.module:ClassName".
    name: str = "dqn"
    # Discount per environment step.
    gamma: float = 0.99
    # Rewards folded into one transition by the actors (targets use the stored discount).
    n_step: int = 3
    # Transitions per learner update.
    batch_size: int = 128
    # Importance-sampling exponent reached at the end of the budget, annealed linearly
    # from replay.beta (the priority exponent is replay.alpha).
    priority_beta_final: float = 1.0


@dataclass
class DQNConfig(AlgoConfig):
    """Ape-X DQN: double Q, dueling heads, n-step targets, prioritized replay, ε ladder.

    The defaults are what ``algo=dqn`` runs (tuned for CartPole, docs/benchmarks.md,
    "CartPole tuning"): a target copy every 25 updates moves values along the 500-step
    episodes 10x sooner than every 250, and lr 4e-3 keeps up with it (median updates to
    solve over 12 seeds: 2,250, against 4,625 at lr 2e-3 / every 50).
    """

    # Double DQN: the online net picks the next action, the target net scores it.
    double_q: bool = True
    # Adam learning rate.
    lr: float = 4e-3
    # Adam epsilon.
    adam_eps: float = 1e-5
    # Learner updates between hard copies of the online net into the target net.
    target_update_interval_updates: int = 25
    # Global gradient-norm clip (0 disables).
    max_grad_norm: float = 10.0
    # Huber loss threshold (delta) on the TD error.
    huber_delta: float = 1.0
    # Added to |TD| to form a new priority, so nothing gets priority 0 (the sampler's
    # own replay.priority_eps is added again when it turns priorities into probabilities).
    td_priority_offset: float = 1e-3
    # Ape-X exploration ladder over every actor x env slot i of N:
    # eps_i = eps_base ** (1 + eps_alpha * i / (N - 1)).
    eps_base: float = 0.4
    # Exponent of the exploration ladder.
    eps_alpha: float = 7.0


@dataclass
class SACConfig(AlgoConfig):
    """Soft Actor-Critic (continuous Box actions): twin critics, tanh-Gaussian actor,
    learned temperature. Defaults are CleanRL's ``sac_continuous_action.py``; there is no
    ``learning_starts``: ``replay.min_size_to_sample`` holds the learner back.
    """

    name: str = "sac"
    # One-step targets (the actors fold n_step rewards; SAC's are usually 1).
    n_step: int = 1
    batch_size: int = 256
    # Adam learning rate of the actor (policy) network.
    policy_lr: float = 3e-4
    # Adam learning rate of the twin critics.
    q_lr: float = 1e-3
    # Adam learning rate of log(alpha) when autotune (CleanRL uses q_lr).
    alpha_lr: float = 1e-3
    # Polyak factor of the target critics per target update: θ' ← τ θ + (1 − τ) θ'.
    tau: float = 0.005
    # Entropy temperature at the start (the fixed temperature when autotune is off).
    alpha_init: float = 1.0
    # Learn the temperature so the policy's entropy tracks the target entropy.
    autotune: bool = True
    # Target entropy per action dimension: the target is this x |A| (SAC's usual -|A|).
    target_entropy_per_action_dim: float = -1.0
    # Actor (and temperature) updates every this many critic updates, this many at once.
    policy_frequency: int = 2
    # Target critics move toward the critics every this many updates.
    target_network_frequency: int = 1
    # Hidden layer widths of the actor and of each critic (ReLU MLPs; model.hidden_sizes
    # is the Q-network's of DQN and is not read by SAC).
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])
    # The actor's log standard deviation is squashed into [log_std_min, log_std_max].
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    # Each actor's first env steps with uniform random actions before its policy acts
    # (CleanRL: 5000, its learning_starts).
    random_warmup_steps: int = 0
    # Added to |TD error of critic 1| to form a new priority, so nothing gets priority 0.
    td_priority_offset: float = 1e-6


@dataclass
class ActorsConfig:
    """The Ray actor workers that play the environment and feed the replay."""

    # Number of actor workers.
    num: int = 2
    # Environments stepped in lock-step by each actor (one batched forward per step).
    envs_per_actor: int = 8
    # Seconds between checks of the latest weight version (one GET; the blob only when
    # it changed): actors acting on weights a few hundred updates old needed more
    # updates to solve CartPole.
    weight_poll_interval_s: float = 0.05
    # CPUs reserved per actor in Ray (fractions allowed).
    num_cpus_per_actor: float = 0.5
    # Times Ray restarts a crashed actor (-1: forever).
    max_restarts: int = 3
    # Seconds between actor heartbeats (liveness).
    heartbeat_interval_s: float = 1.0
    # Torch threads per actor for CPU inference (cnn_dueling, candidate_scorer; the dueling
    # MLP runs on numpy in the actors).
    torch_threads: int = 1
    # Times Ray retries run() on a restarted actor (-1: forever).
    max_task_retries: int = -1
    # Which version actors act with: latest (every published version) or champion (only
    # versions that passed the promotion gate; the seeded initial weights until one has).
    follow: str = "latest"


@dataclass
class LearnerConfig:
    """The learner process: device, weight publishing, prefetch, checkpoints, evaluation."""

    # auto | cpu | cuda | cuda:N (auto: CUDA when present, else CPU).
    device: str = "auto"
    # Learner updates between weight publications.
    publish_interval_updates: int = 25
    # Weight versions kept per model tag in the store (older ones are dropped).
    weights_history: int = 8
    # Sampled batches kept ready (async mode) by the sampler process or prefetch thread.
    prefetch_batches: int = 8
    # Learner updates between checkpoints on disk (0: only the final one).
    checkpoint_interval_updates: int = 5_000
    # Checkpoint folder; null: "<run dir>/checkpoints".
    checkpoint_dir: str | None = None
    # Checkpoints kept on disk (oldest removed first).
    keep_checkpoints: int = 2
    # Continue a run: from resume_from, else checkpoint_dir, else the newest checkpoint of
    # this model tag under the runs folder (the run dir's grandparent, e.g. runs/).
    resume: bool = False
    # A checkpoint folder to resume from (implies resume); null: newest in checkpoint_dir.
    resume_from: str | None = None
    # Seconds between greedy evaluations in the learner (0: only at the end). A CartPole
    # screen costs ~25 ms on the numpy forward, so checking twice a second catches a
    # solving policy sooner at ~5% of the learner (eval_max_time_fraction caps the rest).
    eval_interval_s: float = 0.5
    # Learner updates between greedy evaluations, in place of eval_interval_s (0: by
    # seconds). Counted in updates, a mode=sync run evaluates at the same points every time.
    eval_interval_updates: int = 0
    # Episodes of the cheap screen that must reach budget.target_eval_return before a full
    # env.eval_episodes evaluation is played (0: always play the full evaluation).
    eval_screen_episodes: int = 3
    # Most of the wall time periodic evaluations may take: after an evaluation that took
    # d seconds the next waits at least d / eval_max_time_fraction (0: no such limit).
    eval_max_time_fraction: float = 0.05
    # Async mode on a local Ray: while Ray starts (~3-4 s on 2 cores), the learner trains on
    # an in-process actor's data, for at most this many seconds (0: wait for the Ray actors).
    warm_start_max_s: float = 10.0
    # Torch intra-op threads of the learner (0: torch's default).
    torch_threads: int = 1
    # Async mode: sample in a child process (python -m replay.sampler_process) instead of
    # a thread of the learner. Sampling is Python that holds the GIL; beside the updates
    # in one process it cost the 2-core box half its updates/s (docs/benchmarks.md).
    sampler_process: bool = True
    # A version becomes its tag's champion when its evaluation return beats the champion's
    # by more than this (the first evaluated version is crowned). Single-agent envs.
    gate_margin: float = 0.0
    # Two-player games (selfplay.game): a version becomes champion when its score (wins +
    # half the draws) against the champion reaches this share of the gate's games.
    gate_threshold: float = 0.55
    # Two-player games: games of each gate (even: both sides of each fixed-seed opening),
    # and of each rating match against selfplay.baselines.
    gate_games: int = 40
    # Seconds the learner's lease on its model tag lasts unless renewed (renewed every
    # third of it): a second learner on the same tag and namespace is refused meanwhile.
    lease_ttl_s: float = 30.0
    # Seconds the learner waits for one batch before it reports starvation.
    sample_timeout_ms: int = 1_000
    # Updates per collect phase in mode=sync, per env step collected.
    sync_updates_per_step: float = 0.25
    # Env steps collected per actor per sync phase.
    sync_steps_per_phase: int = 500


@dataclass
class SelfPlayConfig:
    """Self-play on a two-player game: actors play it against the current version and a
    pool of past versions and write both players' moves; new versions are gated against
    the champion in the arena. ``game: null`` (the default) is an ordinary run."""

    # The game: a built-in (connect_four, tictactoe) or your own "package.module:Name"
    # (envs.games.core.TwoPlayerGame); null: no self-play, actors step env.id as usual.
    # env.id should be the same game against a fixed opponent (fsrl/ConnectFour-v0): it
    # gives the spaces the agent is built for.
    game: str | None = None
    # Share of new games played against a past version from the pool (the rest: the
    # current version on both sides); pool games start once the pool has a member.
    pool_share: float = 0.3
    # Past versions each actor keeps in its pool (the newest; the oldest leaves first).
    pool_size: int = 8
    # A version the actor acts with joins its pool when it is at least this many versions
    # newer than the pool's newest member.
    pool_interval_versions: int = 20
    # How a pool opponent is drawn: pfsp (prioritised fictitious self-play: weight ~
    # (1 - score) ** pfsp_power, towards opponents the current version still loses to,
    # from its running score in the actor's own games against each) | uniform.
    pool_weighting: str = "pfsp"
    # Exponent of the pfsp weighting.
    pfsp_power: float = 2.0
    # Each self-play game starts after a uniform random number in [0, opening_plies] of
    # uniformly random moves (variety; those moves are not written to the replay).
    opening_plies: int = 2
    # Also write each move's images under the game's symmetries (Connect Four: the
    # left-right mirror), where the game declares them.
    symmetries: bool = True
    # The player the platform makes of a version (the gate, the arena, the leaderboard's
    # ratings, the bench): exact negamax this many plies deep over the version's learned
    # action values, which score the horizon (0: greedy on the values).
    search_depth: int = 3
    # Plies the acting version searches (as search_depth does) for its own moves in the
    # actors' games, where its epsilon-greedy policy did not explore; pool opponents search
    # as deep. 0: the policy's actions as they are (cheapest; weaker games to learn from).
    actor_search_depth: int = 0
    # Random opening plies before each arena game (both sides of each opening are played).
    arena_opening_plies: int = 2
    # Opponents every evaluated version is rated against beside the champion:
    # random | first_legal | alphabeta (Connect Four; depth from alphabeta_depth) |
    # "package.module:Name". The mean result against the first is the eval return.
    baselines: list[str] = field(default_factory=lambda: ["random"])
    # Depth of the alphabeta baseline (envs.games.connect_four_search).
    alphabeta_depth: int = 4
