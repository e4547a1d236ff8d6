"""The `digitnet` command line.

Each subcommand lives in its own module under digitnet.commands and exposes
``register(subparsers)``, which adds its parser and sets ``run=function(args) -> int``.
This module only builds the parser, dispatches, and turns the library's errors
into one line on stderr and a non-zero exit code (1 for a failure, 2 for usage). The line
speaks the command line's language: a library name such as data_dir becomes the flag the user
typed (--data-dir), an OSError says what failed and on which file instead of "[Errno 2] ...",
and an unknown flag gets a "did you mean". Output cut short by a closed pipe (`... | head`)
ends quietly.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import pkgutil
import re
import sys
from collections.abc import Sequence

from digitnet._version import __version__


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line on stderr (exit 2) like every other error."""

    def error(self, message: str):
        message = " ".join(message.split()) + _usage_hint(self, message)
        self.exit(2, f"digitnet: error: {message} (see {self.prog} --help)\n")


# Flags a user may reasonably type for one that is spelled otherwise here.
SYNONYMS = {"--learning-rate": "--lr", "--weight-decay": "--l2", "--sizes": "--layers",
            "--output-activation": "--output", "--output-file": "--out", "--model": "MODEL"}


def _usage_hint(parser: argparse.ArgumentParser, message: str) -> str:
    """"; did you mean --lr?" for an unknown flag; the --out hint for a file given to --output."""
    if message.startswith("argument --output: invalid choice") and re.search(r"[/\\.]", message.split("'")[1]):
        return "; --output is the output layer's activation: the model file to write is --out"
    if not message.startswith("unrecognized arguments:"):
        return ""
    known = _all_flags(parser)
    hints = []
    for word in message.removeprefix("unrecognized arguments:").split():
        flag = word.split("=", 1)[0]
        if not flag.startswith("--"):
            continue
        guess = SYNONYMS.get(flag) or next(iter(difflib.get_close_matches(flag, known, n=1, cutoff=0.7)), None)
        if guess:
            hints.append(f"{flag}: did you mean {guess}?")
    return "; " + "; ".join(hints) if hints else ""


def _all_flags(parser: argparse.ArgumentParser) -> list[str]:
    """Every --flag of the parser and of its subcommands."""
    flags = []
    for action in parser._actions:
        flags += [option for option in action.option_strings if option.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                flags += _all_flags(subparser)
    return sorted(set(flags))


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
    import warnings

    from digitnet.engines import CompiledEngineUnavailable

    def say(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, CompiledEngineUnavailable):  # ours: one line, no source location
            print(f"digitnet: note: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    shown, warnings.showwarning = warnings.showwarning, say
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("digitnet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`digitnet inspect --json | head`): nothing more to say to it.
        # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command a pipe cut short
    except (ValueError, OSError) as error:
        # The library raises ValueError (and its subclasses DatasetError, ModelFileError)
        # for anything the user can fix; OSError for files and network. One line, no traceback.
        print(f"digitnet: error: {_one_line(error)}", file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = shown


# Library argument names that reach the user through error messages, and the flags they typed.
LIBRARY_NAMES = {"data_dir": "--data-dir"}


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        # "[Errno 2] No such file or directory: 'x.toml'" -> "x.toml: no such file or directory"
        where = error.filename if error.filename is not None else ""
        text = f"{where}: {error.strerror[0].lower()}{error.strerror[1:]}" if where else error.strerror
    else:
        text = str(error) or type(error).__name__
    for name, flag in LIBRARY_NAMES.items():
        text = re.sub(rf"\b{name}\b", flag, text)
    return " ".join(text.split())
