"""The package's shape, as ARCHITECTURE.md states it: small files, imports flowing one way,
nobody reaching into another module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "digitnet"
TESTS = Path(__file__).resolve().parent
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def imported_modules(path: Path, name: str | None = None) -> set[str]:
    """Every digitnet module a file imports, at the top or inside a function (the root package
    `digitnet`, the public API that imports everything, left out). `name`: the module's name, for
    a file outside src/."""
    found = set()
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in MODULES and name != "digitnet"}
    return found


def private_uses(path: Path) -> list[str]:
    """`from digitnet.x import _y`, and `x._y` where x names a digitnet module."""
    problems, aliases = [], {}
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("digitnet"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in MODULES:
                    aliases[alias.asname or alias.name] = full
                elif alias.name.startswith("_") and not alias.name.startswith("__"):
                    problems.append(f"{path.name}:{node.lineno} imports {node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("digitnet") and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            problems.append(f"{path.name}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return problems


def test_no_source_file_is_longer_than_450_lines():
    long = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    assert {name: n for name, n in long.items() if n > MAX_LINES} == {}


def test_imports_between_digitnet_modules_form_no_cycle():
    graph = {name: imported_modules(path) - {name} for name, path in MODULES.items()}
    # A package's __init__ importing its own submodules is how a package shows its API; a
    # submodule importing its package back is a cycle all the same.
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, trail: list[str]) -> bool:
        state[node] = 1
        for following in sorted(graph[node]):
            if state.get(following) == 1:
                cycle.extend(trail[trail.index(following):] + [node, following] if following in trail else [node, following])
                return True
            if following not in state and visit(following, trail + [node]):
                return True
        state[node] = 2
        return False

    for name in sorted(graph):
        if name not in state and visit(name, []):
            break
    assert cycle == [], " -> ".join(cycle)


def test_the_core_never_imports_the_cli_or_the_web_app():
    core = ["digitnet.activations", "digitnet.layers", "digitnet.losses", "digitnet.network",
            "digitnet.optimizers", "digitnet.backprop", "digitnet.checks"]
    for name in core:
        outward = {m for m in imported_modules(MODULES[name]) if m.startswith(("digitnet.cli", "digitnet.commands",
                                                                                 "digitnet.web", "digitnet.training"))}
        assert outward == set(), f"{name} imports {outward}"


def commands_imported(name: str, path: Path) -> list[str]:
    """The digitnet.commands modules a module imports, unless it is the CLI (cli.py, commands/)."""
    if name == "digitnet.cli" or name.split(".")[:2] == ["digitnet", "commands"]:
        return []
    return sorted(m for m in imported_modules(path, name) if m.split(".")[:2] == ["digitnet", "commands"])


def test_only_the_cli_imports_the_commands():
    # The commands are the CLI's rooms: a library room (sweeps, training, web, ...) importing one
    # would pull argparse and the command line's words into the library.
    outside = {name: commands_imported(name, path) for name, path in MODULES.items()}
    assert {name: found for name, found in outside.items() if found} == {}


@pytest.mark.parametrize("folder", [SRC, TESTS], ids=["src", "tests"])
def test_nobody_imports_another_modules_private_names(folder):
    problems = [problem for path in sorted(folder.rglob("*.py")) for problem in private_uses(path)]
    assert problems == []


def test_the_checker_sees_a_cycle_and_a_private_import(tmp_path):
    # The checks above are only worth something if they can fail.
    fake = tmp_path / "fake.py"
    fake.write_text("from digitnet.activations import _constants\nimport digitnet.network as net\nnet._x\n")
    assert len(private_uses(fake)) == 2
    assert "digitnet.network" in imported_modules(MODULES["digitnet.modelfile"])
    inward = tmp_path / "inward.py"
    inward.write_text("def f():\n    from digitnet.commands.train import flag_message\n")
    assert commands_imported("digitnet.sweeps.inward", inward) == ["digitnet.commands.train"]
    assert commands_imported("digitnet.commands.inward", inward) == []
