"""Accuracy on real-looking pictures, per kind, next to the same digits' clean accuracy.

    .venv/bin/python benchmarks/realworld.py                 # 1,000 digits per kind, every preset
    .venv/bin/python benchmarks/realworld.py --count 200 --presets modern --out /tmp/r.md

The same N MNIST test digits (drawn with --seed) become a picture of every kind in
realworld_kinds.KINDS (a PNG or JPEG file's bytes, made in memory), and each picture goes through
`digitnet.data.preprocess.to_mnist` exactly as `digitnet predict` reads a file. Each preset's model
(models/NAME.safetensors; trained with `digitnet train --preset NAME` first if missing, unless
--no-train) then reads them; its accuracy on the clean 28×28 originals of the same digits is the
reference. A picture preprocessing refuses (no digit found) counts as a miss. Printed digits
(the machine's fonts, 0–9 each) are reported apart: MNIST has no printed digits to compare with.

The table goes into BENCHMARKS.md between the markers below (the rest of the file is kept), or
to --out; --json writes the numbers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from realworld_kinds import KINDS, font_files, font_picture, make_picture  # noqa: E402

BEGIN, END = "<!-- realworld:begin -->", "<!-- realworld:end -->"
PRESETS = ("3b1b", "modern", "best")


def prepare_kind(kind: str, digits: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X (n, 784) of the pictures of `kind` after preprocessing, and which were refused (n,)."""
    from digitnet.data.preprocess import NoDigitError, to_mnist

    X = np.zeros((len(digits), 784), dtype=np.float32)
    refused = np.zeros(len(digits), dtype=bool)
    base = seed * 1_000_003 + sum(map(ord, kind)) * 10_007
    for i, x in enumerate(digits):
        try:
            X[i] = to_mnist(make_picture(kind, x.reshape(28, 28), base + i)).reshape(784)
        except NoDigitError:
            refused[i] = True
    return X, refused


def prepare_fonts(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Printed digits 0-9 in every font found (and Pillow's own): X, labels, refused, fonts."""
    from digitnet.data.preprocess import NoDigitError, to_mnist

    fonts = [*font_files(), None]
    rows, labels, refused = [], [], []
    for f, font in enumerate(fonts):
        for digit in range(10):
            try:
                rows.append(to_mnist(font_picture(digit, font, seed * 1000 + f * 10 + digit)).reshape(784))
                refused.append(False)
            except NoDigitError:
                rows.append(np.zeros(784, np.float32))
                refused.append(True)
            labels.append(digit)
    return np.array(rows), np.array(labels), np.array(refused), len(fonts)


def model_for(preset: str, models: Path, train: bool) -> Path | None:
    path = models / f"{preset}.safetensors"
    if not path.exists() and train:
        print(f"training {preset} (digitnet train --preset {preset}) ...", flush=True)
        subprocess.run([sys.executable, "-m", "digitnet", "train", "--preset", preset, "--out", str(path)],
                       check=True, cwd=ROOT)
    return path if path.exists() else None


def measure(args) -> dict:
    import digitnet as dn

    data = dn.datasets.load("mnist")
    rng = np.random.default_rng(args.seed)
    index = np.sort(rng.choice(len(data.x_test), size=args.count, replace=False))
    digits, labels = data.x_test[index], data.y_test[index]
    kinds = [k for k in KINDS if not args.kinds or any(s in k for s in args.kinds.split(","))]
    prepared, seconds = {}, {}
    for kind in kinds:
        start = time.perf_counter()
        prepared[kind] = prepare_kind(kind, digits, args.seed)
        seconds[kind] = time.perf_counter() - start
        print(f"prepared {kind}: {args.count} pictures in {seconds[kind]:.1f} s", flush=True)
    fonts = prepare_fonts(args.seed) if not args.no_fonts else None

    from digitnet.data.prepare import prepare_for

    results = {"count": args.count, "seed": args.seed, "kinds": kinds, "presets": {}}
    for preset in args.presets.split(","):
        path = model_for(preset, Path(args.models), not args.no_train)
        if path is None:
            print(f"skipping {preset}: no {args.models}/{preset}.safetensors", flush=True)
            continue
        net = dn.load(path)
        read = lambda X: net.predict(prepare_for(net, X))  # noqa: E731  (the model's own steps: deskew)
        clean = float(np.mean(read(digits) == labels))
        shown = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
        row = {"model": str(shown), "clean": clean, "test_accuracy": net.metadata.get("metrics", {}).get("test_accuracy"),
               "kinds": {}}
        for kind in kinds:
            X, refused = prepared[kind]
            right = (read(X) == labels) & ~refused
            row["kinds"][kind] = {"accuracy": float(right.mean()), "refused": int(refused.sum())}
        if fonts is not None:
            X, y, refused, n_fonts = fonts
            row["printed"] = {"accuracy": float(((read(X) == y) & ~refused).mean()), "fonts": n_fonts,
                              "count": int(len(y))}
        results["presets"][preset] = row
    results["seconds_per_picture"] = {k: seconds[k] / args.count for k in kinds}
    return results


def table(results: dict, command: str) -> str:
    presets = list(results["presets"])
    lines = [BEGIN, "## Real-world input: accuracy per kind of picture", "",
             f"Command: `{command}` ({datetime.date.today()}) — {results['count']} MNIST test digits "
             f"(seed {results['seed']}), each drawn as "
             "every kind of picture below by `benchmarks/realworld_kinds.py` and read back through "
             "`digitnet.data.preprocess.to_mnist`, as `digitnet predict` reads a file. Δ is the accuracy on that "
             "kind minus the same model's accuracy on the same digits' clean 28×28 originals (first row); a picture "
             "refused as \"no digit\" counts as a miss (how many, in brackets). Each digit is "
             f"{100 / results['count']:.2g} points, and a Δ within about ±{100 * 2 * (0.03 / results['count']) ** 0.5:.1f} "
             "points is noise (two standard errors of a 97% accuracy).", ""]
    header = "| kind | " + " | ".join(f"{p} | Δ" for p in presets) + " |"
    lines += [header, "|---|" + "---:|---:|" * len(presets)]
    lines.append("| clean 28×28 (reference) | " + " | ".join(
        f"{results['presets'][p]['clean']:.2%} | " for p in presets) + " |")
    for kind in results["kinds"]:
        cells = []
        for p in presets:
            got = results["presets"][p]["kinds"][kind]
            delta = 100 * (got["accuracy"] - results["presets"][p]["clean"])
            refused = f" ({got['refused']} refused)" if got["refused"] else ""
            cells.append(f"{got['accuracy']:.2%}{refused} | {delta:+.1f}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    worst = {p: min(100 * (v["accuracy"] - results["presets"][p]["clean"]) for v in results["presets"][p]["kinds"].values())
             for p in presets}
    lines.append("| **worst Δ** | " + " | ".join(f" | **{worst[p]:+.1f}**" for p in presets) + " |")
    if all("printed" in results["presets"][p] for p in presets):
        first = results["presets"][presets[0]]["printed"]
        lines += ["", f"Printed digits ({first['fonts']} fonts × 10 digits, black on white; no clean MNIST "
                  "reference): " + ", ".join(f"{p} {results['presets'][p]['printed']['accuracy']:.1%}" for p in presets)
                  + ". MNIST holds handwriting only: printed 1s, 4s and 7s look unlike its writers'."]
    models = ", ".join(f"{p}: `{results['presets'][p]['model']}` (MNIST test accuracy "
                       f"{results['presets'][p]['test_accuracy']:.2%})" for p in presets
                       if results['presets'][p].get('test_accuracy') is not None)
    spent = np.mean(list(results["seconds_per_picture"].values()))
    lines += ["", "What is lost and why: a bold marker fills a digit's loops (a 6, 8, 9 or 0 becomes a blob) and "
              "thinning the strokes back toward MNIST's pen (digitnet/data/strokes.py) recovers most of it but not "
              "the holes. The modern and best presets are taught such blobs: `marker` adds to the training set a "
              "third of its digits redrawn with a marker and prepared as a picture's digit is "
              "(digitnet/data/marker.py), and `closing` fills small loops of three in ten images each epoch. On "
              "3,500 other marker pictures, modern (seeds 0-2) reads 0.3-1.0 points more of them with both than "
              "with `closing` alone, best (seed 0) 0.8 more: see digitnet/training/presets.py. An 8 whose two loops "
              "both filled is as stubby as a tap on the pad, but it has a waist, which a dot has not: it is read, "
              "not refused (`strokes.is_dot`; 9 of 3,500 marker pictures were refused before, 0.26 points). A "
              "fleck of the scan that the marker draws as a dot beside or inside the digit is left out when it is "
              "no longer than 1.5 pens (`select_digit`, `PEN_DOT`): on the same 3,500, best reads 5 more of them "
              "and modern 3. A turned digit is "
              "not turned back for a model that does not deskew (3b1b), while deskewing (modern, best) stands it "
              "upright again. Two steps exist for two kinds alone: a sharp shadow is evened out "
              "(digitnet/data/cleanup.py, `even_out_shadow`) and a box drawn around the digit is left out "
              "(digitnet/data/components.py, `frames`); without them, on 300 pictures of each kind, the presets "
              "read 38-43 and 61-75 points less of them. On a form, a printed line under the digit is lifted off "
              "like a ruling and a line drawn under it is left out (`ruled_lines`, `select_digit`): without that, "
              "58-61 points less (400 pictures). A line drawn under the digit and touching it stays: joined to it, "
              "it is a 2's base. A dot or blot of ink beside the digit is left out (a blot that is not stroke-like and "
              "lies outside the digit's box by half its own width or more, or by a tenth of it when it is 1.2 times "
              "the digit's pen or thicker: `select_digit`): without that, 35-56 points less (300 pictures). A "
              "blot longer than 1.5 pens and closer than that, or inside the digit's box, stays: a pen that "
              "skipped leaves such a fragment."]
    lines += ["", f"Models: {models}. Preprocessing took {1000 * spent:.0f} ms per picture on average "
              "(pictures 250–1200 px; this shared machine's load inflates it).", END]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    from digitnet.files import atomic_write_bytes

    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1:]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    atomic_write_bytes(path, text.encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="MNIST test digits per kind (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets (default: all)")
    parser.add_argument("--models", default=str(ROOT / "models"), help="folder of PRESET.safetensors files")
    parser.add_argument("--no-train", action="store_true", help="skip presets without a model instead of training")
    parser.add_argument("--kinds", help="only kinds whose names contain one of these comma-separated words")
    parser.add_argument("--no-fonts", action="store_true", help="leave out the printed digits")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md", help="file to write the section into")
    parser.add_argument("--json", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"--count must be at least 1; got {args.count}")
    results = measure(args)
    if not results["presets"]:
        print("no model to measure", file=sys.stderr)
        return 1
    command = "python benchmarks/realworld.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    section = table(results, command.strip())
    print(section)
    write_section(args.out, section)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
