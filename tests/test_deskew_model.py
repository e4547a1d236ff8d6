"""A model trained with --deskew reads every input deskewed: through the real entry points.

`digitnet train --deskew` (one short epoch on real MNIST) records it in the model file;
`evaluate` scores the deskewed test set (the accuracy training measured, not the raw digits');
`predict` deskews an image file after the MNIST-style preparation (and --show-input shows that);
the web app's /api/predict reads the pixels deskewed and says so in "seen".
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

import digitnet
from digitnet import cli
from digitnet.data import load_split
from digitnet.data.deskew import deskew, slant
from digitnet.data.preprocess import to_mnist

pytestmark = pytest.mark.slow


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deskew")
    out = folder / "upright.safetensors"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("XDG_STATE_HOME", str(folder / "state"))
        code, _, err = run_cli("train", "--epochs", "1", "--layers", "784,16,10", "--batch-size", "100",
                               "--validation-size", "5000", "--seed", "11", "--deskew", "--out", str(out))
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def mnist_test():
    return load_split("mnist", "test")


def test_the_model_file_records_deskew(trained):
    net = digitnet.load(trained)
    assert net.metadata["preprocessing"]["deskew"] is True
    assert net.metadata["preprocessing"]["steps"][-1].startswith("deskew")
    assert net.metadata["training"]["deskew"] is True


def test_evaluate_scores_the_deskewed_test_set(trained, mnist_test, capsys):
    x, y = mnist_test
    assert cli.main(["evaluate", str(trained), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    net = digitnet.load(trained)
    deskewed = float(np.mean(net.predict(deskew(x)) == y))
    raw = float(np.mean(net.predict(x) == y))
    assert report["accuracy"] == deskewed == net.metadata["metrics"]["test_accuracy"]
    assert raw != deskewed  # so the equality above could have failed


def test_predict_deskews_the_prepared_image(trained, mnist_test, tmp_path, capsys):
    x, y = mnist_test
    index = int(np.argmax(np.abs(slant(x[:200]))))  # a strongly slanted test digit
    assert abs(slant(x[index])[0]) > 0.4
    digit = Image.fromarray(np.round(x[index].reshape(28, 28) * 255).astype(np.uint8), mode="L")
    file = tmp_path / "slanted.png"
    digit.resize((280, 280), Image.Resampling.BICUBIC).save(file)
    seen_file = tmp_path / "seen.png"

    assert cli.main(["predict", str(trained), str(file), "--json", "--show-input", str(seen_file)]) == 0
    [result] = json.loads(capsys.readouterr().out)
    net = digitnet.load(trained)
    prepared = to_mnist(file)  # (28, 28): MNIST-style, not yet deskewed
    expected = deskew(prepared)
    np.testing.assert_allclose(result["probabilities"], net.probabilities(expected.reshape(1, 784))[0], atol=2e-6)
    shown = np.asarray(Image.open(seen_file), dtype=np.float32) / 255
    assert np.abs(shown - expected).max() <= 0.5 / 255 + 1e-6  # the PNG is the deskewed input
    assert np.abs(shown - prepared).max() > 0.3  # which is not the undeskewed one


def test_the_web_app_reads_pixels_deskewed(trained, mnist_test):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    from digitnet.web import create_app
    from digitnet.web.server import BackgroundServer

    x, _ = mnist_test
    index = int(np.argmax(np.abs(slant(x[:200]))))
    net = digitnet.load(trained)
    with BackgroundServer(create_app(trained)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.post("/api/predict", json={"pixels": x[index].tolist()})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = deskew(x[index])
    np.testing.assert_array_equal(np.float32(body["seen"]).reshape(784), expected)
    np.testing.assert_array_equal(np.float32(body["outputs"]), net.forward(expected.reshape(1, 784))[0])
