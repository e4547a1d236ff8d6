"""`digitnet train` and `digitnet evaluate` through their real entry point, digitnet.cli.main:
exit codes and one-line errors for every kind of bad input, and one real (short) training run
on MNIST whose model `evaluate --json` scores again."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

import digitnet
from digitnet import cli


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    """The last-model record goes to a temporary state folder; relative paths land in tmp."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)


def run_cli(*argv: str) -> tuple[int, str, str]:
    """cli.main(argv) with stdout and stderr captured (usable outside function-scoped capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exit:  # argparse usage errors
            code = exit.code
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(err: str, match: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("digitnet: error: "), err
    assert re.search(match, lines[0]), f"{match!r} not in {lines[0]!r}"
    assert "Traceback" not in err


# --------------------------------------------------------------------------- bad input
# Errors name the flags typed (--lr), not the TrainConfig fields behind them (learning_rate).
BAD_TRAIN_ARGS = [
    (["--layers", "100,16,10"], r"layers must start with 784 inputs and end with 10 outputs for mnist; got \[100, 16, 10\]"),
    (["--layers", "784,16,9"], r"end with 10 outputs"),
    (["--layers", "784,0,10"], r"sizes must be positive integers"),
    (["--lr", "0"], r"--lr must be a positive number; got 0"),
    (["--lr", "-0.5"], r"--lr must be a positive number"),
    (["--lr", "nan"], r"--lr must be a positive number; got nan"),
    (["--epochs", "0"], r"--epochs must be a positive integer; got 0"),
    (["--batch-size", "0"], r"--batch-size must be a positive integer; got 0"),
    (["--dropout", "1.5"], r"--dropout must be in \[0, 1\); got 1.5"),
    (["--dropout", "-0.1"], r"--dropout must be in \[0, 1\)"),
    (["--l2", "-1"], r"--l2 must be a number ≥ 0"),
    (["--patience", "0"], r"--patience must be a positive integer"),
    (["--loss", "cross-entropy"], r"loss 'cross-entropy' needs a softmax output layer; got output activation 'sigmoid'"),
    (["--output", "sigmoid", "--loss", "cross-entropy", "--activation", "relu"], r"needs a softmax output layer"),
    (["--validation-size", "60000"], r"--validation-size must be smaller than the 60000 training images; got 60000"),
    (["--validation-size", "-1"], r"--validation-size must be an integer ≥ 0"),
    (["--out", "model.pt"], r"--out must name a .safetensors file; got 'model.pt'"),
    (["--out", "models/"], r"--out must name a .safetensors file"),
]


@pytest.mark.parametrize("argv, match", BAD_TRAIN_ARGS, ids=[" ".join(a) for a, _ in BAD_TRAIN_ARGS])
def test_bad_train_arguments_exit_1_with_one_line(argv, match):
    code, _, err = run_cli("train", "--epochs", "1", "--out", "m.safetensors", *argv)
    assert code == 1
    assert_one_line_error(err, match)
    assert not Path("m.safetensors").exists() and not Path("m.checkpoint.safetensors").exists()


# Refused by the command line itself, before any training setting is built: exit 2 (usage).
BAD_USAGE = [
    (["--layers", "784,abc"], r"--layers must be comma-separated integers like 784,30,10; got '784,abc'"),
    (["--layers", ""], r"--layers must be comma-separated integers"),
    (["--activation", "swish"], r"argument --activation: invalid choice: 'swish' \(choose from 'sigmoid', 'relu'"),
    (["--activation", "softmax"], r"invalid choice: 'softmax'"),
    (["--optimizer", "rmsprop"], r"invalid choice: 'rmsprop' \(choose from 'sgd', 'momentum', 'adam'"),
    (["--schedule", "linear"], r"invalid choice: 'linear'"),
    (["--init", "zeros"], r"invalid choice: 'zeros'"),
    (["--loss", "hinge"], r"invalid choice: 'hinge'"),
    (["--engine", "gpu"], r"invalid choice: 'gpu' \(choose from 'auto', 'reference', 'fused'"),
    (["--lr", "fast"], r"argument --lr: invalid float value: 'fast'"),
]


@pytest.mark.parametrize("argv, match", BAD_USAGE, ids=[" ".join(a) for a, _ in BAD_USAGE])
def test_bad_usage_exits_2_with_one_line(argv, match):
    code, _, err = run_cli("train", "--epochs", "1", "--out", "m.safetensors", *argv)
    assert code == 2
    assert_one_line_error(err, match)
    assert "see digitnet train --help" in err
    assert not Path("m.safetensors").exists()


def test_negative_seed_names_the_seed():
    code, _, err = run_cli("train", "--epochs", "1", "--out", "m.safetensors", "--seed", "-1")
    assert code == 1
    assert_one_line_error(err, r"seed must be .*; got -1")


CONFIG_FILES = {
    "missing": (None, r"missing.toml"),
    "invalid-toml": ("lr = [0.1,\n", r"--config .*invalid-toml.toml is not valid TOML"),
    "unknown-key": ("lr = 0.1\nlearnin_rate = 2\n", r"--config .*unknown-key.toml: unknown key 'learnin_rate'; expected any of"),
    "table": ("[training]\nlr = 0.1\n", r"unknown key 'training'"),
    "unknown-preset": ('preset = "fast"\n', r"unknown preset 'fast'; expected one of 3b1b, modern, best"),
    "layers-int": ("layers = 784\n", r"layers must be a list of integers like \[784, 30, 10\]"),
    "layers-text": ('layers = "784,x,10"\n', r"comma-separated integers"),
    "seed-text": ('seed = "x"\n', r"seed must be an integer; got 'x'"),
    "lr-text": ('lr = "fast"\n', r"lr must be a number; got 'fast'"),
    "epochs-float": ("epochs = 2.5\n", r"epochs must be an integer; got 2.5"),
    "nesterov-text": ('nesterov = "yes"\n', r"nesterov must be true or false"),
    "bad-value": ("dropout = 2.0\n", r"dropout must be in \[0, 1\)"),
}


@pytest.mark.parametrize("name", list(CONFIG_FILES))
def test_bad_config_files_exit_1_with_one_line(tmp_path, name):
    text, match = CONFIG_FILES[name]
    path = tmp_path / f"{name}.toml"
    if text is not None:
        path.write_text(text)
    code, out, err = run_cli("train", "--config", str(path), "--out", "m.safetensors")
    assert code == 1
    assert_one_line_error(err, match)
    assert out == ""


@pytest.mark.parametrize("argv, match", [
    (["--preset", "fast"], r"argument --preset: invalid choice: 'fast'"),
    (["--lr", "fast"], r"argument --lr: invalid float value: 'fast'"),
    (["--epochs", "2.5"], r"argument --epochs: invalid int value: '2.5'"),
    (["--dataset", "cifar10"], r"argument --dataset: invalid choice: 'cifar10'"),
    (["--no-such-flag"], r"unrecognized arguments: --no-such-flag"),
])
def test_usage_errors_exit_2(argv, match):
    code, out, err = run_cli("train", *argv)
    assert code == 2
    assert re.search(match, err.splitlines()[-1]), err
    assert "Traceback" not in err


def test_evaluate_a_model_for_other_inputs_exits_1(tmp_path):
    digitnet.save(digitnet.Network([100, 10]), tmp_path / "small.safetensors")
    code, out, err = run_cli("evaluate", str(tmp_path / "small.safetensors"), "--json")
    assert code == 1
    assert_one_line_error(err, r"takes 100 inputs and has 10 outputs; mnist needs 784 and 10")


def test_evaluate_a_missing_model_exits_1(tmp_path):
    code, out, err = run_cli("evaluate", str(tmp_path / "nope.safetensors"))
    assert code == 1
    assert_one_line_error(err, r"no model file at .*nope.safetensors")


# --------------------------------------------------------------------------- a real run
EPOCH_LINE = re.compile(
    r"^epoch\s+1/1\s+loss (?P<loss>\d+\.\d{4})\s+validation (?P<val>\d+\.\d\d)%\s+test (?P<test>\d+\.\d\d)%\s+(?P<seconds>\d+\.\d\d) s$"
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`digitnet train --epochs 1 --layers 784,16,10 --batch-size 100 ...` on real MNIST."""
    folder = tmp_path_factory.mktemp("train-cli")
    out = folder / "quick.safetensors"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("XDG_STATE_HOME", str(folder / "state"))
        monkeypatch.setenv("COLUMNS", "200")
        code, stdout, stderr = run_cli("train", "--epochs", "1", "--layers", "784,16,10", "--batch-size", "100",
                                       "--validation-size", "5000", "--seed", "11", "--out", str(out))
    return code, stdout, stderr, out


def test_train_prints_one_line_per_epoch_and_saves(trained):
    code, stdout, stderr, out = trained
    assert code == 0, stderr
    assert stderr == ""
    lines = stdout.splitlines()
    assert lines[0].startswith("Training 784-16-10 (sigmoid, quadratic, sgd lr 1, batch 100, 1 epochs) on mnist: "
                               "55000 training, 5000 validation, 10000 test images.")
    epoch_lines = [match for line in lines if (match := EPOCH_LINE.match(line.strip()))]
    assert len(epoch_lines) == 1, stdout
    epoch = epoch_lines[0]
    assert 0 < float(epoch["loss"]) < 0.5  # quadratic cost at the start is about 1.25
    assert 80 < float(epoch["val"]) <= 100 and 80 < float(epoch["test"]) <= 100
    assert float(epoch["seconds"]) > 0
    assert lines[-1].startswith(f"Saved {out} (best validation epoch 1): test accuracy {epoch['test']}%")

    assert sorted(p.name for p in out.parent.iterdir() if p.name != "state") == [
        "quick.checkpoint.safetensors", "quick.history.csv", "quick.history.json", "quick.safetensors",
    ]
    net = digitnet.load(out)
    assert net.sizes == [784, 16, 10]
    assert net.metadata["training"]["batch_size"] == 100
    assert net.metadata["training"]["seed"] == 11
    assert f"{100 * net.metadata['metrics']['test_accuracy']:.2f}" == epoch["test"]


def test_train_remembers_the_last_model(trained):
    code, _, _, out = trained
    assert code == 0
    record = json.loads((out.parent / "state" / "digitnet" / "last-model.json").read_text())
    assert record["path"] == str(out.resolve())


def test_evaluate_json_scores_the_trained_model(trained, capsys):
    _, _, _, out = trained
    assert cli.main(["evaluate", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    report = json.loads(captured.out)
    net = digitnet.load(out)
    assert report["accuracy"] == net.metadata["metrics"]["test_accuracy"]
    assert report["dataset"] == "mnist"
    assert [row["class"] for row in report["per_class"]] == [str(d) for d in range(10)]
    confusion = np.array(report["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == 10_000
    assert np.trace(confusion) / 10_000 == report["accuracy"]


def test_evaluate_prints_a_readable_report(trained, capsys):
    _, _, _, out = trained
    assert cli.main(["evaluate", str(out)]) == 0
    text = capsys.readouterr().out
    accuracy = digitnet.load(out).metadata["metrics"]["test_accuracy"]
    assert f"accuracy {accuracy:.2%}" in text
    assert "Confusion matrix" in text


def test_resume_a_finished_run_via_the_cli(trained, tmp_path):
    _, _, _, out = trained
    copy = tmp_path / "quick.safetensors"
    copy.with_name("quick.checkpoint.safetensors").write_bytes(out.with_name("quick.checkpoint.safetensors").read_bytes())
    copy.write_bytes(out.read_bytes())  # (a finished checkpoint is resumed only while its model exists)
    code, stdout, stderr = run_cli("train", "--epochs", "1", "--layers", "784,16,10", "--batch-size", "100",
                                   "--validation-size", "5000", "--seed", "11", "--out", str(copy), "--resume")
    assert code == 0, stderr
    assert f"Resuming from {copy.with_name('quick.checkpoint.safetensors')} after epoch 1 of 1." in stdout
    a, b = digitnet.load(copy), digitnet.load(out)
    for x, y in zip(a.parameters(), b.parameters()):
        assert np.array_equal(x, y)


def test_resume_with_other_settings_via_the_cli_exits_1(trained, tmp_path):
    _, _, _, out = trained
    copy = tmp_path / "quick.safetensors"
    copy.with_name("quick.checkpoint.safetensors").write_bytes(out.with_name("quick.checkpoint.safetensors").read_bytes())
    code, _, err = run_cli("train", "--epochs", "1", "--layers", "784,16,10", "--batch-size", "50",
                           "--validation-size", "5000", "--seed", "11", "--out", str(copy), "--resume")
    assert code == 1
    assert_one_line_error(err, r"quick.checkpoint.safetensors was made with different settings")


def test_live_progress_on_a_terminal(tmp_path):
    """On a terminal, each epoch shows a progress bar with examples done, running loss and
    speed, then leaves its one summary line."""
    from dataclasses import dataclass

    from rich.console import Console

    from digitnet.commands.train import ProgressDisplay
    from digitnet.training import TrainConfig
    from digitnet.training.run import run_training

    @dataclass
    class Synthetic:
        name: str
        x_train: np.ndarray
        y_train: np.ndarray
        x_test: np.ndarray
        y_test: np.ndarray
        class_names: tuple

    def learnable(n, seed):  # noise, and a bright band of 78 pixels that says the label (a run must learn)
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, 10, n)
        x = rng.random((n, 784), dtype=np.float32) * 0.3
        for row, label in enumerate(labels):
            x[row, 78 * label: 78 * (label + 1)] = 1.0
        return x, labels

    data = Synthetic("synthetic", *learnable(600, 0), *learnable(100, 1), tuple("0123456789"))
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=150, highlight=False, soft_wrap=True)
    config = TrainConfig(sizes=[784, 8, 10], epochs=2, validation_size=100, batch_size=10)
    with ProgressDisplay(console) as display:
        run_training(config, data, tmp_path / "m.safetensors", say=console.print, on_batch=display.on_batch,
                     on_epoch_start=display.on_epoch_start, on_epoch=display.on_epoch)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())  # without terminal escapes
    assert "epoch 2/2" in text and "500/500" in text
    assert re.search(r"loss \d\.\d{4}\s+[\d,]+ ex/s", text), text
    assert len(re.findall(r"epoch\s+\d/2  loss \d\.\d{4}  validation \d+\.\d\d%  test \d+\.\d\d%  \d+\.\d\d s", text)) == 2


def test_divergence_via_the_cli_exits_1_naming_the_epoch(tmp_path):
    code, stdout, err = run_cli("train", "--epochs", "2", "--layers", "784,16,10", "--batch-size", "100",
                                "--activation", "relu", "--output", "identity", "--lr", "10000",
                                "--out", str(tmp_path / "d.safetensors"))
    assert code == 1
    assert_one_line_error(err, r"training diverged in epoch 1\b.*try a smaller learning rate \(--lr, now 10000\)")
    assert not (tmp_path / "d.safetensors").exists()


def test_without_numba_train_says_so_once_in_one_line(tmp_path):
    """No numba: training runs on the NumPy engines and the CLI says so in one line (no warning
    machinery, no source location)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['numba'] = None\n"
            "from digitnet.cli import main\n"
            f"sys.exit(main(['train', '--layers', '784,8,10', '--epochs', '2', '--out', {str(tmp_path / 'm.safetensors')!r}]))\n")
    import os

    source = str(Path(digitnet.__file__).resolve().parents[1])  # this checkout's digitnet, wherever we are
    env = {**os.environ, "PYTHONPATH": source + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "compiled engine" in line]
    assert len(notes) == 1 and notes[0].startswith("digitnet: note: the compiled engine is not available"), done.stderr
    assert "CompiledEngineUnavailable" not in done.stderr and "Saved" in done.stdout
