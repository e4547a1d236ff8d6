"""The README followed literally (issue 13, "Newcomer paths"): its commands, pasted in order into
an empty folder, all work; and the figures it states come out of the command next to them.

The command-line blocks of "Training from the command line", "Data" and "Look inside" run in
order, each line as written, with one change: a `train` line gets `--epochs 1` (and, without
--out, the --out that the line itself would have chosen), so the walk takes a minute instead of
half an hour. The names of files, resuming, config files and the order are what a newcomer meets.
The library example and the 3b1b preset (which scripts/make-pretrained.sh builds) run in full,
as written: their accuracies must be the README's, digit for digit.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

import digitnet
from digitnet import cli

ROOT = Path(digitnet.__file__).parents[2]
README = ROOT / "README.md"
SECTIONS = ("## Training from the command line", "## Data: MNIST and Fashion-MNIST", "## Look inside")


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start: end if end != -1 else len(text)]


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)


def readme_commands() -> list[str]:
    """Every `digitnet ...` line of the sections' code blocks, in order, without its comment."""
    lines = []
    for title in SECTIONS:
        for block in code_blocks(section(title)):
            lines += [line.split("  #")[0].strip() for line in block.splitlines() if line.startswith("digitnet ")]
    return lines


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit:
            code = exit.code
    return code, out.getvalue(), err.getvalue()


def shortened(argv: list[str]) -> list[str]:
    """A train line with --epochs 1 and the --out the line would choose itself."""
    from digitnet.commands.train import config_from_args, default_out

    if argv[0] != "train":
        return argv
    args = cli.build_parser().parse_args(argv)
    out = args.out or str(default_out(config_from_args(args)[0], args))
    return [*argv, "--epochs", "1", "--out", out]


@pytest.fixture
def newcomer(tmp_path, monkeypatch):
    """An empty folder as the working directory; the user's state kept apart."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("DIGITNET_DATA", raising=False)
    return tmp_path


def test_the_readme_lists_the_commands_this_test_walks():
    commands = readme_commands()
    assert commands[0] == "digitnet train --preset 3b1b"
    assert "digitnet train --config my-run.toml" in commands
    assert commands.index("digitnet train --preset 3b1b --resume") > commands.index("digitnet train --config my-run.toml")
    assert any(command.startswith("digitnet show activations") for command in commands)


@pytest.mark.slow
def test_readme_commands_pasted_in_order_all_work(newcomer):
    pytest.importorskip("matplotlib")
    # The README describes my-run.toml in its comment: "same keys as the flags: lr = 0.5, layers = ..."
    comment = next(line for block in code_blocks(section(SECTIONS[0])) for line in block.splitlines()
                   if line.startswith("digitnet train --config my-run.toml"))
    keys = comment.split("same keys as the flags:")[1].split("(")[0]
    (newcomer / "my-run.toml").write_text("\n".join(part.strip() for part in keys.split(", ")) + "\n")

    ran = []
    for command in readme_commands():
        argv = shlex.split(command)[1:]
        if "fashion-mnist" in argv and not Path("/usr/share/datasets/fashion-mnist").is_dir():
            continue  # only from Debian's package or the web here, and neither is on this machine
        code, out, err = run(shortened(argv))
        assert code == 0, f"`{command}` failed after {ran}:\n{err}"
        assert "Traceback" not in err
        ran.append(command)
    assert Path("models/3b1b.safetensors").exists() and Path("models/my-run.safetensors").exists()
    assert digitnet.load("models/my-run.safetensors").sizes == [784, 100, 10]
    assert digitnet.load("models/3b1b.safetensors").sizes == [784, 16, 16, 10]


def readme_figure(pattern: str) -> str:
    match = re.search(pattern, README.read_text())
    assert match, pattern
    return match.group(1)


@pytest.mark.slow
def test_the_library_example_prints_the_readme_accuracy(newcomer):
    """The example's "0.9477 here" did not reproduce (Network had no seed in it)."""
    example = next(block for block in code_blocks(section("## The library")) if "dn.train(" in block)
    figure = re.search(r"print\(dn\.evaluate\(.*\)\)\s*# (0\.\d+) here", example).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, "README.md", "exec"), {})
    printed = out.getvalue().split()
    assert printed[0] == "13002" and printed[1:3] == ["(16,", "784)"]
    assert float(printed[3]) == float(figure)


@pytest.mark.slow
def test_the_3b1b_preset_and_the_shipped_model_match_the_readme(newcomer):
    """The table's 3b1b figure, and the shipped pretrained model, are what
    scripts/make-pretrained.sh (`train --preset 3b1b --seed 0`) builds here."""
    script = (ROOT / "scripts" / "make-pretrained.sh").read_text()
    assert "train --preset 3b1b --seed 0 --out" in script
    code, _, err = run(["train", "--preset", "3b1b", "--seed", "0", "--out", "3b1b.safetensors"])
    assert code == 0, err
    built = digitnet.load("3b1b.safetensors")
    shipped = digitnet.load(Path(digitnet.__file__).parent / "pretrained" / "3b1b.safetensors")
    table = readme_figure(r"\| `3b1b` \|[^|]*\|[^|]*\| (\d+\.\d\d)% \|")
    assert f"{100 * built.metadata['metrics']['test_accuracy']:.2f}" == table
    for a, b in zip(built.parameters(), shipped.parameters()):
        assert (a == b).all(), "the shipped model is not what scripts/make-pretrained.sh builds"
    pretrained = readme_figure(r"shipped with digitnet\s+\(784-16-16-10, (\d+\.\d)% on the MNIST test set")
    assert f"{100 * shipped.metadata['metrics']['test_accuracy']:.1f}" == pretrained


def test_the_shipped_model_was_trained_with_the_3b1b_preset():
    """Cheap and always run: the settings the shipped model records are the preset's own."""
    from digitnet.training.config import TrainConfig
    from digitnet.training.presets import preset

    shipped = digitnet.load(Path(digitnet.__file__).parent / "pretrained" / "3b1b.safetensors")
    assert TrainConfig.from_dict(shipped.metadata["training"]) == preset("3b1b")
