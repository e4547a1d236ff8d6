"""`digitnet evaluate MODEL`: accuracy, per-class precision and recall, confusion matrix, calibration."""

from __future__ import annotations

import argparse
import json

ORDER = 30


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model on a test set",
        description="Accuracy, per-class precision and recall, the confusion matrix and the most confused pairs; "
        "the expected calibration error of the probabilities predict prints (temperature-scaled on validation data "
        "at training time) and how many answers are marked unsure.",
    )
    parser.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"], help="default: the one the model was trained on")
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding the four IDX files")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of tables")
    parser.add_argument("--plot", metavar="PNG", help="write a reliability diagram (confidence against accuracy) to PNG or SVG")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from digitnet.inspection.metrics import classification_report
    from digitnet.modelfile import load
    from digitnet.training.run import dataset_for

    net = load(args.model)
    data = dataset_for(net, args.dataset, args.data_dir, args.model)
    name = data.name
    report = classification_report(data.y_test, net.predict(data.x_test), list(data.class_names))
    calibration = calibration_summary(net, data.x_test, data.y_test, args.plot)
    if args.json:
        print(json.dumps({"model": str(args.model), "dataset": name, **report.to_dict(), "calibration": calibration}))
        return 0
    print_report(report, args.model, name)
    print_calibration(calibration)
    return 0


def calibration_summary(net, x, y, plot: str | None) -> dict:
    """ECE of the probabilities predict prints and of the network's own, the unsure share; the
    reliability diagram written to `plot` if given."""
    from digitnet.inspection import calibration

    shown = calibration.calibrated_probabilities(net, x)  # (n, k)
    own = net.probabilities(x)
    threshold = calibration.unsure_below(net)
    unsure = shown.max(axis=1) < threshold
    wrong = shown.argmax(axis=1) != y
    summary = {
        "expected_calibration_error": calibration.expected_calibration_error(shown, y),
        "expected_calibration_error_uncalibrated": calibration.expected_calibration_error(own, y),
        "temperature": calibration.temperature_of(net),
        "unsure_below": threshold,
        "calibrated_on_validation": "calibration" in net.metadata,
        "unsure_share": float(unsure.mean()),
        "unsure_wrong_share": float(wrong[unsure].mean()) if unsure.any() else None,
    }
    if plot:
        from digitnet.inspection.plots import reliability_figure, save_figure

        figure = reliability_figure({"the network's own probabilities": (own, y),
                                     f"as predict prints them (T = {summary['temperature']:.2f})": (shown, y)},
                                    title="Reliability on the test set")
        summary["plot"] = str(save_figure(figure, plot))
    return summary


def print_calibration(summary: dict) -> None:
    source = ("fitted on validation data at training time" if summary["calibrated_on_validation"]
              else "no calibration stored in this model: T = 1 and the default threshold")
    print(f"Calibration: expected calibration error {summary['expected_calibration_error']:.2%} "
          f"(the network's own probabilities: {summary['expected_calibration_error_uncalibrated']:.2%}); "
          f"temperature {summary['temperature']:.3g}, {source}.")
    line = f"Unsure: answers under {summary['unsure_below']:.0%} confidence, {summary['unsure_share']:.1%} of the test set"
    if summary["unsure_wrong_share"] is not None:
        line += f", {summary['unsure_wrong_share']:.0%} of them wrong"
    print(line + ".")
    if "plot" in summary:
        print(f"Reliability diagram: {summary['plot']}")


def print_report(report, model: str, dataset: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    total = int(report.confusion.sum())
    console.print(f"{model} on the {dataset} test set: accuracy {report.accuracy:.2%} "
                  f"({int(report.confusion.trace())} of {total})")
    per_class = Table(title="Per class")
    for column in ("class", "precision", "recall", "support"):
        per_class.add_column(column, justify="right")
    for name, p, r, s in zip(report.class_names, report.precision, report.recall, report.confusion.sum(axis=1)):
        per_class.add_row(name, f"{p:.2%}", f"{r:.2%}", str(int(s)))
    console.print(per_class)
    confusion = Table(title="Confusion matrix (rows: true class, columns: predicted)")
    confusion.add_column("")
    short = [name[:6] for name in report.class_names]
    for name in short:
        confusion.add_column(name, justify="right")
    for name, row in zip(short, report.confusion):
        confusion.add_row(name, *(str(int(v)) for v in row))
    console.print(confusion)
    pairs = report.most_confused()
    if pairs:
        console.print("Most confused: " + ", ".join(f"{t} taken for {p} ({c}×)" for t, p, c in pairs))
