"""`digitnet evaluate MODEL`: accuracy, per-class precision and recall, confusion matrix."""

from __future__ import annotations

import argparse
import json

ORDER = 30


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model on a test set",
        description="Accuracy, per-class precision and recall, the confusion matrix and the most confused pairs.",
    )
    parser.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"], help="default: the one the model was trained on")
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding the four IDX files")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of tables")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from digitnet.inspection.metrics import classification_report
    from digitnet.modelfile import load
    from digitnet.training.run import dataset_for

    net = load(args.model)
    data = dataset_for(net, args.dataset, args.data_dir, args.model)
    name = data.name
    report = classification_report(data.y_test, net.predict(data.x_test), list(data.class_names))
    if args.json:
        print(json.dumps({"model": str(args.model), "dataset": name, **report.to_dict()}))
        return 0
    print_report(report, args.model, name)
    return 0


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
