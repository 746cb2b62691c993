"""``python -m learner.cold_start model.tag=…``: publish version 0 of a new architecture.

Builds the configured agent's learner for the configured env (seeded with ``seed``) and
publishes its initial weights as the first version of ``model.tag`` in the store at
``replay.redis_url`` (namespace ``replay.namespace``). A later
``python -m learner.main model.tag=…`` with the same store starts from it, and
actors/edge devices following the tag can load it at once. A tag that already has
versions is refused (pick a new tag), so a cold start never shadows a trained line.

A Hydra app over the same config as ``learner.main`` (``--help``, ``--cfg job`` — which
also checks the values —, ``-m`` sweeps over tags); it runs in the current directory
and writes no output dir (``hydra.run.dir=. hydra.output_subdir=null`` are its defaults).
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

import conf
from actors.spec import build_agent
from learner.preflight import PreflightError, check_config, exit_on_error
from replay.weights import WeightStore

#: Added to the command line unless the user sets the same key.
HYDRA_DEFAULTS = ["hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=stdout"]

logger = logging.getLogger(__name__)


def cold_start(cfg: conf.Config, url: str) -> tuple[str, int]:
    """Publish the seeded initial weights as version 0 of the tag; returns (tag, version)."""
    agent = build_agent(cfg)
    tag = cfg.model.tag or conf.default_model_tag(cfg.env.id, agent.tag_suffix())
    tensors, meta = agent.learner("cpu", int(cfg.seed)).export()
    meta.update(agent=agent.name, tag=tag, env_id=cfg.env.id, learner_updates="0", env_steps="0")
    with WeightStore(url, cfg.replay.namespace or "default") as store:
        existing = store.versions(tag)
        if existing or store.latest_version(tag) is not None:
            raise ValueError(
                f"model.tag={tag!r} already has versions {existing}; a cold start needs a new tag"
            )
        version = store.publish(tag, tensors, meta)
    return tag, version


@hydra.main(config_path="pkg://conf", config_name="config", version_base="1.3")
def app(dcfg: DictConfig) -> None:
    """The Hydra task: validate, check the env id, publish version 0."""
    cfg = conf.to_config(dcfg)
    try:
        check_config(cfg)
    except PreflightError as exc:
        raise SystemExit(f"learner.cold_start: error: {exc}") from None
    if cfg.replay.redis_url is None:
        raise SystemExit(
            "learner.cold_start needs replay.redis_url=redis://host:port/db: the store that the "
            "learner and actors of the new architecture will share"
        )
    tag, version = cold_start(cfg, cfg.replay.redis_url)
    print(f"published {tag} version {version} ({cfg.env.id})")


def main(argv: list[str] | None = None) -> int:
    """``python -m learner.cold_start OVERRIDES...`` (or ``main([...])``): the Hydra app."""
    args = list(sys.argv[1:] if argv is None else argv)
    if {"--cfg", "-c"} & set(args):  # --cfg job checks the values too
        exit_on_error(args, "learner.cold_start")
    saved = sys.argv
    given = {a.split("=", 1)[0] for a in args}
    defaults = [d for d in HYDRA_DEFAULTS if d.split("=", 1)[0] not in given]
    sys.argv = [saved[0] if argv is None else "learner.cold_start", *args, *defaults]
    try:
        app()
    finally:
        sys.argv = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
