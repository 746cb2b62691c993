"""The text of ``fsrl train --help`` (Hydra's help template ``conf/hydra/help/fsrl.yaml``).

Registers the OmegaConf resolver ``fsrl_presets``: the user-facing config groups and
their presets, read from the YAML files under ``conf/`` with the first line of each
file's leading comment as its description. The schema's ``base_*`` entries and the
CI presets (``*_ci``) are internal and left out; a new preset file shows up by itself.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

CONF_DIR = Path(__file__).resolve().parent
#: Groups Hydra or the schema own, not a user's choice.
HIDDEN_GROUPS = ("hydra",)


def is_internal(name: str) -> bool:
    """True for presets users never pick: schema entries (base_*) and CI presets (*_ci)."""
    return name.startswith("base_") or name.endswith("_ci")


def describe(path: Path) -> str:
    """The first comment line of a YAML file that is not a ``@package`` directive."""
    for line in path.read_text().splitlines():
        text = line.strip()
        if not text.startswith("#"):
            break
        text = text.lstrip("#").strip()
        if text and not text.startswith("@package"):
            return text
    return ""


def presets() -> dict[str, list[tuple[str, str]]]:
    """``{group: [(preset, description)]}`` of the user-facing presets, sorted."""
    out: dict[str, list[tuple[str, str]]] = {}
    for group in sorted(p for p in CONF_DIR.iterdir() if p.is_dir()):
        if group.name in HIDDEN_GROUPS or group.name.startswith(("_", ".")):
            continue
        items = [
            (f.stem, describe(f)) for f in sorted(group.glob("*.yaml")) if not is_internal(f.stem)
        ]
        if items:
            out[group.name] = items
    return out


def presets_text() -> str:
    """:func:`presets` as the help's "group: preset  description" lines."""
    lines = []
    for group, items in presets().items():
        lines.append(f"{group}:")
        width = max(len(name) for name, _ in items)
        for name, desc in items:
            lines.append(f"  {group}={name:<{width}}  {desc}".rstrip())
    return "\n".join(lines)


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("fsrl_presets", presets_text, replace=True)
