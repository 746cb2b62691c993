"""fsrl's learner: what the package promises.

* :mod:`learner.main` — ``python -m learner.main`` and :func:`learner.main.run`, the one
  function that wires a run: Redis → replay table + weight store → learner → Ray →
  actors; stops at a budget, checkpoints, evaluates, and leaves no process behind
  (also on Ctrl-C / SIGTERM).
* :mod:`agents.dqn.learner` — the Ape-X DQN update (double Q, dueling, n-step targets from the
  stored ``discount``, importance weights, new priorities ``|δ| + eps``), apart from any
  process; :mod:`learner.learner` — the loop around it (prefetch thread, publishing,
  checkpoints, evaluation); same seed and batches → same weights.
* :mod:`agents.dqn.networks` — Q-networks (``mlp_dueling``, ``cnn_dueling``,
  ``candidate_scorer``; masked actions get ``-inf``) and their torch-free export format.
  :mod:`agents.dqn.archs` — which architecture an observation space gets, without torch
  (the actors choose their numpy or torch Q-function with it).
* :mod:`learner.checkpoint` — checkpoints without pickle (safetensors + JSON + YAML).
* :mod:`learner.metrics` — the one metrics logger (JSONL, TensorBoard, console).
* :mod:`learner.evaluate` / :mod:`learner.cold_start` — the leaderboard and version 0 CLIs.
* :mod:`learner.policy_io` — ``load_policy(path)``: a greedy policy from a run dir,
  checkpoint, weights file, ``.onnx`` or TorchScript ``.pt``; :mod:`learner.play` and
  :mod:`learner.export` — ``fsrl play`` (GIF/MP4) and ``fsrl export`` (ONNX + TorchScript,
  checked against torch).
"""
