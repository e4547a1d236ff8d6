"""`digitnet predict MODEL PATH...`: read digits from image files, prepared as MNIST was."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ORDER = 35

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="read the digit in image files",
        description="Each image (PNG, JPEG, BMP, GIF, WebP; any size; grey, colour or transparent) is "
        "prepared as MNIST digits were (ink found, cropped, longer side 20 px, centred by mass in 28x28), "
        "deskewed if the model was trained on deskewed digits, and read by the model. "
        "Exit code 1 if any image could not be read.",
    )
    parser.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    parser.add_argument("paths", metavar="PATH", nargs="+", help="image files or folders of them")
    parser.add_argument("--json", action="store_true", help="print a JSON list of {file, digit, probabilities}")
    parser.add_argument(
        "--show-input", nargs="?", const=".", metavar="DIR_OR_PNG",
        help="write the 28x28 image the network saw, as <name>-input.png in DIR (default: the current "
        "folder), or to the given .png file when predicting one image",
    )
    parser.add_argument("--top", type=int, default=3, help="how many probabilities to print (default 3)")
    parser.set_defaults(run=run)


def image_files(paths: list[str]) -> list[Path]:
    """Expand folders into the image files they hold (sorted); plain files pass through."""
    files: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise ValueError(f"{path} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
            files.extend(found)
        else:
            files.append(path)
    return files


def input_image_path(target: str, image: Path, single: bool) -> Path:
    destination = Path(target)
    if single and destination.suffix.lower() == ".png":
        return destination
    return destination / f"{image.stem}-input.png"


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from digitnet.modelfile import load
    from digitnet.data.prepare import prepare_for
    from digitnet.data.preprocess import PreprocessError, to_mnist

    if args.top < 1:
        raise ValueError(f"--top must be at least 1; got {args.top}")
    net = load(args.model)
    if net.num_inputs != 784:
        raise ValueError(f"{args.model} takes {net.num_inputs} inputs; predict reads 28x28 images (784 inputs)")
    class_names = net.metadata.get("class_names") or [str(i) for i in range(net.num_outputs)]
    files = image_files(args.paths)
    results, failures = [], 0
    for file in files:
        try:
            seen = prepare_for(net, to_mnist(file))  # (28, 28), then the model's own steps (deskew)
        except (PreprocessError, OSError) as error:
            failures += 1
            results.append({"file": str(file), "error": " ".join(str(error).split())})
            continue
        probabilities = net.probabilities(seen.reshape(1, 784))[0]
        digit = int(np.argmax(probabilities))
        result = {"file": str(file), "digit": digit, "label": class_names[digit],
                  "probabilities": [round(float(p), 6) for p in probabilities]}
        if args.show_input is not None:
            result["input_image"] = str(write_input(seen, input_image_path(args.show_input, file, len(files) == 1)))
        results.append(result)

    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for result in results:
            if "error" in result:
                print(f"digitnet: error: {result['file']}: {result['error']}", file=sys.stderr)
                continue
            order = np.argsort(result["probabilities"])[::-1][: args.top]
            shares = ", ".join(f"{class_names[i]} {result['probabilities'][i]:.1%}" for i in order)
            line = f"{result['file']}: {result['label']}   ({shares})"
            if "input_image" in result:
                line += f"   network input: {result['input_image']}"
            print(line)
    if failures:
        print(f"digitnet: {failures} of {len(files)} image(s) could not be read", file=sys.stderr)
        return 1
    return 0


def write_input(seen, path: Path) -> Path:
    """Save the 28x28 network input as an 8-bit greyscale PNG (white ink on black, as MNIST)."""
    import numpy as np
    from PIL import Image

    from digitnet.files import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        Image.fromarray(np.round(seen * 255).astype(np.uint8), mode="L").save(temporary, format="PNG")
    return path
