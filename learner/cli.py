"""``fsrl``: one console command for every fsrl tool (``[project.scripts]`` in pyproject).

``fsrl train|evaluate|cold-start|replay|curves|play|export ARGS...`` runs the module of
that command exactly as ``python -m MODULE ARGS...`` would (``fsrl train`` is
``python -m learner.main``), after the cheap checks for ``train``
(:mod:`learner.preflight`, before torch, Redis or Ray are loaded or started). Each
command also has its own script (``fsrl-train`` ...), which suits Hydra's shell
completion as it is: ``eval "$(fsrl-train -sc install=bash)"``. ``fsrl`` completes too:
``eval "$(fsrl train -sc install=bash)"`` registers ``fsrl``, completes the command names,
then Hydra's overrides of ``train``, ``cold-start``, ``play`` and ``export``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass

from learner.preflight import exit_on_error


@dataclass(frozen=True)
class Command:
    """One ``fsrl`` subcommand: the module it runs and whether that module is a Hydra app."""

    module: str
    summary: str
    hydra: bool = False


COMMANDS: dict[str, Command] = {
    "train": Command("learner.main", "train a model (a Hydra app: fsrl train --help)", True),
    "evaluate": Command("learner.evaluate", "leaderboard of a tag's versions on fixed seeds"),
    "cold-start": Command("learner.cold_start", "publish version 0 of a new architecture", True),
    "replay": Command("replay.admin", "list (ls) or remove (rm) a namespace's tables and versions"),
    "curves": Command("learner.curves", "plot a run dir's training curves to curves.png"),
    "play": Command("learner.play", "render a policy's episodes to GIF/MP4 (a Hydra app)", True),
    "export": Command("learner.export", "write a policy as ONNX + TorchScript, checked", True),
}

USAGE = """\
usage: fsrl COMMAND [ARGS...]

fsrl: distributed RL on Ray actors, a Redis replay and versioned weights.

commands:
{commands}

`fsrl COMMAND --help` describes a command; `fsrl train --help` lists the config groups.
Shell completion: eval "$(fsrl train -sc install=bash)"
"""


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {c.summary}" for name, c in COMMANDS.items())
    return USAGE.format(commands=rows)


def run_as_main(module: str) -> None:
    """Execute ``module`` as ``__main__``, like ``python -m module``, but leave ``sys.argv[0]``
    as the console script's name (``runpy``'s ``alter_sys`` would set it to the module's
    file, and Hydra's completion would then register ``python`` instead of ``fsrl``)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.loader is None or not hasattr(spec.loader, "get_code"):
        raise ImportError(f"cannot run {module} as a program")
    code = spec.loader.get_code(module)
    main_module = types.ModuleType("__main__")
    main_module.__dict__.update(
        __file__=spec.origin, __spec__=spec, __loader__=spec.loader, __package__=spec.parent
    )
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = main_module  # pickling by reference finds its classes, as with -m
    try:
        exec(code, main_module.__dict__)
    finally:
        sys.modules["__main__"] = saved


def run_command(name: str, args: Sequence[str], argv0: str) -> int:
    """Run subcommand ``name`` as ``python -m`` would, with ``sys.argv = [argv0, *args]``."""
    command = COMMANDS[name]
    if name == "train":
        prog = os.path.basename(argv0)
        exit_on_error(args, "fsrl train" if prog == "fsrl" else prog)
    if importlib.util.find_spec(command.module) is None:
        print(f"fsrl {name}: {command.module} is not part of this install", file=sys.stderr)
        return 2
    sys.argv = [argv0, *args]
    try:
        run_as_main(command.module)
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return int(code or 0)
        print(code, file=sys.stderr)
        return 1
    return 0


def _complete(args: Sequence[str]) -> int:
    """``fsrl -sc ...``: installing delegates to Hydra (for ``fsrl``); a query completes the
    command name, then hands the line without it to the command's Hydra app."""
    if not any(a.startswith("query") for a in args):
        return run_command("train", args, "fsrl")
    line = os.environ.get("COMP_LINE", "")
    words = line.split()
    if len(words) >= 2 and (len(words) > 2 or line.endswith(" ")):
        name = words[1]
        if name in COMMANDS and COMMANDS[name].hydra:
            rest = line.split(None, 2)[2] if len(words) > 2 else ""
            os.environ["COMP_LINE"] = f"fsrl {rest}"
            os.environ["COMP_POINT"] = str(len(os.environ["COMP_LINE"]))
            return run_command(name, args, "fsrl")
        return 0
    prefix = words[1] if len(words) == 2 else ""
    print(" ".join(n for n in COMMANDS if n.startswith(prefix)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The ``fsrl`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(usage())
        return 0 if args else 2
    if args[0] in ("-sc", "--shell-completion"):
        return _complete(args)
    name = args[0]
    if name not in COMMANDS:
        print(f"fsrl: unknown command {name!r} (one of: {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    return run_command(name, args[1:], "fsrl")


def _script(name: str) -> int:
    return run_command(name, sys.argv[1:], sys.argv[0])


def train() -> int:
    """``fsrl-train``: ``fsrl train`` as its own script (Hydra completion registers it)."""
    return _script("train")


def cold_start() -> int:
    """``fsrl-cold-start``."""
    return _script("cold-start")


def evaluate() -> int:
    """``fsrl-evaluate``."""
    return _script("evaluate")


def play() -> int:
    """``fsrl-play``."""
    return _script("play")


def export() -> int:
    """``fsrl-export``."""
    return _script("export")


if __name__ == "__main__":
    sys.exit(main())
