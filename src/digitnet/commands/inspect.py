"""`digitnet inspect MODEL [--json]`: what is inside a model, as tables.

Layers (numbered from 0, as everywhere in digitnet), their activations and parameter counts
(weights and biases separately; 13,002 in all for the video's 784-16-16-10), weight and bias
statistics, and how the layers behave on the test set: mean |activation|, dead ReLU neurons,
saturated sigmoid/tanh activations, and the test accuracy. The numbers come from
digitnet.inspection; --json prints them as one object with at least "parameters" and "layers".
"""

from __future__ import annotations

import argparse
import json

ORDER = 40


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="layers, parameter counts, weight statistics, dead and saturated neurons",
        description="A summary of a model: its layers (numbered from 0), parameters per layer, weight and bias "
        "statistics, and on the test set the mean activation, dead ReLU neurons, saturated sigmoid/tanh "
        "activations and the accuracy.",
    )
    parser.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"], help="default: the one the model was trained on")
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding the four IDX files")
    parser.add_argument("--no-data", action="store_true", help="only the weights: skip the test-set statistics")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of tables")
    parser.set_defaults(run=run)


def summary(net, model: str, data=None) -> dict:
    """Everything `inspect` reports, as a JSON-ready dict."""
    from digitnet import inspection

    counts = inspection.parameter_counts(net)
    result = {
        "model": str(model),
        "architecture": {
            "sizes": list(net.sizes),
            "activation": net.activation,
            "output_activation": net.output_activation,
            "dtype": net.dtype.name,
        },
        "parameters": {
            "layers": counts,
            "weights": sum(c["weights"] for c in counts),
            "biases": sum(c["biases"] for c in counts),
            "total": net.num_parameters,
        },
        "dataset": None,
        "test_images": None,
        "test_accuracy": None,
        "layers": inspection.layer_statistics(net, None if data is None else data.x_test),
        "training": net.metadata.get("training"),
        "metrics": net.metadata.get("metrics"),
    }
    if data is not None:
        result["dataset"] = data.name
        result["test_images"] = int(len(data.x_test))
        result["test_accuracy"] = float((net.predict(data.x_test) == data.y_test).mean())
    return result


def run(args: argparse.Namespace) -> int:
    from digitnet.modelfile import load
    from digitnet.training.run import dataset_for

    net = load(args.model)
    data = None
    if not args.no_data:
        try:
            data = dataset_for(net, args.dataset, args.data_dir, args.model)
        except ValueError as error:
            raise ValueError(f"{error} (use --no-data for the weights only)") from None
    result = summary(net, args.model, data)
    if args.json:
        print(json.dumps(result))
        return 0
    print_summary(result)
    return 0


def _fraction(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def print_summary(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    architecture = result["architecture"]
    parameters = result["parameters"]
    output = architecture["output_activation"]
    activation = architecture["activation"] + ("" if output == architecture["activation"] else f", {output} output")
    line = (f"{result['model']}: {'-'.join(map(str, architecture['sizes']))} network ({activation}), "
            f"{parameters['total']:,} parameters")
    if result["test_accuracy"] is not None:
        line += f"; test accuracy {result['test_accuracy']:.2%} on {result['test_images']:,} {result['dataset']} images"
    console.print(line)

    table = Table(title="Layers (numbered from 0; layer L computes a = σ(W·a + b) from the layer before)")
    for column in ("layer", "connects", "activation", "weights", "biases", "parameters"):
        table.add_column(column, justify="right" if column in ("weights", "biases", "parameters") else "left")
    for counts, stats in zip(parameters["layers"], result["layers"]):
        n_out, n_in = counts["shape"]
        table.add_row(str(counts["layer"]), f"{n_in} → {n_out}", stats["activation"],
                      f"{counts['weights']:,}", f"{counts['biases']:,}", f"{counts['total']:,}")
    table.add_section()
    table.add_row("total", "", "", f"{parameters['weights']:,}", f"{parameters['biases']:,}", f"{parameters['total']:,}")
    console.print(table)

    table = Table(title="Weights and biases")
    for column in ("layer", "weight mean ± std", "weight range", "bias mean ± std", "bias range"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for stats in result["layers"]:
        table.add_row(
            str(stats["layer"]),
            f"{stats['weight_mean']:+.2f} ± {stats['weight_std']:.2f}",
            f"{stats['weight_min']:+.2f} to {stats['weight_max']:+.2f}",
            f"{stats['bias_mean']:+.2f} ± {stats['bias_std']:.2f}",
            f"{stats['bias_min']:+.2f} to {stats['bias_max']:+.2f}",
        )
    console.print(table)

    if result["test_accuracy"] is None:
        console.print("Activation statistics skipped (--no-data).")
        return
    table = Table(title=f"On the {result['test_images']:,} test images")
    for column in ("layer", "activation", "mean |a|", "dead neurons", "saturated activations"):
        table.add_column(column, justify="left" if column in ("layer", "activation") else "right")
    for stats in result["layers"]:
        dead = _fraction(stats["dead_fraction"])
        if stats["dead_neurons"]:
            listed = ", ".join(map(str, stats["dead_neurons"][:8])) + (" …" if len(stats["dead_neurons"]) > 8 else "")
            dead += f" ({listed})"
        table.add_row(str(stats["layer"]), stats["activation"], f"{stats['mean_abs_activation']:.3f}", dead,
                      _fraction(stats["saturated_fraction"]))
    console.print(table)
    console.print("dead: ReLU neurons never active on any test image (they pass no gradient); "
                  "saturated: sigmoid below 0.01 or above 0.99, tanh beyond ±0.99 (σ' ≈ 0 there, so learning through them is slow); "
                  "— : not applicable to this activation.")
    for hint in _hints(result):
        console.print(f"Hint: {hint}")


def _hints(result: dict) -> list[str]:
    """Where to look when performance disappoints."""
    hints = []
    for stats in result["layers"]:
        if stats["dead_fraction"] and stats["dead_fraction"] >= 0.25:
            hints.append(f"layer {stats['layer']}: {stats['dead_fraction']:.0%} of its ReLU neurons are dead; "
                         "try a smaller learning rate, He init, or leaky_relu")
        if stats["saturated_fraction"] and stats["saturated_fraction"] >= 0.9 and stats["layer"] < len(result["layers"]) - 1:
            hints.append(f"layer {stats['layer']}: {stats['saturated_fraction']:.0%} of its activations are saturated, "
                         "so its neurons act as on/off switches and σ' ≈ 0 slows learning through them; usual for a "
                         "trained sigmoid network, but if accuracy stalls, compare --preset modern (ReLU, softmax)")
    accuracy = result["test_accuracy"]
    if accuracy is not None and accuracy < 0.2:
        hints.append(f"test accuracy {accuracy:.1%} is near chance: training probably diverged or stalled "
                     "(try a smaller learning rate, or check the inputs are in [0, 1])")
    return hints
