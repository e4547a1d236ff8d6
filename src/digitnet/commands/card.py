"""`digitnet card MODEL [-o README.md]`: a Hugging Face model card for a model file.

The card's accuracy and calibration are measured on the test set of the data the model was
trained on (or --dataset), unless --no-measure; the weights picture is written beside it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ORDER = 75
CARD_MARK = 'library_name: "digitnet"'


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "card",
        help="write a Hugging Face model card (README.md) for a model",
        description="A README.md in the Hugging Face model-card layout: YAML front matter (license, "
        "library_name, tags, datasets, metrics as model-index), architecture, parameter count, training "
        "recipe, measured accuracy and calibration, and the picture of layer 0's weights beside it.",
    )
    parser.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    parser.add_argument("-o", "--out", metavar="FILE", help="card to write (default: README.md beside MODEL)")
    add_card_options(parser)
    parser.set_defaults(run=run)


def add_card_options(parser: argparse.ArgumentParser) -> None:
    """The options shared with `digitnet export --card`."""
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"], help="measure on this test set "
                        "(default: the one the model was trained on)")
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding the four IDX files")
    parser.add_argument("--no-measure", action="store_true", help="report only what the model file records")
    parser.add_argument("--license", default="mit", help="license for the front matter (default mit)")
    parser.add_argument("--no-picture", action="store_true", help="no weights picture")


def run(args: argparse.Namespace) -> int:
    from digitnet.modelfile import load

    net = load(args.model)
    out = Path(args.out) if args.out else Path(args.model).parent / "README.md"
    if not args.out:
        refuse_foreign_readme(out)
    for path in write(net, out, args, model_file=Path(args.model).name):
        print(f"Wrote {path}")
    return 0


def refuse_foreign_readme(path: Path) -> None:
    """A default README.md is only replaced when it is a digitnet model card already."""
    if path.exists():
        try:
            text = path.read_text(errors="replace")[:2000]
        except OSError:
            text = ""
        if CARD_MARK not in text:
            raise ValueError(f"{path} exists and is not a digitnet model card; name the card with -o FILE.md")


def write(net, out: Path, args: argparse.Namespace, *, model_file: str, files: dict[str, str] | None = None) -> list[Path]:
    """Measure (unless told not to) and write the card and its picture."""
    from digitnet.interop.card import write_card

    if out.suffix.lower() != ".md":  # checked before any data is read
        raise ValueError(f"model card file name must end in .md; got {str(out)!r}")
    measured = None if args.no_measure else measurement(net, args.dataset, args.data_dir)
    return write_card(net, out, measured=measured, files=files, license=args.license, model_file=model_file,
                      with_picture=not args.no_picture)


def measurement(net, dataset: str | None, data_dir) -> dict | None:
    """Accuracy and ECE on the test set of `dataset` or the model's own; None if it records none."""
    from digitnet.interop.card import measure
    from digitnet.training.run import dataset_for

    name = dataset or net.metadata.get("dataset")
    if not name:
        return None
    data = dataset_for(net, dataset, data_dir)  # trained with --data: its own held-out split
    return measure(net, data.x_test, data.y_test, data.name)
