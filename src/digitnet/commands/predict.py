"""`digitnet predict MODEL PATH...`: read digits from image files, prepared as MNIST was.

`--test-index N` reads test digit N of the model's dataset instead (already 28×28), so there is
always something to try right after training. `--show-input` writes each 28×28 network input as
a PNG: one name per input (inputs sharing a stem get -2, -3, ...), never one of the input files
themselves; a picture that cannot be written is reported and the predictions are still printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ORDER = 35

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="read the digit in image files",
        description="Each image (PNG, JPEG, BMP, GIF, WebP; any size; grey, colour or transparent; a photo or a scan) "
        "is cleaned (background and lighting, noise, stray specks, stroke width) and prepared as MNIST digits were "
        "(cropped, longer side 20 px, centred by mass in 28x28), deskewed if the model was trained on deskewed "
        "digits, then read by the model. An image with no ink, or "
        "too little to be a digit, gets no digit (\"digit\": null and a \"note\" in --json). Answers less sure "
        "than the model's threshold (chosen on validation data) are marked unsure. Probabilities are calibrated "
        "(temperature scaling). Exit code 1 if any image could not be read.",
    )
    parser.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    parser.add_argument("paths", metavar="PATH", nargs="*", help="image files or folders of them")
    parser.add_argument("--test-index", type=int, metavar="N", action="append",
                        help="read test digit N of the model's dataset (repeatable), e.g. right after training")
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding the dataset's IDX files (for --test-index)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of {file, digit, label, probabilities, unsure} "
                        "(digit null and a note when the image holds no digit)")
    parser.add_argument(
        "--show-input", nargs="?", const=".", metavar="DIR_OR_PNG",
        help="write the 28x28 image the network saw, as <name>-input.png in DIR (default: the current "
        "folder; inputs sharing a name get -2, -3, ...), or to the given .png file when predicting one image; "
        "an input image is never overwritten",
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


def input_image_paths(target: str, names: list[str], inputs: list[Path]) -> list[Path]:
    """Where each input's 28x28 picture goes: target itself (a .png, one input), else
    target/<name>-input.png, with -2, -3, ... for names already taken. ValueError if one of
    them is an input file: --show-input never overwrites what it reads."""
    destination = Path(target)
    if len(names) == 1 and destination.suffix.lower() == ".png":
        paths = [destination]
    else:
        paths, taken = [], set()
        for name in names:
            candidate, number = f"{name}-input.png", 1
            while candidate in taken:
                number += 1
                candidate = f"{name}-{number}-input.png"
            taken.add(candidate)
            paths.append(destination / candidate)
    for path in paths:
        clash = next((image for image in inputs if _same_file(path, image)), None)
        if clash is not None:
            raise ValueError(f"--show-input would overwrite the input image {clash}; choose another file or folder")
    return paths


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): only equal names can clash
        return os.path.abspath(a) == os.path.abspath(b)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from digitnet.data.preprocess import NoDigitError, PreprocessError, to_mnist
    from digitnet.inspection.calibration import calibrated_probabilities, unsure_below
    from digitnet.modelfile import load
    from digitnet.data.prepare import prepare_for

    if args.top < 1:
        raise ValueError(f"--top must be at least 1; got {args.top}")
    if not args.paths and not args.test_index:
        raise ValueError("give image files or folders to read, or --test-index N for a test digit")
    net = load(args.model)
    if net.num_inputs != 784:
        raise ValueError(f"{args.model} takes {net.num_inputs} inputs; predict reads 28x28 images (784 inputs)")
    class_names = net.metadata.get("class_names") or [str(i) for i in range(net.num_outputs)]
    files = image_files(args.paths)
    tests = test_digits(net, args) if args.test_index else []
    names = [file.stem for file in files] + [f"test-{index}" for index, _, _ in tests]
    pictures = input_image_paths(args.show_input, names, files) if args.show_input is not None else None
    threshold = unsure_below(net)

    # Every input as (result so far, its 28x28 pixels or None).
    inputs: list[tuple[dict, object]] = []
    for file in files:
        try:
            inputs.append(({"file": str(file)}, prepare_for(net, to_mnist(file))))  # (28, 28), then the model's own steps (deskew)
        except NoDigitError as nothing:
            inputs.append(({"file": str(file), "digit": None, "label": None, "probabilities": None,
                            "unsure": False, "note": nothing.note}, None))
        except (PreprocessError, OSError) as error:
            inputs.append(({"file": str(file), "error": " ".join(str(error).split())}, None))
    for index, pixels, label in tests:
        inputs.append(({"test_index": index, "true_label": class_names[label]}, prepare_for(net, pixels.reshape(28, 28))))

    results, failures, unwritten = [], 0, []
    for number, (result, seen) in enumerate(inputs):
        if seen is None:
            failures += "error" in result
            results.append(result)
            continue
        probabilities = calibrated_probabilities(net, seen.reshape(1, 784))[0]
        digit = int(np.argmax(probabilities))
        result.update(digit=digit, label=class_names[digit], probabilities=[round(float(p), 6) for p in probabilities],
                      unsure=bool(probabilities[digit] < threshold))
        if pictures is not None:
            try:
                result["input_image"] = str(write_input(seen, pictures[number]))
            except (OSError, ValueError) as error:  # a full disk, a device, a read-only folder
                unwritten.append(f"could not write the network input {pictures[number]}: {_reason(error, pictures[number])}")
        results.append(result)

    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print_results(results, class_names, args.top)
    for problem in unwritten:
        print(f"digitnet: error: {problem}", file=sys.stderr)
    if failures:
        print(f"digitnet: {failures} of {len(inputs)} image(s) could not be read", file=sys.stderr)
    return 1 if failures or unwritten else 0


def test_digits(net, args: argparse.Namespace) -> list[tuple[int, object, int]]:
    """(index, pixels (784,), label) for each --test-index, from the model's dataset."""
    from digitnet.data import load_split

    name = net.metadata.get("dataset", "mnist")
    x, y = load_split(name, "test", data_dir=args.data_dir)
    for index in args.test_index:
        if not 0 <= index < len(x):
            raise ValueError(f"--test-index must be in 0..{len(x) - 1} ({name} has {len(x)} test digits); got {index}")
    return [(index, x[index], int(y[index])) for index in args.test_index]


def print_results(results: list[dict], class_names: list[str], top: int) -> None:
    import numpy as np

    for result in results:
        source = result.get("file") or f"test digit {result['test_index']} (a {result['true_label']})"
        if "error" in result:
            error = result["error"]  # (naming the file already, or not)
            print(f"digitnet: error: {error if error.startswith(source) else f'{source}: {error}'}", file=sys.stderr)
            continue
        if result["digit"] is None:
            print(f"{source}: no digit here ({result['note']})")
            continue
        order = np.argsort(result["probabilities"])[::-1][:top]
        shares = ", ".join(f"{class_names[i]} {result['probabilities'][i]:.1%}" for i in order)
        answer = f"{result['label']}, unsure" if result["unsure"] else result["label"]
        line = f"{source}: {answer}   ({shares})"
        if "input_image" in result:
            line += f"   network input: {result['input_image']}"
        print(line)


def _reason(error: BaseException, path: Path) -> str:
    from digitnet.files import not_a_regular_file

    kind = not_a_regular_file(path.parent)
    if kind not in (None, "missing", "a folder") and not kind.startswith("unreadable"):
        return f"{path.parent} is {kind}, not a folder"
    if kind is None:
        return f"{path.parent} is a file, not a folder"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return " ".join(str(error).split())


def write_input(seen, path: Path) -> Path:
    """Save the 28x28 network input as an 8-bit greyscale PNG (white ink on black, as MNIST)."""
    import numpy as np
    from PIL import Image

    from digitnet.files import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        Image.fromarray(np.round(seen * 255).astype(np.uint8), mode="L").save(temporary, format="PNG")
    return path
