"""The command line under the mistakes of issue 13: every one is a clear line (naming the flag
the user typed, the file, and what it is), nothing written is lost, and a pipe closed early is
no error. Through the real entry point (digitnet.cli.main, or a subprocess where a pipe or a
FIFO matters). Each test is named after what it protects."""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import digitnet
from digitnet import cli
from digitnet.data import load_split

MODEL = Path(digitnet.__file__).parent / "pretrained" / "3b1b.safetensors"
SRC = Path(digitnet.__file__).parents[1]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("DIGITNET_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exit:  # argparse usage errors
            code = exit.code
    return code, out.getvalue(), err.getvalue()


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("digitnet: error: ") and "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- flags and words
def test_an_unknown_flag_gets_did_you_mean():
    code, _, err = run_cli("train", "--learning-rate", "0.5")
    assert code == 2
    assert "--learning-rate: did you mean --lr?" in one_line(err)
    code, _, err = run_cli("train", "--bach-size", "5")
    assert "--bach-size: did you mean --batch-size?" in one_line(err)


@pytest.mark.parametrize("flag, value", [("--activation", "swish"), ("--loss", "hinge"), ("--optimizer", "lbfgs"),
                                         ("--output", "Softmax")])
def test_named_choices_are_listed_not_free_text(flag, value):
    code, _, err = run_cli("train", flag, value)
    assert code == 2
    line = one_line(err)
    assert f"argument {flag}: invalid choice: '{value}' (choose from " in line


def test_a_model_path_given_to_output_points_at_out():
    code, _, err = run_cli("train", "--output", "models/x.safetensors")
    assert code == 2
    assert "--output is the output layer's activation: the model file to write is --out" in one_line(err)


@pytest.mark.parametrize("argv, flag", [
    (["--lr", "0"], "--lr must be a positive number"),
    (["--l2", "-1"], "--l2 must be a number ≥ 0"),
    (["--batch-size", "0"], "--batch-size must be a positive integer"),
    (["--validation-size", "60000"], "--validation-size must be smaller than the 60000 training images"),
])
def test_errors_name_the_flag_not_the_setting(argv, flag):
    code, _, err = run_cli("train", "--epochs", "1", *argv)
    assert code == 1
    line = one_line(err)
    assert flag in line
    assert not any(name in line for name in ("learning_rate", "weight_decay", "batch_size", "validation_size"))


def test_a_missing_config_file_is_named_without_errno():
    code, _, err = run_cli("train", "--config", "nope.toml")
    assert code == 1
    line = one_line(err)
    assert "nope.toml" in line and "no such file" in line and "Errno" not in line


def test_a_non_utf8_config_file_is_named():
    Path("latin.toml").write_bytes("lr = 0.5 # taux d'apprentissage élevé\n".encode("latin-1"))
    code, _, err = run_cli("train", "--config", "latin.toml")
    assert code == 1
    assert "--config latin.toml is not UTF-8 text: byte 0xe9" in one_line(err)


def test_output_and_output_activation_both_in_toml_is_one_clear_error():
    Path("both.toml").write_text('output = "softmax"\noutput_activation = "sigmoid"\n')
    code, _, err = run_cli("train", "--config", "both.toml")
    assert code == 1
    assert "--config both.toml: keys 'output' and 'output_activation' both set --output; give it once" in one_line(err)


def test_layers_that_do_not_fit_fail_before_the_training_banner():
    code, out, err = run_cli("train", "--layers", "784,30", "--out", "x.safetensors")
    assert code == 1
    assert out == ""  # no "Training 784-30 ..." first
    assert "layers must start with 784 inputs and end with 10 outputs for mnist; got [784, 30]" in one_line(err)


def test_errors_say_data_dir_as_the_flag(tmp_path):
    (tmp_path / "empty").mkdir()
    code, out, err = run_cli("evaluate", str(MODEL), "--data-dir", "empty")
    assert code == 1 and out == ""
    line = one_line(err)
    assert "(from --data-dir)" in line and "(from data_dir)" not in line


# --------------------------------------------------------------------------- pipes
def test_inspect_json_into_a_closed_pipe_exits_quietly():
    """`digitnet inspect MODEL --json | head` printed '[Errno 32] Broken pipe'."""
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first byte is written
    try:
        result = subprocess.run([sys.executable, "-m", "digitnet", "inspect", str(MODEL), "--json"],
                                stdout=writer, stderr=subprocess.PIPE, text=True, timeout=300,
                                env={**os.environ, "PYTHONPATH": str(SRC)})
    finally:
        os.close(writer)
    assert result.stderr == ""
    assert result.returncode == 141


# --------------------------------------------------------------------------- names of model files
def test_a_config_file_without_a_preset_never_writes_the_preset_model():
    """`train --config my-run.toml` wrote models/3b1b.safetensors (a 784-100-10 network)."""
    Path("my-run.toml").write_text('lr = 0.5\nlayers = "784,20,10"\nepochs = 1\nbatch-size = 100\n')
    code, out, err = run_cli("train", "--config", "my-run.toml")
    assert code == 0, err
    assert Path("models/my-run.safetensors").exists()
    assert not Path("models/3b1b.safetensors").exists()
    assert "Saved models/my-run.safetensors" in out


@pytest.mark.parametrize("argv, name", [
    ([], "3b1b"),
    (["--preset", "modern"], "modern"),
    (["--preset", "3b1b", "--epochs", "5"], "3b1b-epochs5"),
    (["--epochs", "5", "--lr", "0.5"], "3b1b-lr0.5-epochs5"),
    (["--layers", "784,30,10"], "3b1b-layers784x30x10"),
    (["--preset", "modern", "--seed", "2"], "modern-seed2"),
    (["--preset", "3b1b", "--activation", "relu", "--output", "softmax", "--loss", "cross-entropy", "--init", "he",
      "--optimizer", "adamw", "--lr", "0.002", "--l2", "0.03", "--schedule", "cosine", "--batch-size", "16",
      "--epochs", "60", "--augment", "marker+closing", "--deskew", "--validation-size", "5000"],
     "modern"),  # the modern preset's settings, however they were spelled
])
def test_the_default_model_name_says_what_the_model_is(argv, name):
    from digitnet.commands.train import config_from_args, default_out

    args = cli.build_parser().parse_args(["train", *argv])
    config, _ = config_from_args(args)
    assert default_out(config, args) == Path(f"models/{name}.safetensors")


def test_a_long_list_of_changes_gets_a_short_stable_name():
    from digitnet.commands.train import config_from_args, default_out

    argv = ["train", "--layers", "784,100,100,100,10", "--lr", "0.123", "--epochs", "7", "--batch-size", "33",
            "--dropout", "0.1", "--seed", "12345"]
    names = set()
    for _ in range(2):
        args = cli.build_parser().parse_args(argv)
        names.add(default_out(config_from_args(args)[0], args))
    (name,) = names
    assert name.name.startswith("3b1b-custom-") and len(name.name) < 40


def test_validation_size_0_does_not_claim_a_best_validation_epoch():
    code, out, err = run_cli("train", "--epochs", "1", "--batch-size", "100", "--validation-size", "0",
                             "--out", "v0.safetensors")
    assert code == 0, err
    saved = out.splitlines()[-1]
    assert saved.startswith("Saved v0.safetensors (the weights after epoch 1, no validation set): test accuracy ")
    assert "best validation" not in out


def test_a_diverging_cli_run_exits_1_and_keeps_the_model():
    code, _, err = run_cli("train", "--epochs", "1", "--batch-size", "100", "--out", "m.safetensors")
    assert code == 0, err
    before = Path("m.safetensors").read_bytes()
    code, out, err = run_cli("train", "--epochs", "1", "--batch-size", "100", "--lr", "1e30", "--out", "m.safetensors")
    assert code == 1
    line = one_line(err)
    # Weights that explode to inf/NaN (the compiled engine) or saturate every sigmoid (the fused
    # engine's overflow-free σ): either way one line naming the learning rate.
    assert ("training did not learn" in line or "training diverged in epoch 1" in line), line
    assert "try a smaller learning rate (--lr, now 1e+30)" in line
    assert "the model at m.safetensors is unchanged" in line
    assert "Saved" not in out
    assert Path("m.safetensors").read_bytes() == before


# --------------------------------------------------------------------------- data info
def test_data_info_says_what_is_there_instead_of_not_found(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte").mkdir()
    (folder / "t10k-images-idx3-ubyte").symlink_to("t10k-images-idx3-ubyte")  # a link to itself
    code, _, err = run_cli("data", "info", "--data-dir", str(folder))
    assert code == 1
    line = one_line(err)
    assert f"train-images-idx3-ubyte: a folder, not a file ({folder / 'train-images-idx3-ubyte'})" in line
    assert "t10k-images-idx3-ubyte: a symbolic-link loop, not a file" in line
    assert f"put the right files in {folder}" in line


@pytest.mark.parametrize("kind", ["folder", "symlink loop"])
def test_data_info_on_a_path_given_as_the_name_points_at_data_dir(tmp_path, kind):
    path = tmp_path / "mine"
    if kind == "folder":
        path.mkdir()
    else:
        path.symlink_to("mine")
    code, _, err = run_cli("data", "info", str(path))
    assert code == 1
    assert f"unknown dataset '{path}'" in one_line(err) and f"pass --data-dir {path}" in one_line(err)


def test_data_dir_that_is_a_symlink_loop_says_so(tmp_path):
    (tmp_path / "loop").symlink_to("loop")
    code, _, err = run_cli("data", "info", "--data-dir", str(tmp_path / "loop"))
    assert code == 1
    assert "(from --data-dir) is a symbolic-link loop" in one_line(err)


# --------------------------------------------------------------------------- predict
@pytest.fixture(scope="module")
def digits():
    x, y = load_split("mnist", "test")
    return x[:4], y[:4]


def save_digit(path: Path, pixels) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(pixels.reshape(28, 28) * 255).astype(np.uint8), mode="L").resize((112, 112)).save(path)
    return path


def test_predict_refuses_a_fifo_at_once(tmp_path):
    fifo = tmp_path / "digit.png"
    os.mkfifo(fifo)
    result = subprocess.run([sys.executable, "-m", "digitnet", "predict", str(MODEL), str(fifo)],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(SRC)})
    assert result.returncode == 1
    assert f"digitnet: error: {fifo} is a FIFO (named pipe)" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_error_names_the_file_once():
    code, _, err = run_cli("predict", str(MODEL), "nothere.png")
    assert code == 1
    first = err.splitlines()[0]
    assert first.startswith("digitnet: error: nothere.png: no such file") and first.count("nothere.png") == 1


def test_show_input_never_overwrites_an_input_image(tmp_path, digits):
    image = save_digit(tmp_path / "my.png", digits[0][0])
    before = image.read_bytes()
    code, out, err = run_cli("predict", str(MODEL), str(image), "--show-input", str(image))
    assert code == 1 and out == ""
    assert "--show-input would overwrite the input image" in one_line(err)
    assert image.read_bytes() == before
    # Nor in folder mode, where an input may already be named like a picture.
    other = save_digit(tmp_path / "my-input.png", digits[0][1])
    code, _, err = run_cli("predict", str(MODEL), str(image), str(other), "--show-input", str(tmp_path))
    assert code == 1 and "would overwrite the input image" in one_line(err)
    assert image.read_bytes() == before


def test_inputs_with_the_same_stem_get_their_own_pictures(tmp_path, digits):
    images = [save_digit(tmp_path / "a" / "7.png", digits[0][0]), save_digit(tmp_path / "b" / "7.png", digits[0][1]),
              save_digit(tmp_path / "7.png", digits[0][2])]
    code, out, err = run_cli("predict", str(MODEL), *map(str, images), "--show-input", "seen", "--json")
    assert code == 0, err
    written = [Path(result["input_image"]) for result in json.loads(out)]
    assert written == [Path("seen/7-input.png"), Path("seen/7-2-input.png"), Path("seen/7-3-input.png")]
    pictures = [np.asarray(Image.open(path)) for path in written]
    assert not np.array_equal(pictures[0], pictures[1]) and not np.array_equal(pictures[1], pictures[2])


def test_show_input_that_cannot_be_written_keeps_the_predictions(tmp_path, digits):
    """`--show-input /dev/full` lost the predictions. (A device made here, not the real one.)"""
    image = save_digit(tmp_path / "seven.png", digits[0][0])
    targets = [tmp_path / "a-file.txt"]
    targets[0].write_text("not a folder")
    if os.geteuid() == 0:
        targets.append(tmp_path / "full")
        os.mknod(targets[-1], stat.S_IFCHR | 0o666, os.makedev(1, 7))
    for target in targets:
        code, out, err = run_cli("predict", str(MODEL), str(image), "--show-input", str(target))
        assert code == 1
        assert out.startswith(f"{image}: 7   (7 ")  # the prediction, printed
        assert f"digitnet: error: could not write the network input {target / 'seven-input.png'}: {target} is a" in err
    assert stat.S_ISCHR(os.stat(targets[-1]).st_mode) or targets[-1].read_text() == "not a folder"


def test_predict_reads_mnist_test_digits_by_index(digits):
    code, out, err = run_cli("predict", str(MODEL), "--test-index", "0", "--test-index", "3", "--json")
    assert code == 0, err
    results = json.loads(out)
    assert [r["test_index"] for r in results] == [0, 3]
    assert [r["true_label"] for r in results] == [str(digits[1][0]), str(digits[1][3])]
    net = digitnet.load(MODEL)
    assert [r["digit"] for r in results] == list(net.predict(digits[0][[0, 3]]))
    code, _, err = run_cli("predict", str(MODEL), "--test-index", "10000")
    assert code == 1 and "--test-index must be in 0..9999" in one_line(err)
    code, _, err = run_cli("predict", str(MODEL))
    assert code == 1 and "or --test-index N" in one_line(err)


def test_next_steps_after_make_run_name_only_things_that_exist(tmp_path):
    """`make run`'s "Next, try" named path/to/your-digit.png; every line must run as printed."""
    from digitnet.commands.next_steps import TEXT

    lines = [line.strip() for line in TEXT.format(model=str(MODEL)).splitlines() if line.strip().startswith(".venv/")]
    assert lines and not any("path/to" in line or "YOUR" in line.upper() for line in lines)
    for line in lines:
        argv = line.split("#")[0].split()[1:]  # without .venv/bin/digitnet, without a comment
        if argv[0] in ("serve", "train"):
            continue  # a server, a long training: their arguments are checked by parsing alone
        if argv[0] == "show":
            pytest.importorskip("matplotlib")
        code, _, err = run_cli(*argv)
        assert code == 0, (line, err)
    for argv in (line.split("#")[0].split()[1:] for line in lines):
        cli.build_parser().parse_args(argv)


# --------------------------------------------------------------------------- packaging
def test_the_package_says_it_is_typed():
    assert (Path(digitnet.__file__).parent / "py.typed").exists()
    pyproject = (SRC.parent / "pyproject.toml").read_text()
    assert '"py.typed"' in pyproject.split("[tool.setuptools.package-data]")[1].split("\n[")[0]
