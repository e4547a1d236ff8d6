"""Tests for `digitnet show ...` and `digitnet inspect`, through digitnet.cli.main.

A small 784-12-10 network is trained once on 3,000 MNIST digits (a second or two) and saved
with its history; the commands that need data read MNIST from the cache (`digitnet data
fetch mnist` puts it there). Every picture is opened with Pillow and checked for its size and
for real content; every user mistake must give one line on stderr and exit code 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("matplotlib")

import digitnet as dn
import digitnet  # noqa: E402
from digitnet import cli, data  # noqa: E402
from digitnet.inspection import plots  # noqa: E402

DPI = 40


@pytest.fixture(scope="module")
def mnist():
    return data.load("mnist")


@pytest.fixture(scope="module")
def model(mnist, tmp_path_factory) -> Path:
    """A quickly trained 784-12-10 model file with history, metrics and dataset metadata."""
    folder = tmp_path_factory.mktemp("models")
    net = digitnet.Network([784, 12, 10], seed=0)
    history = digitnet.train(
        net, mnist.x_train[:3000], mnist.y_train[:3000], epochs=3, batch_size=10, learning_rate=3.0, seed=0,
        validation=(mnist.x_train[-1000:], mnist.y_train[-1000:]), test=(mnist.x_test[:1000], mnist.y_test[:1000]),
    )
    path = folder / "tiny.safetensors"
    dn.save(net, path, history=history.to_dict(), metrics={"best_epoch": 3}, dataset="mnist",
             class_names=list(mnist.class_names))
    (folder / "tiny.history.json").write_text(json.dumps(history.to_dict()))
    return path


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # default picture names land here
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def run(*argv: str) -> int:
    return cli.main([str(a) for a in argv])


def check_picture(path: Path, size_inches: tuple[float, float], dpi: int = DPI) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG"
        expected = (size_inches[0] * dpi, size_inches[1] * dpi)  # matplotlib truncates to whole pixels
        assert all(abs(got - want) < 1 for got, want in zip(image.size, expected)), (image.size, expected)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 8, "picture looks blank"


def one_error_line(capsys, *needles: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("digitnet: error: ")
    assert "Traceback" not in captured.err
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


# --------------------------------------------------------------------------- pictures


def test_show_weights_default_name(model, in_tmp, capsys):
    assert run("show", "weights", model, "--dpi", DPI) == 0
    out = in_tmp / "tiny-weights.png"
    assert f"Wrote {out.name}" in capsys.readouterr().out
    check_picture(out, plots.weights_figure(digitnet.load(model)).get_size_inches())


def test_show_weights_deeper_layer(model, in_tmp, capsys):
    assert run("show", "weights", model, "--layer", 1, "-o", "out/w1.png", "--dpi", DPI) == 0
    assert "weighted pictures, a linear approximation" in capsys.readouterr().out
    check_picture(in_tmp / "out" / "w1.png", plots.weights_figure(digitnet.load(model), 1).get_size_inches())


def test_show_weights_svg(model, in_tmp):
    assert run("show", "weights", model, "-o", "weights.svg") == 0
    text = (in_tmp / "weights.svg").read_text()
    assert "<svg" in text


def test_show_activations_test_index(model, in_tmp, capsys):
    assert run("show", "activations", model, "--test-index", 0, "--dpi", DPI) == 0
    assert "mnist test digit 0" in capsys.readouterr().out
    net = digitnet.load(model)
    check_picture(in_tmp / "tiny-activations.png", plots.activations_figure(net, np.zeros(784, np.float32)).get_size_inches())


def test_show_activations_image_file(model, mnist, in_tmp):
    # A test digit written as dark ink on white paper: the command prepares it like MNIST.
    pixels = (255 - mnist.x_test[1].reshape(28, 28) * 255).astype(np.uint8)
    Image.fromarray(pixels).resize((112, 112)).save(in_tmp / "digit.png")
    assert run("show", "activations", model, "digit.png", "-o", "flow.png", "--dpi", DPI) == 0
    net = digitnet.load(model)
    check_picture(in_tmp / "flow.png", plots.activations_figure(net, np.zeros(784, np.float32)).get_size_inches())


def test_show_neuron(model, in_tmp, capsys):
    assert run("show", "neuron", model, "--layer", 0, "--index", 5, "--top", 8, "--dpi", DPI) == 0
    assert "layer 0, index 5" in capsys.readouterr().out
    check_picture(in_tmp / "tiny-neuron-0-5.png", (11.5, 7.2))


def test_show_mistakes(model, mnist, in_tmp):
    assert run("show", "mistakes", model, "--count", 10, "--dpi", DPI) == 0
    net = digitnet.load(model)
    expected = plots.mistakes_figure(net, mnist.x_test, mnist.y_test, count=10)
    check_picture(in_tmp / "tiny-mistakes.png", expected.get_size_inches())


def test_show_confusion(model, in_tmp):
    assert run("show", "confusion", model, "-o", "confusion.png", "--dpi", DPI) == 0
    check_picture(in_tmp / "confusion.png", (0.55 * 10 + 2.2, 0.5 * 10 + 1.8))


@pytest.mark.parametrize("source", ["tiny.safetensors", "tiny.history.json"])
def test_show_training(model, in_tmp, capsys, source):
    assert run("show", "training", model.parent / source, "--dpi", DPI) == 0
    assert "3 epochs" in capsys.readouterr().out
    check_picture(in_tmp / "tiny-training.png", (10, 4.2))


# --------------------------------------------------------------------------- mistakes by the user


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["show", "weights", "{model}", "--layer", "2"], ["layer must be in 0..1", "got 2"]),
        (["show", "weights", "{model}", "--layer", "-1"], ["layer must be in 0..1"]),
        (["show", "neuron", "{model}", "--layer", "0", "--index", "12"], ["index must be in 0..11 for layer 0", "got 12"]),
        (["show", "neuron", "{model}", "--layer", "5", "--index", "0"], ["layer must be in 0..1"]),
        (["show", "activations", "{model}", "--test-index", "10000"], ["--test-index must be in 0..9999"]),
        (["show", "activations", "{model}"], ["give either an IMAGE file or --test-index N"]),
        (["show", "activations", "{model}", "notes.txt"], ["notes.txt", "expected an image file"]),
        (["show", "activations", "{model}", "missing.png"], ["missing.png"]),
        (["show", "weights", "missing.safetensors"], ["no model file at missing.safetensors"]),
        (["show", "weights", "notes.txt"], ["notes.txt"]),
        (["show", "weights", "{model}", "-o", "weights.jpg"], ["-o/--out must end in .png or .svg"]),
        (["show", "weights", "{model}", "--dpi", "0"], ["--dpi must be between 10 and 600"]),
        (["show", "mistakes", "{model}", "--count", "0"], ["--count must be a positive integer"]),
        (["show", "training", "notes.txt"], ["notes.txt"]),
        (["show", "training", "bad.history.json"], ["bad.history.json is not a JSON history file"]),
        (["show", "training", "empty.history.json"], ["holds no training records"]),
        (["show", "training", "{bare}"], ["has no training history in its metadata"]),
        (["inspect", "missing.safetensors"], ["no model file at missing.safetensors"]),
    ],
)
def test_bad_arguments_give_one_line_and_exit_1(model, in_tmp, capsys, argv, needles):
    (in_tmp / "notes.txt").write_text("not an image, not a model")
    (in_tmp / "bad.history.json").write_text("{records: ")
    (in_tmp / "empty.history.json").write_text('{"records": []}')
    bare = in_tmp / "bare.safetensors"
    digitnet.save(digitnet.Network([784, 3, 10], seed=0), bare)
    argv = [a.format(model=model, bare=bare) for a in argv]
    assert run(*argv) == 1
    one_error_line(capsys, *needles)
    assert not list(in_tmp.glob("*.png"))  # nothing half-written


def test_missing_matplotlib_is_one_clear_line(model, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert run("show", "weights", model) == 1
    one_error_line(capsys, "install digitnet[plots]")


def test_show_without_a_picture_prints_help(capsys):
    assert run("show") == 2
    assert "weights" in capsys.readouterr().out


# --------------------------------------------------------------------------- inspect


def test_inspect_the_video_network(in_tmp, capsys):
    path = in_tmp / "video.safetensors"
    digitnet.save(digitnet.Network([784, 16, 16, 10], seed=0), path)
    assert run("inspect", path, "--no-data") == 0
    out = capsys.readouterr().out
    assert "13,002 parameters" in out
    assert "12,960" in out and "42" in out  # weights and biases in the total row
    for row in ("784 → 16", "16 → 16", "16 → 10"):
        assert row in out


def test_inspect_with_the_test_set(model, capsys):
    assert run("inspect", model) == 0
    out = capsys.readouterr().out
    net = digitnet.load(model)
    accuracy = float((net.predict(data.load("mnist").x_test) == data.load("mnist").y_test).mean())
    assert f"test accuracy {accuracy:.2%}" in out
    assert "saturated" in out


def test_inspect_json(model, capsys):
    assert run("inspect", model, "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["parameters"]["total"] == 784 * 12 + 12 + 12 * 10 + 10
    assert result["parameters"]["weights"] == 784 * 12 + 12 * 10
    assert result["parameters"]["biases"] == 22
    assert [layer["layer"] for layer in result["layers"]] == [0, 1]
    assert [c["shape"] for c in result["parameters"]["layers"]] == [[12, 784], [10, 12]]
    assert 0.0 <= result["layers"][0]["saturated_fraction"] <= 1.0
    assert result["layers"][0]["dead_fraction"] is None  # sigmoid: no dead ReLU neurons
    assert result["test_images"] == 10000 and 0.5 < result["test_accuracy"] <= 1.0


def test_inspect_json_relu_dead_neurons(in_tmp, capsys):
    net = digitnet.Network([784, 6, 10], activation="relu", output_activation="softmax", seed=0)
    net.layers[0].bias[2] = -1e4
    path = in_tmp / "relu.safetensors"
    dn.save(net, path, dataset="mnist")
    assert run("inspect", path, "--json") == 0
    layers = json.loads(capsys.readouterr().out)["layers"]
    assert 2 in layers[0]["dead_neurons"]
    assert layers[0]["saturated_fraction"] is None
