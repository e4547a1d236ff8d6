"""`digitnet import torch FILE.safetensors --activation ... -o OUT.safetensors`: a model from PyTorch.

FILE is the state dict of a torch.nn.Sequential of Linear layers and activations, saved with
safetensors (keys 0.weight, 0.bias, 2.weight, ...). The Linear layers are taken in index order;
--activation names the hidden layers' activation and --output the output's (default: what the
file records when digitnet exported it, else the same as --activation). The result is a digitnet
model file: `inspect`, `show`, `predict`, `evaluate` and `serve` all work on it.
"""

from __future__ import annotations

import argparse

ORDER = 72
ACTIVATIONS = "sigmoid, relu, leaky_relu, tanh, identity"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "import",
        help="make a digitnet model from a PyTorch state dict",
        description="Read the state dict of a torch.nn.Sequential (Linear layers and activations) saved "
        "as .safetensors and write it as a digitnet model file.",
    )
    parser.add_argument("kind", choices=["torch"], help="the format of FILE (torch)")
    parser.add_argument("file", metavar="FILE", help="a .safetensors state dict: 0.weight, 0.bias, 2.weight, ...")
    parser.add_argument("--layers", metavar="SIZES", help="layer sizes to expect, e.g. 784,16,16,10 (checked against FILE)")
    parser.add_argument("--activation", help=f"hidden activation: {ACTIVATIONS}")
    parser.add_argument("--output", help="output activation (default: as --activation), e.g. softmax or identity")
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"],
                        help="the data the model was trained on (evaluate and show default to it)")
    parser.add_argument("-o", "--out", required=True, metavar="OUT", help="digitnet model file to write (.safetensors)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import digitnet as dn
    from digitnet.interop.torch_files import load_state_dict

    out = Path(args.out)
    if out.suffix.lower() != ".safetensors":
        raise ValueError(f"-o/--out must end in .safetensors; got {str(out)!r}")
    if Path(args.file).resolve() == out.resolve():
        raise ValueError("-o/--out must differ from FILE (the state dict would be overwritten)")
    sizes = parse_sizes(args.layers) if args.layers else None
    net = load_state_dict(args.file, args.activation, args.output, sizes)
    if args.dataset:

        class_names = list(dn.datasets.DATASETS[args.dataset].class_names)
        if len(class_names) != net.num_outputs:
            raise ValueError(f"{args.dataset} has {len(class_names)} classes; the model has {net.num_outputs} outputs")
        net.metadata.update(dataset=args.dataset, class_names=class_names)
    dn.save(net, out)
    sizes_text = "-".join(str(size) for size in net.sizes)
    print(f"Wrote {out}: {sizes_text} ({net.activation} hidden, {net.output_activation} output), "
          f"{net.num_parameters:,} parameters. Look inside: digitnet inspect {out}")
    return 0


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--layers must be comma-separated integers like 784,16,16,10; got {text!r}") from None
    return sizes
