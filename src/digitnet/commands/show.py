"""`digitnet show ...`: pictures of a model as PNG or SVG files (see digitnet.plots).

    digitnet show weights MODEL [--layer 0]          every neuron's weights as a 28×28 picture
    digitnet show activations MODEL IMAGE            a digit flowing through the layers
    digitnet show activations MODEL --test-index N   ... an MNIST test digit instead
    digitnet show neuron MODEL --layer L --index J   one neuron up close
    digitnet show mistakes MODEL                     the test digits it got wrong most surely
    digitnet show confusion MODEL                    the confusion matrix on the test set
    digitnet show training HISTORY_OR_MODEL          loss and accuracy per epoch
    digitnet show backprop MODEL IMAGE --label N     backpropagation for one example (the video's lesson)

Layers are numbered from 0, as everywhere in digitnet (layer 0 maps the 784 pixels to the first
hidden layer). The picture goes to -o/--out (.png or .svg), by default <model stem>-<what>.png in
the current directory; the path written is printed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ORDER = 50

DATASETS = ["mnist", "fashion-mnist"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "show",
        help="pictures of weights, activations, neurons, mistakes, training (PNG or SVG)",
        description="Draw what is inside a model. Layers are numbered from 0 (layer 0: pixels to the first hidden layer). "
        "Each picture is written to -o FILE (.png or .svg; default <model stem>-<what>.png here).",
    )
    parser.set_defaults(run=lambda args: parser.print_help() or 2)
    pictures = parser.add_subparsers(title="pictures", metavar="PICTURE")

    weights = _picture(pictures, "weights", "every neuron's weights as a 28×28 tile, its bias under it")
    weights.add_argument("--layer", type=int, default=0,
                         help="layer 0 (default): the weights themselves; deeper: what each neuron looks for (rows of W_L⋯W_0)")
    weights.set_defaults(run=_guarded(show_weights))

    activations = _picture(pictures, "activations", "a digit flowing through the network, as in the video")
    activations.add_argument("image", metavar="IMAGE", nargs="?", help="an image file of a digit (PNG, JPEG, ...), prepared like MNIST")
    activations.add_argument("--test-index", type=int, metavar="N", help="use MNIST test digit N instead of an image file")
    activations.add_argument("--connections", type=int, default=36, metavar="K", help="strongest connections drawn into each layer (default 36)")
    _data_options(activations)
    activations.set_defaults(run=_guarded(show_activations))

    neuron = _picture(pictures, "neuron", "one neuron: its picture, bias, activation histogram, top digits")
    neuron.add_argument("--layer", type=int, default=0, help="the neuron's layer, from 0 (default 0)")
    neuron.add_argument("--index", type=int, required=True, help="the neuron's index in its layer, from 0")
    neuron.add_argument("--top", type=int, default=16, metavar="K", help="training digits that excite it most to show (default 16)")
    _data_options(neuron)
    neuron.set_defaults(run=_guarded(show_neuron))

    mistakes = _picture(pictures, "mistakes", "the misclassified test digits it was surest of")
    mistakes.add_argument("--count", type=int, default=25, metavar="K", help="how many (default 25)")
    _data_options(mistakes)
    mistakes.set_defaults(run=_guarded(show_mistakes))

    confusion = _picture(pictures, "confusion", "the confusion matrix on the test set")
    _data_options(confusion)
    confusion.set_defaults(run=_guarded(show_confusion))

    backprop = _picture(pictures, "backprop", "backpropagation for one example: nudges, wishes, weight changes, one step")
    backprop.add_argument("image", metavar="IMAGE", help="an image file of a digit (PNG, JPEG, ...), prepared like MNIST")
    backprop.add_argument("--label", type=int, required=True, metavar="N", help="the digit it really is (the target)")
    backprop.add_argument("--loss", help="the cost (default: the model's training loss)")
    backprop.add_argument("--neurons", type=int, default=4, metavar="K", help="layer-0 neurons whose weight change is pictured (default 4)")
    backprop.add_argument("--lr", type=float, dest="learning_rate", metavar="ETA", help="η of the step shown (default: the model's SGD rate, else 3)")
    backprop.set_defaults(run=_guarded(show_backprop))

    training = pictures.add_parser(
        "training", help="loss and accuracy per epoch (from a model file or a .history.json)",
        description="Loss and accuracy per epoch, training vs validation vs test, from a model file's "
        "metadata or a *.history.json file written by digitnet train.",
    )
    training.add_argument("model", metavar="HISTORY_OR_MODEL", help="a .safetensors model file or a .history.json file")
    _output_options(training)
    training.set_defaults(run=_guarded(show_training))


def _picture(pictures, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = pictures.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
    parser.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    _output_options(parser)
    return parser


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--out", metavar="FILE", help="picture to write, .png or .svg (default <model stem>-<picture>.png)")
    parser.add_argument("--dpi", type=int, default=100, help="pixels per inch of a PNG (default 100)")


def _data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=DATASETS, help="default: the one the model was trained on")
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding the four IDX files")


def _guarded(function):
    """Run a picture command; a missing matplotlib becomes one clear line (exit 1)."""

    def run(args: argparse.Namespace) -> int:
        from digitnet.inspection import plots

        try:
            plots.require_matplotlib()
        except ImportError as error:
            raise ValueError(str(error)) from None
        # Output arguments are checked before any model or data is read.
        if args.out and Path(args.out).suffix.lower() not in plots.FORMATS:
            raise ValueError(f"-o/--out must end in .png or .svg; got {args.out!r}")
        _check_dpi(args.dpi)
        return function(args)

    return run


# --------------------------------------------------------------------------- helpers


def _out_path(args: argparse.Namespace, what: str) -> Path:
    if args.out:
        return Path(args.out)
    stem = Path(args.model).name
    for suffix in (".safetensors", ".json", ".history"):
        stem = stem.removesuffix(suffix)
    return Path(f"{stem}-{what}.png")


def _check_dpi(dpi: int) -> int:
    if not 10 <= dpi <= 600:
        raise ValueError(f"--dpi must be between 10 and 600; got {dpi}")
    return dpi


def _save(figure, args: argparse.Namespace, what: str, note: str = "") -> int:
    from digitnet.inspection import plots

    path = _out_path(args, what)
    plots.save_figure(figure, path, dpi=args.dpi)
    print(f"Wrote {path}" + (f" ({note})" if note else ""))
    return 0


def _load_model(path: str):
    from digitnet.modelfile import load

    return load(path)


def _load_data(net, args: argparse.Namespace):
    """The dataset the model was trained on (or --dataset), checked against the network's shape."""
    from digitnet.training.run import dataset_for

    return dataset_for(net, args.dataset, args.data_dir, args.model)


# --------------------------------------------------------------------------- the pictures


def show_weights(args: argparse.Namespace) -> int:
    from digitnet import inspection
    from digitnet.inspection import plots

    net = _load_model(args.model)
    layer = inspection.check_layer(net, args.layer)
    figure = plots.weights_figure(net, layer)
    kind = "weights" if layer == 0 else "weighted pictures, a linear approximation"
    return _save(figure, args, "weights" if layer == 0 else f"weights-layer{layer}",
                 f"layer {layer}: {net.layers[layer].n_out} neurons, {kind}")


def show_activations(args: argparse.Namespace) -> int:
    from digitnet.inspection import plots

    net = _load_model(args.model)
    if (args.image is None) == (args.test_index is None):
        raise ValueError("give either an IMAGE file or --test-index N (an MNIST test digit), not both or neither")
    label = None
    if args.image is not None:
        from digitnet.data.prepare import prepare_for
        from digitnet.data.preprocess import to_mnist

        x = prepare_for(net, to_mnist(args.image)).reshape(-1)  # (784,), as the model reads it
        source = f"{args.image}, prepared like MNIST"
    else:
        data = _load_data(net, args)
        count = len(data.x_test)
        if not 0 <= args.test_index < count:
            raise ValueError(f"--test-index must be in 0..{count - 1}; got {args.test_index}")
        x, label = data.x_test[args.test_index], int(data.y_test[args.test_index])
        source = f"{data.name} test digit {args.test_index}"
    if args.connections < 1:
        raise ValueError(f"--connections must be a positive integer; got {args.connections}")
    figure = plots.activations_figure(net, x, label=label, connections=args.connections)
    return _save(figure, args, "activations", source)


def show_neuron(args: argparse.Namespace) -> int:
    from digitnet import inspection
    from digitnet.inspection import plots

    net = _load_model(args.model)
    layer, index = inspection.check_neuron(net, args.layer, args.index)
    if args.top < 1:
        raise ValueError(f"--top must be a positive integer; got {args.top}")
    data = _load_data(net, args)
    figure = plots.neuron_figure(net, layer, index, data.x_test, data.x_train, data.class_names, top=args.top)
    return _save(figure, args, f"neuron-{layer}-{index}", f"layer {layer}, index {index}")


def show_mistakes(args: argparse.Namespace) -> int:
    from digitnet.inspection import plots

    net = _load_model(args.model)
    if args.count < 1:
        raise ValueError(f"--count must be a positive integer; got {args.count}")
    data = _load_data(net, args)
    figure = plots.mistakes_figure(net, data.x_test, data.y_test, data.class_names, count=args.count)
    return _save(figure, args, "mistakes")


def show_confusion(args: argparse.Namespace) -> int:
    from digitnet.inspection import plots

    net = _load_model(args.model)
    data = _load_data(net, args)
    figure = plots.confusion_figure(net, data.x_test, data.y_test, data.class_names)
    return _save(figure, args, "confusion")


def show_backprop(args: argparse.Namespace) -> int:
    from digitnet.data.preprocess import to_mnist
    from digitnet.inspection import plots

    net = _load_model(args.model)
    x = to_mnist(args.image).reshape(-1)  # (784,)
    figure = plots.backprop_figure(net, x, args.label, loss=args.loss, neurons=args.neurons, learning_rate=args.learning_rate)
    return _save(figure, args, "backprop", f"{args.image} as a {args.label}")


def read_history(path: str) -> tuple[dict, int | None, str]:
    """(history, best epoch or None, title) from a *.history.json file or a model file's metadata."""
    source = Path(path)
    if source.suffix.lower() == ".json":
        try:
            history = json.loads(source.read_text())
        except OSError as error:
            raise ValueError(f"cannot read history file {path}: {error.strerror or error}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not a JSON history file: {error}") from None
        best = None
        model = source.with_name(source.name.removesuffix(".history.json") + ".safetensors")
        if model.is_file():  # the model beside it knows which epoch it kept
            try:
                best = _load_model(str(model)).metadata.get("metrics", {}).get("best_epoch")
            except ValueError:
                best = None
        title = f"Training of {source.name.removesuffix('.history.json')}"
    else:
        net = _load_model(path)
        history = net.metadata.get("history")
        if not history:
            raise ValueError(f"{path} has no training history in its metadata; pass its .history.json file instead")
        best = net.metadata.get("metrics", {}).get("best_epoch")
        title = f"Training of {source.name.removesuffix('.safetensors')}"
        training = net.metadata.get("training") or {}
        if isinstance(training, dict) and training.get("loss") and training.get("optimizer"):
            title += f" ({training['loss']} cost, {training['optimizer']}, learning rate {training.get('learning_rate')})"
    if not isinstance(history, dict) or not isinstance(history.get("records"), list) or not history["records"]:
        raise ValueError(f"{path} holds no training records; expected {{\"records\": [{{\"epoch\": 1, ...}}, ...]}}")
    return history, best if isinstance(best, int) else None, title


def show_training(args: argparse.Namespace) -> int:
    from digitnet.inspection import plots

    history, best, title = read_history(args.model)
    figure = plots.training_figure(history, title=title, best_epoch=best)
    return _save(figure, args, "training", f"{len(history['records'])} epochs")
