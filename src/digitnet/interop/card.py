"""Model cards: a README.md in the Hugging Face layout describing one digitnet model.

YAML front matter (license, library_name, tags, datasets, metrics, and the results in
model-index form), then the card: what the model is, its architecture and parameter count
(Σₗ n_out·n_in + n_out over the layers), how it was trained, what it scores, what its input must
be, the picture of layer 0's weights, and how to load it.

Calibration: the expected calibration error over B = 15 equal-width confidence bins,
    ECE = Σ_b (n_b / n) · |accuracy_b − confidence_b|,
where confidence is the largest of net.probabilities(x) (a sigmoid output's values divided by
their sum) and accuracy_b the share of bin b's examples whose most probable class is right.
0 means the stated confidence is the hit rate; bigger is worse.

The front matter is written by hand (every string as a JSON string, which YAML reads as a
double-quoted scalar), so no YAML package is needed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from digitnet.files import atomic_write_bytes
from digitnet.modelfile import model_document
from digitnet.network import Network

CALIBRATION_BINS = 15
PICTURE_NEURONS = 64  # layer-0 neurons beyond which the card has no weights picture
# Hugging Face Hub ids of the data sets digitnet knows.
HUB_DATASETS = {"mnist": ("ylecun/mnist", "MNIST"), "fashion-mnist": ("zalando-datasets/fashion_mnist", "Fashion-MNIST")}
RECIPE_KEYS = ("loss", "optimizer", "learning_rate", "schedule", "batch_size", "epochs", "weight_decay",
               "momentum", "dropout", "augment", "patience", "validation_size", "init", "seed", "dtype")


# ----------------------------------------------------------------------------- measuring
def expected_calibration_error(probabilities: ArrayLike, labels: ArrayLike, bins: int = CALIBRATION_BINS) -> float:
    """ECE = Σ_b (n_b/n)|acc_b − conf_b| over `bins` equal-width bins of the top probability.

    probabilities: (n, k) rows summing to 1; labels: (n,) integers in 0..k−1.
    """
    P = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if P.ndim != 2 or labels.shape != (len(P),) or len(P) == 0:
        raise ValueError(f"probabilities must be (n, k) and labels (n,) with n ≥ 1; got {P.shape} and {labels.shape}")
    confidence = P.max(axis=1)  # (n,)
    correct = P.argmax(axis=1) == labels  # (n,)
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)  # bin of each example
    counts = np.bincount(which, minlength=bins)
    hits = np.bincount(which, weights=correct, minlength=bins)
    sure = np.bincount(which, weights=confidence, minlength=bins)
    return float(np.abs(hits - sure).sum() / len(P))  # Σ_b n_b/n · |hits_b/n_b − sure_b/n_b|


def measure(net: Network, x: ArrayLike, y: ArrayLike, dataset: str | None = None) -> dict[str, Any]:
    """What the card reports, measured now: accuracy and ECE on (x, y), with n and the split."""
    x = net.check_inputs(x, "x")
    labels = np.asarray(y)
    if labels.shape != (len(x),):
        raise ValueError(f"y must be {len(x)} labels; got shape {labels.shape}")
    probabilities = net.probabilities(x)
    return {
        "accuracy": float(np.mean(probabilities.argmax(axis=1) == labels)),
        "expected_calibration_error": expected_calibration_error(probabilities, labels),
        "examples": int(len(x)),
        "dataset": dataset,
        "split": "test",
    }


def recorded_calibration(net: Network) -> float | None:
    """An ECE recorded in the model file by training or evaluation, if there is one."""
    metadata = getattr(net, "metadata", {}) or {}
    for source in (metadata.get("metrics") or {}, metadata.get("calibration") or {}):
        for key in ("expected_calibration_error", "ece"):
            value = source.get(key) if isinstance(source, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    return None


# ----------------------------------------------------------------------------- the card
def model_card(
    net: Network,
    *,
    name: str | None = None,
    measured: dict[str, Any] | None = None,
    picture: str | None = None,
    files: dict[str, str] | None = None,
    license: str = "mit",
    model_file: str = "model.safetensors",
) -> str:
    """The README.md text. measured: from measure(); picture: relative path of the weights
    picture (None: no picture); files: {file name: what it is} for the files beside the card;
    model_file: the digitnet model file's name, for the usage example."""
    metadata = getattr(net, "metadata", {}) or {}
    metrics = metadata.get("metrics") or {}
    training = metadata.get("training") or {}
    dataset = (measured or {}).get("dataset") or metadata.get("dataset")
    sizes = "-".join(str(size) for size in net.sizes)
    name = name or f"digitnet-{sizes}-{net.activation}"
    accuracy = (measured or {}).get("accuracy", metrics.get("test_accuracy"))
    calibration = (measured or {}).get("expected_calibration_error", recorded_calibration(net))

    lines = _front_matter(net, name, dataset, accuracy, calibration, license)
    lines += [f"# {name}", "",
              f"A {sizes} fully connected network ({net.activation} hidden layers, {net.output_activation} "
              f"output) made with [digitnet](https://pypi.org/project/digitnet/), the network of 3Blue1Brown's "
              f"\"But what is a neural network?\" as a NumPy library. Each layer computes a' = σ(W·a + b).", ""]
    lines += _architecture(net)
    lines += _recipe(training, metrics)
    lines += _results(net, metrics, measured, accuracy, calibration, dataset)
    lines += _preprocessing(model_document(net).get("preprocessing"))  # the model file's, defaults included
    if picture:
        side = int(round(net.num_inputs ** 0.5))
        lines += ["## What layer 0 looks for", "",
                  f"Each tile is one first-layer neuron's {net.num_inputs} weights as a {side}×{side} picture (blue: "
                  "ink there raises its sum, red: lowers it), its bias below.", "", f"![Layer 0 weights]({picture})", ""]
    lines += _usage(net, files or {}, model_file)
    lines += ["## Limitations", ""]
    if dataset == "mnist":
        lines.append("- Trained and tested on MNIST digits: one centred digit, white ink on black, 28×28. Other "
                     "inputs must be prepared the same way; thick strokes and photos remain known failures.")
    elif dataset in HUB_DATASETS:
        lines.append(f"- Trained and tested on {HUB_DATASETS[dataset][1]} only; other images must be prepared "
                     "the same way.")
    elif isinstance(metadata.get("data"), dict) and isinstance(metadata["data"].get("counts"), dict):
        source, counts = metadata["data"], metadata["data"]["counts"]
        lines.append(f"- Trained on its maker's own data ({source.get('kind')} {dataset}: {sum(counts.get('train', []))} "
                     f"training and {sum(counts.get('test', []))} test examples); check it on yours before use.")
    else:
        lines.append("- The model file does not say what data it was trained on; check it on yours before use.")
    lines += ["- A fully connected network, no convolutions: sensitive to shifts and shapes it has not seen.", ""]
    return "\n".join(lines)


def write_card(
    net: Network,
    path: str | os.PathLike = "README.md",
    *,
    measured: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
    license: str = "mit",
    model_file: str = "model.safetensors",
    with_picture: bool = True,
) -> list[Path]:
    """Write the card (and its weights picture beside it when possible); returns the files written.

    The picture needs matplotlib, a square number of inputs and at most PICTURE_NEURONS neurons in
    layer 0 (one tile each); otherwise the card goes without it.
    """
    path = Path(path)
    if path.suffix.lower() != ".md":
        raise ValueError(f"model card file name must end in .md; got {str(path)!r}")
    written = []
    picture = None
    if with_picture:
        picture_path = path.with_name("weights.png" if path.stem == "README" else f"{path.stem}-weights.png")
        picture = _write_picture(net, picture_path)
        if picture is not None:
            written.append(picture)
    text = model_card(net, measured=measured, picture=picture.name if picture else None, files=files, license=license,
                      model_file=model_file)
    atomic_write_bytes(path, text.encode())
    return [path, *written]


def _write_picture(net: Network, path: Path) -> Path | None:
    from digitnet import inspection

    try:
        from digitnet import plots

        plots.require_matplotlib()
        inspection.image_side(net)
    except (ImportError, ValueError):
        return None  # no matplotlib, or inputs that are not a square image: a card without the picture
    if net.layers[0].n_out > PICTURE_NEURONS:
        return None  # hundreds of tiles make an unreadable picture (and take minutes)
    return plots.save_figure(plots.weights_figure(net, 0), path)


def _front_matter(net, name, dataset, accuracy, calibration, license) -> list[str]:
    hub = HUB_DATASETS.get(dataset or "")
    tags = ["digitnet", "numpy", "multilayer-perceptron", "image-classification"] + ([dataset] if dataset else [])
    lines = ["---", f"license: {_s(license)}", 'library_name: "digitnet"', "tags:", *[f"- {_s(t)}" for t in tags]]
    if hub:
        lines += ["datasets:", f"- {_s(hub[0])}"]
    results = [("accuracy", "Test accuracy", accuracy)]
    if calibration is not None:
        results.append(("expected_calibration_error", "Expected calibration error (15 bins)", calibration))
    results = [r for r in results if isinstance(r[2], (int, float))]
    if results:
        lines += ["metrics:", *[f"- {_s(kind)}" for kind, _, _ in results]]
    if results and hub:
        lines += ["model-index:", f"- name: {_s(name)}", "  results:", "  - task:",
                  '      type: "image-classification"', '      name: "Image Classification"',
                  "    dataset:", f"      name: {_s(hub[1])}", f"      type: {_s(hub[0])}", '      split: "test"',
                  "    metrics:"]
        for kind, label, value in results:
            lines += [f"    - type: {_s(kind)}", f"      value: {round(float(value), 6)}", f"      name: {_s(label)}"]
    return lines + ["---", ""]


def _architecture(net: Network) -> list[str]:
    lines = ["## Architecture", "", "| layer | weight W (n_out, n_in) | bias b | activation | parameters |",
             "|---|---|---|---|---|"]
    for index, layer in enumerate(net.layers):
        lines.append(f"| {index} | ({layer.n_out}, {layer.n_in}) | ({layer.n_out},) | {layer.activation} | "
                     f"{layer.num_parameters:,} |")
    weights = sum(layer.weight.size for layer in net.layers)
    biases = sum(layer.bias.size for layer in net.layers)
    return lines + ["", f"{net.num_parameters:,} parameters: {weights:,} weights and {biases:,} biases, "
                        f"stored as {net.dtype.name}.", ""]


def _recipe(training: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    if not training:
        return ["## Training", "", "The model file records no training recipe (imported or built by hand).", ""]
    lines = ["## Training", "", "| setting | value |", "|---|---|"]
    shown = [key for key in RECIPE_KEYS if training.get(key) not in (None, "")]
    if training.get("optimizer") != "momentum":
        shown = [key for key in shown if key != "momentum"]  # only the momentum optimizer uses it
    lines += [f"| {key} | {training[key]} |" for key in shown]
    if training.get("data"):  # trained on the user's own files, not on training["dataset"]
        test = f", test data {training['test_data']}" if training.get("test_data") else ""
        lines.append(f"| data | {training['data']}{test} |")
    elif "dataset" in training:
        lines.append(f"| dataset | {training['dataset']} |")
    notes = []
    if "epochs_run" in metrics:
        notes.append(f"{metrics['epochs_run']} epochs run")
    if metrics.get("best_epoch"):
        notes.append(f"weights from epoch {metrics['best_epoch']} (best on validation)")
    if "train_seconds" in metrics:
        notes.append(f"{metrics['train_seconds']:.1f} s of training")
    return lines + ([""] + ["; ".join(notes) + "."] if notes else []) + [""]


def _results(net, metrics, measured, accuracy, calibration, dataset) -> list[str]:
    lines = ["## Results", ""]
    if measured:
        where = HUB_DATASETS.get(dataset or "", (None, dataset or "the"))[1]
        lines.append(f"Measured when this card was written, on the {measured['examples']:,} {where} test images:")
        lines.append("")
    elif accuracy is not None:
        lines += ["As recorded in the model file by training:", ""]
    else:
        return lines + ["Not measured: the model file records no test score.", ""]
    lines += ["| metric | value |", "|---|---|"]
    if accuracy is not None:
        lines.append(f"| accuracy | {100 * float(accuracy):.2f}% |")
    if calibration is not None:
        lines.append(f"| expected calibration error (15 bins) | {float(calibration):.4f} |")
    if "val_accuracy" in metrics:
        lines.append(f"| validation accuracy (at training) | {100 * float(metrics['val_accuracy']):.2f}% |")
    if measured and "test_accuracy" in metrics:
        lines.append(f"| test accuracy recorded at training | {100 * float(metrics['test_accuracy']):.2f}% |")
    if calibration is not None and net.output_activation != "softmax":
        lines += ["", f"The {net.output_activation} outputs are not trained as probabilities; the calibration is "
                      "that of the outputs divided by their sum."]
    return lines + [""]


def _preprocessing(preprocessing: Any) -> list[str]:
    if not isinstance(preprocessing, dict):
        return []
    lines = ["## Input", ""]
    for key in ("input_shape", "flatten", "range", "ink"):
        if key in preprocessing:
            lines.append(f"- {key.replace('_', ' ')}: {preprocessing[key]}")
    steps = preprocessing.get("steps") or []
    if steps:
        lines += ["", "Preparing an image (what `digitnet predict` and the web page do): "
                  + "; ".join(map(str, steps)) + "."]
    return lines + [""]


def _usage(net: Network, files: dict[str, str], model_file: str) -> list[str]:
    lines = ["## How to use", ""]
    if files:
        lines += ["Files beside this card:", ""] + [f"- `{name}`: {what}" for name, what in files.items()] + [""]
    lines += ["```python", "import digitnet as dn", "", f"net = dn.load({json.dumps(model_file)})",
              f"net.predict(x)  # x: (n, {net.num_inputs}) float32 in [0, 1] -> (n,) class indices", "```", ""]
    onnx_files = [name for name in files if name.endswith(".onnx")]
    if onnx_files:
        lines += ["With onnxruntime:", "", "```python", "import onnxruntime as ort", "",
                  f'session = ort.InferenceSession("{onnx_files[0]}")',
                  'output = session.run(None, {"input": x})[0]  # what net.forward(x) returns', "```", ""]
    return lines


def _s(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of it)."""
    return json.dumps(str(text))


__all__ = ["expected_calibration_error", "measure", "model_card", "recorded_calibration", "write_card"]
