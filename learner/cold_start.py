"""``python -m learner.cold_start model.tag=…``: publish version 0 of a new architecture.

Builds the configured agent's learner for the configured env (seeded with ``seed``) and
publishes its initial weights as the first version of ``model.tag`` in the store at
``replay.redis_url`` (namespace ``replay.namespace``). A later
``python -m learner.main model.tag=…`` with the same store starts from it, and
actors/edge devices following the tag can load it at once. A tag that already has
versions is refused (pick a new tag), so a cold start never shadows a trained line.
"""

from __future__ import annotations

import logging
import sys

import conf
from actors.spec import build_agent
from conf.cli import exit_if_help
from replay.weights import WeightStore

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


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    exit_if_help(
        args,
        "python -m learner.cold_start model.tag=TAG replay.redis_url=URL [OVERRIDES...]",
        "Publish version 0 of a new architecture (freshly initialised weights) under model.tag.",
    )
    cfg = conf.load_config(args)
    logging.basicConfig(level=cfg.logging.level)
    if cfg.replay.redis_url is None:
        raise SystemExit(
            "learner.cold_start needs replay.redis_url=redis://host:port/db: the store that the "
            "learner and actors of the new architecture will share"
        )
    tag, version = cold_start(cfg, cfg.replay.redis_url)
    print(f"published {tag} version {version} ({cfg.env.id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
