"""The `digitnet` command line.

Each subcommand lives in its own module under digitnet.commands and exposes
``register(subparsers)``, which adds its parser and sets ``run=function(args) -> int``.
This module only builds the parser, dispatches, and turns the library's errors
into one line on stderr and a non-zero exit code (1 for a failure, 2 for usage).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from digitnet._version import __version__


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line on stderr (exit 2) like every other error."""

    def error(self, message: str):
        self.exit(2, f"digitnet: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="digitnet",
        description="The neural network from 3Blue1Brown's 'But what is a neural network?': "
        "train it on MNIST, look inside it, draw digits for it.",
    )
    parser.add_argument("--version", action="version", version=f"digitnet {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in _command_modules():
        module.register(subparsers)
    return parser


def _command_modules() -> list:
    import digitnet.commands as package

    modules = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"digitnet.commands.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("digitnet: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as error:
        # The library raises ValueError (and its subclasses DatasetError, ModelFileError)
        # for anything the user can fix; OSError for files and network. One line, no traceback.
        print(f"digitnet: error: {_one_line(error)}", file=sys.stderr)
        return 1


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return " ".join(text.split())
