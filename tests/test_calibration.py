"""digitnet.inspection.calibration: ECE, reliability, temperature scaling, the unsure threshold,
and where they show: the model file (written at training time), `digitnet evaluate` and
`digitnet predict`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import digitnet
from digitnet import cli
from digitnet.data import load_split
from digitnet.data.datasets import Dataset
from digitnet.inspection import calibration
from digitnet.training.config import TrainConfig
from digitnet.training.run import run_training

PRETRAINED = Path(digitnet.__file__).parent / "pretrained" / "3b1b.safetensors"


def sampled(Z: np.ndarray, temperature: float, seed: int = 0) -> np.ndarray:
    """Labels drawn from softmax(Z / T): data for which T is the right temperature."""
    rng = np.random.default_rng(seed)
    P = calibration.softmax_with_temperature(Z, temperature)
    return (P.cumsum(axis=1) > rng.random((len(Z), 1))).argmax(axis=1)


def test_fit_temperature_finds_the_temperature_the_labels_were_drawn_with():
    Z = np.random.default_rng(1).normal(0, 4, (20_000, 10))
    for true in (0.5, 1.0, 2.5):
        assert calibration.fit_temperature(Z, sampled(Z, true)) == pytest.approx(true, rel=0.08)


def test_temperature_keeps_every_answer_and_lowers_overconfidence():
    Z = np.random.default_rng(2).normal(0, 4, (5_000, 10))
    y = sampled(Z, 3.0)  # the logits are 3x too sharp for these labels
    raw = calibration.softmax_with_temperature(Z, 1.0)
    fitted = calibration.softmax_with_temperature(Z, calibration.fit_temperature(Z, y))
    assert np.array_equal(raw.argmax(1), fitted.argmax(1))
    before, after = calibration.expected_calibration_error(raw, y), calibration.expected_calibration_error(fitted, y)
    assert before > 0.15 and after < 0.03


def test_ece_is_the_weighted_gap_per_bin():
    # Two bins used: confidence 0.95 (all right: gap 0.05) and 0.55 (half right: gap 0.05).
    P = np.array([[0.95, 0.05]] * 10 + [[0.55, 0.45]] * 10)
    y = np.array([0] * 10 + [0] * 5 + [1] * 5)
    assert calibration.expected_calibration_error(P, y) == pytest.approx(0.05)
    table = calibration.reliability(P, y)
    assert table["count"].sum() == 20 and np.nansum(table["accuracy"] * table["count"]) == 15
    perfect = np.array([[1.0, 0.0]] * 4)
    assert calibration.expected_calibration_error(perfect, np.zeros(4, int)) == 0.0


def test_unsure_threshold_marks_answers_wrong_half_the_time():
    # Three classes; confidence (the top probability, class 0) from 0.36 to 0.95.
    confidence = np.array([0.36, 0.38, 0.40, 0.45, 0.60, 0.70, 0.80, 0.95])
    P = np.stack([confidence, (1 - confidence) / 2, (1 - confidence) / 2], axis=1)
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0])  # three of the four least confident are wrong
    # Below 0.75 six answers, three wrong: half. Below 0.85, three of seven: less than half.
    assert calibration.unsure_threshold(P, y) == pytest.approx(0.75)
    assert calibration.unsure_threshold(P, np.zeros(8, int)) == 0.0  # never wrong: nothing is unsure
    assert calibration.unsure_threshold(P, np.ones(8, int)) > 0.95  # always wrong: everything is


def test_labels_are_checked():
    with pytest.raises(ValueError, match=r"y must be 2 integer labels"):
        calibration.expected_calibration_error(np.eye(2), [0.5, 1.0])


def test_a_model_without_a_record_uses_temperature_1_and_the_default_threshold():
    net = digitnet.load(PRETRAINED)  # the video's network: sigmoid outputs
    net.metadata = {key: value for key, value in net.metadata.items() if key != "calibration"}  # as older files
    assert calibration.temperature_of(net) == 1.0
    assert calibration.unsure_below(net) == calibration.DEFAULT_UNSURE_BELOW
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    np.testing.assert_array_equal(calibration.calibrated_probabilities(net, x), net.probabilities(x))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A softmax network trained 2 epochs on 6,000 MNIST images, 2,000 of them for validation."""
    x, y = load_split("mnist", "train")
    test_x, test_y = load_split("mnist", "test")
    data = Dataset("mnist", x[:6000], y[:6000], test_x[:2000], test_y[:2000], tuple(str(k) for k in range(10)))
    config = TrainConfig(sizes=[784, 32, 10], activation="relu", output_activation="softmax", loss="cross-entropy",
                         init="he", optimizer="adam", learning_rate=3e-3, batch_size=32, epochs=2,
                         validation_size=2000, seed=3)
    out = tmp_path_factory.mktemp("calibrated") / "small.safetensors"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(out.parent / "state"))
        run_training(config, data, out, say=lambda _: None)
    return out, data


def test_training_stores_the_calibration_in_the_model_file(small_run):
    out, data = small_run
    net = digitnet.load(out)
    record = net.metadata["calibration"]
    assert set(record) == {"temperature", "unsure_below", "ece_before", "ece_after", "validation_size"}
    assert record["validation_size"] == 2000
    # It is what the library computes from the same validation split.
    again = calibration.calibration_record(net, data.x_train[-2000:], data.y_train[-2000:])
    assert again["temperature"] == pytest.approx(record["temperature"], rel=1e-4)
    assert record["ece_after"] <= record["ece_before"] + 1e-9
    assert 0.0 <= record["unsure_below"] <= 1.0
    T = calibration.temperature_of(net)
    P = calibration.calibrated_probabilities(net, data.x_test[:5])
    np.testing.assert_allclose(P, calibration.softmax_with_temperature(calibration.logits(net, data.x_test[:5]), T),
                               rtol=1e-5)
    np.testing.assert_allclose(calibration.softmax_with_temperature(calibration.logits(net, data.x_test[:5]), 1.0),
                               net.probabilities(data.x_test[:5]), rtol=1e-4, atol=1e-6)


def test_calibrated_from_activations_already_computed_is_calibrated_probabilities(small_run):
    # The web page computes one activation trace per drawing and reads every figure from it.
    net = digitnet.load(small_run[0])
    assert calibration.temperature_of(net) != 1.0
    sigmoid = digitnet.load(PRETRAINED)
    for model in (net, sigmoid):
        x = small_run[1].x_test[:7]
        A = model.activations(x)
        np.testing.assert_allclose(calibration.calibrated_from(model, A[-2], A[-1]),
                                   calibration.calibrated_probabilities(model, x), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(model.shares(A[-1]), model.probabilities(x), rtol=1e-5, atol=1e-7)


def test_evaluate_reports_calibration_and_draws_the_diagram(small_run, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    out, _ = small_run
    plot = tmp_path / "reliability.png"
    assert cli.main(["evaluate", str(out), "--json", "--plot", str(plot)]) == 0
    report = json.loads(capsys.readouterr().out)["calibration"]
    assert report["calibrated_on_validation"] is True
    assert 0 <= report["expected_calibration_error"] < 0.1
    assert report["temperature"] == digitnet.load(out).metadata["calibration"]["temperature"]
    assert plot.stat().st_size > 5_000 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli.main(["evaluate", str(out)]) == 0
    text = capsys.readouterr().out
    assert "expected calibration error" in text and "Unsure: answers under" in text


def test_predict_prints_calibrated_probabilities_and_marks_unsure(small_run, capsys, tmp_path):
    out, data = small_run
    from PIL import Image

    net = digitnet.load(out)
    P = calibration.calibrated_probabilities(net, data.x_test[:200])
    confidence = P.max(axis=1)
    picks = [int(np.argmax(confidence)), int(np.argmin(confidence))]  # surest, least sure
    paths = []
    for k in picks:
        path = tmp_path / f"{k}.png"
        Image.fromarray(np.round(data.x_test[k].reshape(28, 28) * 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    assert cli.main(["predict", str(out), *paths, "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    threshold = calibration.unsure_below(net)
    for result in results:
        from digitnet.data.preprocess import to_mnist

        expected = calibration.calibrated_probabilities(net, to_mnist(result["file"]).reshape(1, 784))[0]
        np.testing.assert_allclose(result["probabilities"], expected, atol=1e-6)
        assert result["unsure"] == bool(expected.max() < threshold)
    assert results[0]["unsure"] is False
    if results[1]["unsure"]:  # the least sure of 200 test digits usually is
        assert cli.main(["predict", str(out), paths[1]]) == 0
        assert ", unsure" in capsys.readouterr().out
