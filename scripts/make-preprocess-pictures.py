"""Before/after pictures of preprocessing a noisy phone photo, for the README: docs/preprocess-photo.png.

    python scripts/make-preprocess-pictures.py [--digit 11] [--out docs/preprocess-photo.png]

The photo is made here, from an MNIST test digit (MNIST in the cache: `digitnet data fetch
mnist`): written in dark blue on cream paper, lit from one side, with sensor grain, a fleck of dirt
and JPEG at quality 35 (benchmarks/realworld_kinds.py draws it). Row one prepares it the textbook
way (one background colour from the border, crop to everything that differs from it); row two
is digitnet.data.preprocess.to_mnist. Under each 28×28 input: what the packaged 3b1b network
reads. Needs matplotlib (pip install -e '.[plots]').
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from realworld_kinds import crop_coverage, lighting_field, paint, photo, place, stroke_coverage  # noqa: E402


def noisy_photo(x: np.ndarray, seed: int = 4) -> bytes:
    rng = np.random.default_rng(seed)
    size = (480, 640)
    cover = place(crop_coverage(stroke_coverage(x, 230)), size, rng, margin=0.2)
    fleck = Image.fromarray(np.round(cover * 255).astype(np.uint8))
    ImageDraw.Draw(fleck).ellipse((560, 70, 571, 80), fill=255)  # dirt on the lens, or a pen dot
    rgb = paint(np.asarray(fleck, np.float32) / 255, (25, 35, 90), (235, 225, 200))
    rgb = rgb * lighting_field(size, rng, 0.55)[..., None]
    return photo(rgb, rng, noise=0.05, blur=1.0, quality=35)


def textbook(data: bytes) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """The textbook way: ink = distance to the border's colour; crop to ink ≥ 15% of the peak;
    longer side to 20 px; centre of mass to the centre. Returns (ink map, 28×28, box)."""
    from digitnet.data import cleanup, preprocess, strokes

    colour = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32) / 255
    ink = cleanup.ink_from_background(colour, cleanup.border_background(colour))
    ink = ink / ink.max()
    top, bottom, left, right = preprocess.crop_to_ink(ink)
    digit = strokes.resize_longer_side(ink[top:bottom, left:right], 20)
    return ink, preprocess.centre_by_mass(digit / digit.max())[0], (left, top, right, bottom)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digit", type=int, default=11, help="index of the MNIST test digit (default 11: a 6)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "preprocess-photo.png")
    args = parser.parse_args()

    import digitnet as dn
    from digitnet.data import cleanup, preprocess
    from digitnet.inspection.plots import require_matplotlib, save_figure
    from digitnet.inspection.plots.canvas import new_figure

    require_matplotlib()
    x, y = dn.data.load_split("mnist", "test")
    data = noisy_photo(x[args.digit].reshape(28, 28))
    net = dn.load(Path(dn.__file__).parent / "pretrained" / "3b1b.safetensors")

    before_ink, before, before_box = textbook(data)
    after, info = preprocess.to_mnist(data, return_info=True)
    colour = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32) / 255
    channels, polarity = preprocess.ink_channels(colour, None)
    after_ink, _ = preprocess.find_digit(channels, polarity, "the photo")

    def read(seen: np.ndarray) -> str:
        p = net.probabilities(seen.reshape(1, 784))[0]
        return f"the network reads {int(p.argmax())} ({p.max():.0%})"

    figure = new_figure(figsize=(12, 6.4))
    cells = figure.subplots(2, 3, gridspec_kw={"width_ratios": [4, 4, 2.4]})
    photo_image = Image.open(io.BytesIO(data)).convert("RGB")
    for row, (ink, seen, box, title) in enumerate([
        (before_ink, before, before_box, "textbook: ink = distance to the border's colour"),
        (after_ink, after, info["bounding_box"], "digitnet: lighting levelled, grain and specks dropped"),
    ]):
        cells[row, 0].imshow(photo_image)
        cells[row, 0].set_title(f"the photo (JPEG, quality 35, {photo_image.width}×{photo_image.height})", fontsize=9)
        cells[row, 1].imshow(ink, cmap="gray", vmin=0, vmax=float(ink.max()))
        left, top, right, bottom = box
        cells[row, 1].add_patch(__import__("matplotlib.patches", fromlist=["Rectangle"]).Rectangle(
            (left, top), right - left, bottom - top, fill=False, edgecolor="#ff9f43", linewidth=1.5))
        cells[row, 1].set_title(f"{title}\n(orange: the crop)", fontsize=9)
        cells[row, 2].imshow(seen, cmap="gray", vmin=0, vmax=1)
        cells[row, 2].set_title(f"what the network sees\n{read(seen)}", fontsize=9)
        for axes in cells[row]:
            axes.set_xticks([])
            axes.set_yticks([])
    figure.suptitle(f"Preprocessing a noisy photo of MNIST test digit #{args.digit} (a {int(y[args.digit])}): "
                    f"lighting {info['lighting']}, {info['specks_removed']} speck(s) dropped", fontsize=11)
    print(save_figure(figure, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
