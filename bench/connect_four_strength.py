"""How strong is the Connect Four champion after self-play on this box, over wall-clock?

Trains ``python -m learner.main experiment=connect_four_selfplay`` (the platform: Ray
actors, Redis replay, learner, arena gate) for ``--minutes``, on a Redis this bench
starts, and meanwhile copies the tag's *champion* (the version that last passed its
gate) out of the weight store every ``--snapshot-every-s`` seconds (a GET; no CPU taken
from training beyond that). When training is over, each snapshot's player — the one
the platform makes of a version (:func:`learner.judge.version_player`: negamax
``selfplay.search_depth`` plies over the learned values) — plays on fixed seeds with
paired 2-ply random openings (:func:`learner.arena.play_match`):

* ``--random-games`` games against uniformly random play (target ≥ 99% wins);
* ``--games`` games against depth-4 alpha-beta (``envs/games/connect_four_search.py``,
  threat-count heuristic), half as first player (target ≥ 80% wins) and half as second
  (target ≥ 50%);

and every snapshot is rated (OpenSkill, ``learner.ratings``) from those games, the two
baselines anchoring the scale. The run's own ratings (the gate's arena, metrics.jsonl
``eval/rating_mu``) are reported beside them. Writes ``--json``, a PNG of win rates and
ratings over wall-clock (``--png``) and prints a markdown table.

    python bench/connect_four_strength.py --minutes 60 --json out/c4_strength.json \\
        --png docs/img/connect_four_strength.png
    python bench/connect_four_strength.py --evaluate-only out/c4_strength_run  # re-score
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import conf  # noqa: E402
from actors.spec import build_agent  # noqa: E402
from envs.games import ConnectFour, RandomPlayer  # noqa: E402
from envs.games.connect_four_search import AlphaBetaPlayer  # noqa: E402
from envs.games.search import one_blas_thread  # noqa: E402
from learner.arena import play_match  # noqa: E402
from learner.judge import version_player  # noqa: E402
from learner.ratings import Ratings  # noqa: E402
from replay.embedded import EmbeddedRedis  # noqa: E402
from replay.weights import WeightStore, decode_weights  # noqa: E402

logger = logging.getLogger("connect_four_strength")
ROOT = Path(__file__).resolve().parents[1]
PRESET = "experiment=connect_four_selfplay"
NAMESPACE = "c4bench"
SEED = 20_261_201


def load_1m() -> float:
    return round(os.getloadavg()[0], 2)


def train(args: argparse.Namespace, out: Path, overrides: list[str]) -> dict[str, Any]:
    """:func:`train_once`, again (up to twice more) when Ray could not start under load."""
    for attempt in range(3):
        try:
            return train_once(args, out, overrides)
        except RayStartError as exc:
            logger.warning("attempt %d: %s; starting again", attempt + 1, exc)
    raise SystemExit("Ray did not start three times; see train.log")


class RayStartError(RuntimeError):
    """The training run failed while Ray was starting (a loaded box); nothing was trained."""


def train_once(args: argparse.Namespace, out: Path, overrides: list[str]) -> dict[str, Any]:
    """Run the platform for ``--minutes``; snapshot the champion while it runs."""
    snaps = out / "snapshots"
    snaps.mkdir(parents=True, exist_ok=True)
    cfg = conf.load_config([PRESET, *overrides])
    tag = str(cfg.model.tag)
    with EmbeddedRedis() as redis_server:
        cmd = [
            sys.executable,
            "-m",
            "learner.main",
            PRESET,
            f"replay.redis_url={redis_server.url}",
            f"replay.namespace={NAMESPACE}",
            f"budget.wall_time_s={args.minutes * 60:.0f}",
            f"hydra.run.dir={out / 'run'}",
            "logging.console=false",
            *overrides,
        ]
        logger.info("training: %s", " ".join(cmd))
        store = WeightStore(redis_server.url, NAMESPACE)
        loads, taken = [], set()
        t0 = time.monotonic()
        with open(out / "train.log", "w") as log:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ}
            )
            next_snap = args.snapshot_every_s
            while proc.poll() is None:
                time.sleep(1.0)
                elapsed = time.monotonic() - t0
                if elapsed < next_snap:
                    continue
                next_snap += args.snapshot_every_s
                loads.append((round(elapsed), load_1m()))
                try:
                    version = store.champion_version(tag)
                    if version is None or version in taken:
                        continue
                    v, blob = store.fetch_blob(tag, version)
                except Exception as exc:  # the run is starting or stopping
                    logger.warning("no snapshot at %.0f s: %s", elapsed, exc)
                    continue
                taken.add(v)
                (snaps / f"t{elapsed:06.0f}_v{v}.fsrlw").write_bytes(blob)
                logger.info(
                    "snapshot: champion v%d at %.0f s (load %.1f)", v, elapsed, loads[-1][1]
                )
            # the final champion, after the run's last gate
            try:
                version = store.champion_version(tag)
                if version is not None and version not in taken:
                    v, blob = store.fetch_blob(tag, version)
                    elapsed = time.monotonic() - t0
                    (snaps / f"t{elapsed:06.0f}_v{v}.fsrlw").write_bytes(blob)
            except Exception as exc:
                logger.warning("no final snapshot: %s", exc)
            store.close()
    if proc.returncode != 0:
        if "timed out during startup" in (out / "train.log").read_text():
            raise RayStartError("Ray timed out during start-up")
        raise SystemExit(f"training failed (exit {proc.returncode}); see {out / 'train.log'}")
    return {"command": cmd, "tag": tag, "load_1m_during": loads, "wall_s": time.monotonic() - t0}


def rate(side: Any) -> float:
    return side.wins / side.games if side.games else float("nan")


def evaluate(args: argparse.Namespace, out: Path, overrides: list[str]) -> list[dict[str, Any]]:
    """Every snapshot against random play and depth-4 alpha-beta; ratings from those games."""
    cfg = conf.load_config([PRESET, *overrides])
    agent, game = build_agent(cfg), ConnectFour()
    depth, gamma = int(cfg.selfplay.search_depth), float(cfg.algo.gamma)
    ratings, rows = Ratings(), []
    ab = AlphaBetaPlayer(args.ab_depth)
    ab_name = f"alphabeta{args.ab_depth}"
    paths = sorted((out / "snapshots").glob("t*_v*.fsrlw"))
    for path in paths[-args.last :] if args.last else paths:
        elapsed = int(path.stem[1:].split("_")[0])
        version = int(path.stem.split("_v")[1])
        tensors, meta = decode_weights(path.read_bytes())
        player = version_player(agent, game, tensors, meta, depth, gamma)
        t = time.monotonic()
        name = f"v{version}"
        vs_random = play_match(
            game, player, RandomPlayer(), args.random_games, SEED, (name, "random")
        )
        vs_ab = play_match(game, player, ab, args.games, SEED + 1, (name, ab_name))
        ratings.record(name, "random", vs_random.outcomes)
        ratings.record(name, ab_name, vs_ab.outcomes)
        row = {
            "elapsed_s": elapsed,
            "version": version,
            "learner_updates": int(meta.get("learner_updates", -1)),
            "vs_random_win_rate": vs_random.wins / vs_random.games,
            "vs_ab_first_win_rate": rate(vs_ab.as_first),
            "vs_ab_second_win_rate": rate(vs_ab.as_second),
            "vs_ab_first": [vs_ab.as_first.wins, vs_ab.as_first.draws, vs_ab.as_first.losses],
            "vs_ab_second": [vs_ab.as_second.wins, vs_ab.as_second.draws, vs_ab.as_second.losses],
            "vs_ab_score": vs_ab.score(),
            "eval_s": round(time.monotonic() - t, 1),
        }
        rows.append(row)
        logger.info("%s", row)
    for row in rows:
        r = ratings[f"v{row['version']}"]
        row["rating_mu"], row["rating_sigma"] = r.mu, r.sigma
    baselines = {n: ratings[n].to_dict() for n in ("random", ab_name) if n in ratings}
    (out / "bench_ratings.json").write_text(json.dumps(baselines, indent=1))
    return rows


def run_ratings(out: Path) -> list[dict[str, float]]:
    """The run's own judge: ``eval/rating_mu`` of each judged version over wall-clock."""
    path = out / "run" / "metrics.jsonl"
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        rec = json.loads(line)
        if rec.get("eval/rating_mu") is not None:
            rows.append(
                {
                    "wall_s": rec.get("charts/wall_time_s"),
                    "rating_mu": rec["eval/rating_mu"],
                    "vs_random": rec.get("eval/mean_return"),
                    "updates": rec.get("charts/learner_updates"),
                }
            )
    return rows


def plot(rows: list[dict[str, Any]], judged: list[dict[str, float]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    minutes = [r["elapsed_s"] / 60 for r in rows]
    for key, label in (
        ("vs_random_win_rate", "vs random"),
        ("vs_ab_first_win_rate", "vs alpha-beta d4, first"),
        ("vs_ab_second_win_rate", "vs alpha-beta d4, second"),
    ):
        a.plot(minutes, [100 * r[key] for r in rows], marker="o", label=label)
    for y, style in ((99, ":"), (80, "--"), (50, "-.")):
        a.axhline(y, color="grey", lw=0.8, ls=style)
    a.set(xlabel="wall-clock (min)", ylabel="champion wins (%)", ylim=(-3, 103))
    a.set_title("Connect Four champion (search over learned values)")
    a.legend(loc="lower right", fontsize=8)
    b.errorbar(
        minutes,
        [r["rating_mu"] for r in rows],
        yerr=[r["rating_sigma"] for r in rows],
        marker="o",
        label="bench (vs random, alpha-beta d4)",
    )
    if judged:
        b.plot(
            [j["wall_s"] / 60 for j in judged],
            [j["rating_mu"] for j in judged],
            ".",
            alpha=0.6,
            label="run's arena (gate, vs random)",
        )
    b.set(xlabel="wall-clock (min)", ylabel="OpenSkill mu", title="ratings")
    b.legend(fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--snapshot-every-s", type=float, default=300.0)
    p.add_argument("--games", type=int, default=100, help="vs alpha-beta (even: both sides)")
    p.add_argument("--random-games", type=int, default=100)
    p.add_argument("--ab-depth", type=int, default=4)
    p.add_argument("--last", type=int, default=0, help="score only the newest N snapshots (0: all)")
    p.add_argument("--out", type=Path, default=Path("out/c4_strength_run"))
    p.add_argument("--evaluate-only", type=Path, default=None, help="re-score a run's snapshots")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--png", type=Path, default=None)
    p.add_argument("overrides", nargs="*", help="config overrides for the training run")
    args = p.parse_args(argv)
    out = args.evaluate_only or args.out
    info: dict[str, Any] = {"date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    info["load_1m_start"] = load_1m()
    if args.evaluate_only is None:
        info.update(train(args, out, args.overrides))
    info["load_1m_eval_start"] = load_1m()
    one_blas_thread()  # the searches' small products: one BLAS thread (see envs/games/search.py)
    rows = evaluate(args, out, args.overrides)
    info["load_1m_end"] = load_1m()
    judged = run_ratings(out)
    summary_path = out / "run" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    keep = ("env_steps", "learner_updates", "episodes", "champion", "final_version", "wall_time_s")
    result = {
        **info,
        "args": {k: str(v) for k, v in vars(args).items()},
        "cpu_count": os.cpu_count(),
        "run_summary": {k: summary.get(k) for k in keep},
        "snapshots": rows,
        "run_judged": judged,
    }
    print("| wall-clock | champion | updates | vs random | vs α-β d4 first | second | rating |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['elapsed_s'] / 60:.0f} min | v{r['version']} | {r['learner_updates']:,} | "
            f"{100 * r['vs_random_win_rate']:.0f}% | {100 * r['vs_ab_first_win_rate']:.0f}% | "
            f"{100 * r['vs_ab_second_win_rate']:.0f}% | {r['rating_mu']:.1f} ± {r['rating_sigma']:.1f} |"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
    if args.png is not None and rows:
        plot(rows, judged, args.png)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sys.exit(main())
