"""`digitnet export MODEL --format onnx|torch -o FILE`: the model in another tool's format.

onnx:  an ONNX graph (opset 17+) computing exactly net.forward; input "input" (N, n_inputs)
       float32, output "output"; classes, preprocessing and metrics in its metadata.
torch: a state dict for torch.nn.Sequential (0.weight, 0.bias, 2.weight, ...) as .safetensors;
       prints the lines of PyTorch that rebuild the module.
--card also writes a Hugging Face model card (README.md) beside the file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from digitnet.commands import card

ORDER = 70
SUFFIXES = {"onnx": ".onnx", "torch": ".safetensors"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a model as ONNX or as a PyTorch state dict",
        description="Write MODEL as an ONNX graph (run it in onnxruntime) or as a state dict for "
        "torch.nn.Sequential (safetensors); --card adds a model card beside it.",
    )
    parser.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    parser.add_argument("--format", required=True, choices=sorted(SUFFIXES), help="onnx or torch")
    parser.add_argument("-o", "--out", required=True, metavar="FILE", help="file to write (.onnx or .safetensors)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--card", action="store_true", help="also write README.md (a model card) beside FILE")
    card.add_card_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from digitnet.modelfile import load

    out = Path(args.out)
    suffix = SUFFIXES[args.format]
    if out.suffix.lower() != suffix:  # checked before anything is read or written
        raise ValueError(f"-o/--out must end in {suffix} for --format {args.format}; got {str(out)!r}")
    card_path = out.parent / "README.md"
    if args.card:
        card.refuse_foreign_readme(card_path)
    net = load(args.model)
    try:
        if args.format == "onnx":
            described = export_onnx(net, out, args.opset)
        else:
            described = export_torch(net, out)
    except ImportError as error:
        raise ValueError(str(error)) from None
    if args.card:
        files = {out.name: described}
        for path in card.write(net, card_path, args, model_file=Path(args.model).name, files=files):
            print(f"Wrote {path}")
    return 0


def export_onnx(net, out: Path, opset: int) -> str:
    from digitnet.interop.onnx import INPUT_NAME, OUTPUT_NAME, save_onnx

    save_onnx(net, out, opset)
    output_type = "float32" if net.dtype.name == "float32" else "float64"
    print(f"Wrote {out}: ONNX opset {opset}, checked with onnx.checker; input {INPUT_NAME!r} "
          f"(N, {net.num_inputs}) float32 -> output {OUTPUT_NAME!r} (N, {net.num_outputs}) {output_type} = net.forward")
    return (f"ONNX graph (opset {opset}): input `{INPUT_NAME}` (N, {net.num_inputs}) float32, "
            f"output `{OUTPUT_NAME}` = net.forward")


def export_torch(net, out: Path) -> str:
    from digitnet.interop.torch import save_state_dict, torch_code

    save_state_dict(net, out)
    print(f"Wrote {out}: a state dict for torch.nn.Sequential. Rebuild the module with:")
    print()
    print(torch_code(net, out.name))
    return "PyTorch state dict for torch.nn.Sequential (safetensors)"
