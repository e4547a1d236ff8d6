"""`digitnet export`, `digitnet import torch` and `digitnet card`, through digitnet.cli.main.

A 784-12-10 network is trained once on 3,000 MNIST digits and saved with its metadata. Each
exported file is read back by the tool it is for (onnxruntime, the printed PyTorch code) and
compared with net.forward; every user mistake gives one line on stderr and exit code 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import digitnet as dn
from digitnet import cli


@pytest.fixture(scope="module")
def mnist():
    return dn.datasets.load("mnist")


@pytest.fixture(scope="module")
def model(mnist, tmp_path_factory) -> Path:
    net = dn.Network([784, 12, 10], activation="relu", output_activation="softmax", seed=0)
    dn.train(net, mnist.x_train[:3000], mnist.y_train[:3000], epochs=2, batch_size=20, learning_rate=3e-3,
             optimizer="adam", loss="cross-entropy", seed=0)
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    dn.save(net, path, dataset="mnist", class_names=list(mnist.class_names),
             metrics={"test_accuracy": dn.evaluate(net, mnist.x_test, mnist.y_test)},
             training=dn.TrainConfig(sizes=[784, 12, 10], activation="relu", output_activation="softmax",
                                     loss="cross-entropy", optimizer="adam", learning_rate=3e-3, batch_size=20,
                                     epochs=2).to_dict())
    return path


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


def one_error_line(capsys, *needles: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("digitnet: error: ") and "Traceback" not in captured.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- export
def test_export_onnx_runs_in_onnxruntime(model, mnist, in_tmp, capsys):
    ort = pytest.importorskip("onnxruntime")
    assert run("export", model, "--format", "onnx", "-o", "out/tiny.onnx") == 0
    assert "ONNX opset 17" in capsys.readouterr().out
    session = ort.InferenceSession(str(in_tmp / "out/tiny.onnx"), providers=["CPUExecutionProvider"])
    net = dn.load(model)
    assert np.abs(session.run(None, {"input": mnist.x_test})[0] - net.forward(mnist.x_test)).max() <= 1e-5
    assert not (in_tmp / "out/README.md").exists()  # only with --card


def test_export_with_card_measures_and_writes_it_beside_the_file(model, mnist, in_tmp, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("matplotlib")
    assert run("export", model, "--format", "onnx", "-o", "out/tiny.onnx", "--card") == 0
    out = capsys.readouterr().out
    assert "Wrote out/README.md" in out and "Wrote out/weights.png" in out
    text = (in_tmp / "out/README.md").read_text()
    accuracy = dn.evaluate(dn.load(model), mnist.x_test, mnist.y_test)
    assert f"| accuracy | {100 * accuracy:.2f}% |" in text
    assert "`tiny.onnx`: ONNX graph (opset 17)" in text and 'InferenceSession("tiny.onnx")' in text
    assert 'dn.load("tiny.safetensors")' in text


def test_export_torch_prints_code_that_rebuilds_the_module(model, mnist, in_tmp, capsys, monkeypatch):
    torch = pytest.importorskip("torch")
    assert run("export", model, "--format", "torch", "-o", "out/tiny.safetensors") == 0
    printed = capsys.readouterr().out
    code = printed.split("Rebuild the module with:\n")[1]
    assert "torch.nn.Linear(784, 12)" in code and "torch.nn.Softmax(dim=-1)" in code
    monkeypatch.chdir(in_tmp / "out")  # the code names the file as it lies beside it
    namespace: dict = {}
    exec(code, namespace)
    with torch.no_grad():
        theirs = namespace["model"](torch.from_numpy(mnist.x_test[:2000])).numpy()
    assert np.abs(theirs - dn.load(model).forward(mnist.x_test[:2000])).max() <= 1e-5


# --------------------------------------------------------------------------- import
def test_export_then_import_is_exact(model, in_tmp, capsys):
    assert run("export", model, "--format", "torch", "-o", "w.safetensors") == 0
    assert run("import", "torch", "w.safetensors", "-o", "back.safetensors") == 0
    assert "784-12-10 (relu hidden, softmax output), 9,550 parameters" in capsys.readouterr().out
    original, back = dn.load(model), dn.load("back.safetensors")
    assert all(np.array_equal(a, b) for a, b in zip(original.parameters(), back.parameters()))
    assert back.output_activation == "softmax"


def test_import_a_module_trained_in_torch_then_look_inside(in_tmp, mnist, capsys):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(784, 16), torch.nn.Tanh(), torch.nn.Linear(16, 10))
    save_file(module.state_dict(), "theirs.safetensors")
    assert run("import", "torch", "theirs.safetensors", "--layers", "784,16,10", "--activation", "tanh",
               "--output", "identity", "--dataset", "mnist", "-o", "ours.safetensors") == 0
    net = dn.load("ours.safetensors")
    with torch.no_grad():
        expected = module(torch.from_numpy(mnist.x_test[:500])).numpy()
    assert np.abs(net.forward(mnist.x_test[:500]) - expected).max() <= 1e-4
    assert net.metadata["dataset"] == "mnist"
    capsys.readouterr()
    assert run("inspect", "ours.safetensors") == 0
    assert "784-16-10" in capsys.readouterr().out
    assert run("evaluate", "ours.safetensors", "--json") == 0


# --------------------------------------------------------------------------- card
def test_card_defaults_to_a_readme_beside_the_model(model, in_tmp, capsys):
    pytest.importorskip("matplotlib")
    assert run("card", model) == 0
    readme = model.parent / "README.md"
    assert readme.exists() and (model.parent / "weights.png").exists()
    assert 'library_name: "digitnet"' in readme.read_text()
    assert run("card", model, "--no-measure", "--no-picture") == 0  # its own card may be replaced
    assert "As recorded in the model file by training" in readme.read_text()


def test_card_never_replaces_someone_elses_readme(model, in_tmp, capsys):
    folder = in_tmp / "project"
    folder.mkdir()
    copy = folder / "tiny.safetensors"
    copy.write_bytes(model.read_bytes())
    (folder / "README.md").write_text("# My project\n")
    assert run("card", copy) == 1
    one_error_line(capsys, "README.md exists and is not a digitnet model card", "-o FILE.md")
    assert (folder / "README.md").read_text() == "# My project\n"
    assert run("export", copy, "--format", "torch", "-o", folder / "w.safetensors", "--card") == 1
    one_error_line(capsys, "is not a digitnet model card")
    assert run("card", copy, "--no-picture", "-o", folder / "CARD.md") == 0


# --------------------------------------------------------------------------- mistakes
@pytest.mark.parametrize("argv, needles", [
    (["export", "{model}", "--format", "onnx", "-o", "m.safetensors"], ["must end in .onnx for --format onnx"]),
    (["export", "{model}", "--format", "torch", "-o", "m.pt"], ["must end in .safetensors for --format torch"]),
    (["export", "{model}", "--format", "onnx", "-o", "m.onnx", "--opset", "12"], ["opset must be an integer from 17"]),
    (["export", "missing.safetensors", "--format", "onnx", "-o", "m.onnx"], ["no model file at missing.safetensors"]),
    (["import", "torch", "missing.safetensors", "--activation", "relu", "-o", "o.safetensors"], ["no state-dict file"]),
    (["import", "torch", "{model}", "--activation", "relu", "-o", "o.safetensors"], ["unexpected key(s) layers.0.bias", "looks like a digitnet model file"]),
    (["import", "torch", "{model}", "--activation", "relu", "-o", "o.onnx"], ["-o/--out must end in .safetensors"]),
    (["import", "torch", "{model}", "--activation", "relu", "-o", "{model}"], ["must differ from FILE"]),
    (["import", "torch", "{model}", "--layers", "784,x", "-o", "o.safetensors"], ["--layers must be comma-separated"]),
    (["card", "{model}", "-o", "card.txt"], ["model card file name must end in .md"]),
])
def test_mistakes_give_one_line_and_exit_1(model, in_tmp, capsys, argv, needles):
    assert run(*[a.replace("{model}", str(model)) for a in argv]) == 1
    one_error_line(capsys, *needles)
    assert not (in_tmp / "m.onnx").exists() and not (in_tmp / "o.safetensors").exists()


def test_import_without_activation_asks_for_it(in_tmp, capsys):
    from safetensors.numpy import save_file

    save_file({"0.weight": np.zeros((3, 4), np.float32), "0.bias": np.zeros(3, np.float32)}, "plain.safetensors")
    assert run("import", "torch", "plain.safetensors", "-o", "o.safetensors") == 1
    one_error_line(capsys, "does not record its activations", "--activation")


def test_missing_onnx_is_one_clear_line(model, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert run("export", model, "--format", "onnx", "-o", "m.onnx") == 1
    one_error_line(capsys, "pip install 'digitnet[onnx]'")
