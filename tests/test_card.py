"""Model cards: the expected calibration error against hand-worked cases, the YAML front matter
in Hugging Face's model-index form (parsed back with PyYAML when it is installed), and the card's
architecture, recipe, results and picture.
"""

from __future__ import annotations

import numpy as np
import pytest

import digitnet as dn
from digitnet.interop.card import PICTURE_NEURONS, expected_calibration_error, measure, model_card, write_card


def front_matter(text: str) -> str:
    assert text.startswith("---\n")
    return text.split("---\n")[1]


# --------------------------------------------------------------------------- calibration
def test_ece_is_zero_when_confidence_is_the_hit_rate():
    # 4 examples at confidence 0.75, 3 of them right; 2 at 1.0, both right.
    P = np.array([[0.75, 0.25]] * 4 + [[1.0, 0.0]] * 2)
    labels = np.array([0, 0, 0, 1, 0, 0])
    assert expected_calibration_error(P, labels) == pytest.approx(0.0, abs=1e-12)


def test_ece_by_hand():
    # Bin of 0.9: 2 examples, 1 right -> |0.5 − 0.9| · 2/4; bin of 0.6: 2 examples, 2 right -> |1 − 0.6| · 2/4.
    P = np.array([[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.4, 0.6]])
    labels = np.array([0, 0, 0, 1])
    assert expected_calibration_error(P, labels) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    overconfident = np.array([[0.95, 0.05]] * 10)
    assert expected_calibration_error(overconfident, np.ones(10, int)) == pytest.approx(0.95)


def test_ece_checks_its_shapes():
    with pytest.raises(ValueError, match=r"probabilities must be \(n, k\) and labels \(n,\)"):
        expected_calibration_error(np.ones((3, 2)) / 2, np.zeros(4, int))


def test_measure_reports_accuracy_and_calibration():
    rng = np.random.default_rng(0)
    net = dn.Network([784, 8, 10], activation="relu", output_activation="softmax", seed=0)
    x, y = rng.random((200, 784), dtype=np.float32), rng.integers(0, 10, 200)
    measured = measure(net, x, y, "mnist")
    assert measured["accuracy"] == pytest.approx(float(np.mean(net.predict(x) == y)))
    assert measured["expected_calibration_error"] == pytest.approx(expected_calibration_error(net.forward(x), y))
    assert measured["examples"] == 200


# --------------------------------------------------------------------------- the card
@pytest.fixture
def trained_net() -> dn.Network:
    net = dn.Network([784, 16, 16, 10], seed=0)
    net.metadata = {
        "dataset": "mnist",
        "class_names": [str(j) for j in range(10)],
        "training": dn.TrainConfig(epochs=3).to_dict(),
        "metrics": {"test_accuracy": 0.9123, "val_accuracy": 0.915, "epochs_run": 3, "best_epoch": 2,
                    "train_seconds": 1.5},
    }
    return net


def test_front_matter_is_hugging_face_model_index(trained_net):
    yaml = pytest.importorskip("yaml")
    measured = {"accuracy": 0.9321, "expected_calibration_error": 0.0123, "examples": 10_000, "dataset": "mnist"}
    card = yaml.safe_load(front_matter(model_card(trained_net, measured=measured, license="apache-2.0")))
    assert card["license"] == "apache-2.0" and card["library_name"] == "digitnet"
    assert "digitnet" in card["tags"] and "mnist" in card["tags"]
    assert card["datasets"] == ["ylecun/mnist"]
    assert card["metrics"] == ["accuracy", "expected_calibration_error"]
    (entry,) = card["model-index"]
    (result,) = entry["results"]
    assert result["task"]["type"] == "image-classification"
    assert result["dataset"] == {"name": "MNIST", "type": "ylecun/mnist", "split": "test"}
    assert {m["type"]: m["value"] for m in result["metrics"]} == {"accuracy": 0.9321, "expected_calibration_error": 0.0123}


def test_card_body(trained_net):
    text = model_card(trained_net, measured={"accuracy": 0.9321, "expected_calibration_error": 0.0123,
                                             "examples": 10_000, "dataset": "mnist"}, picture="weights.png")
    assert "13,002 parameters: 12,960 weights and 42 biases" in text
    assert "| 0 | (16, 784) | (16,) | sigmoid | 12,560 |" in text
    assert "| learning_rate | 3.0 |" in text and "| batch_size | 10 |" in text
    assert "| momentum |" not in text  # plain SGD: momentum plays no part
    assert "on the 10,000 MNIST test images" in text
    assert "| accuracy | 93.21% |" in text and "| expected calibration error (15 bins) | 0.0123 |" in text
    assert "| test accuracy recorded at training | 91.23% |" in text
    assert "![Layer 0 weights](weights.png)" in text
    assert "crop to the ink's bounding box" in text


def test_card_without_measurement_uses_the_recorded_figures(trained_net):
    text = model_card(trained_net)
    assert "As recorded in the model file by training" in text and "| accuracy | 91.23% |" in text
    assert "calibration" not in front_matter(text)
    trained_net.metadata["metrics"]["expected_calibration_error"] = 0.05
    assert "| expected calibration error (15 bins) | 0.0500 |" in model_card(trained_net)


def test_card_of_an_imported_model_says_what_it_does_not_know():
    net = dn.Network([5, 4, 3], activation="relu", output_activation="softmax", seed=0)
    text = model_card(net)
    assert "records no training recipe" in text and "Not measured" in text
    assert "datasets:" not in front_matter(text) and "model-index" not in front_matter(text)


def test_write_card_writes_the_weights_picture_beside_it(trained_net, tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    written = write_card(trained_net, tmp_path / "README.md", model_file="tiny.safetensors")
    assert [p.name for p in written] == ["README.md", "weights.png"]
    with Image.open(tmp_path / "weights.png") as image:
        assert image.format == "PNG" and image.size[0] > 200
    text = (tmp_path / "README.md").read_text()
    assert "![Layer 0 weights](weights.png)" in text and 'dn.load("tiny.safetensors")' in text
    other = write_card(trained_net, tmp_path / "card.md", with_picture=False)
    assert [p.name for p in other] == ["card.md"] and "![" not in other[0].read_text()


@pytest.mark.parametrize("sizes", [[5, 4, 3], [784, PICTURE_NEURONS + 1, 10]])
def test_no_picture_when_it_cannot_be_drawn(tmp_path, sizes):
    net = dn.Network(sizes, seed=0)
    written = write_card(net, tmp_path / "README.md")
    assert [p.name for p in written] == ["README.md"] and "![" not in written[0].read_text()


def test_card_file_must_be_markdown(trained_net, tmp_path):
    with pytest.raises(ValueError, match=r"must end in \.md"):
        write_card(trained_net, tmp_path / "README.txt")
