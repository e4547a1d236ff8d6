"""to_mnist on pictures crafted to look like the real world, one trouble at a time: uneven light,
sensor noise and JPEG, stray marks, bold markers and fine pens — and pictures with no digit at
all (blank paper, grain, a speck, a single tap), which raise NoDigitError with a short note.

Each picture is compared with the clean digit (a white 7 drawn on black, test_preprocess's
reference) and, where the step can be switched off, with what the picture gives without it.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from test_preprocess import assert_same_digit, coverage, encoded, paint, similarity, transparent

from digitnet.data import strokes
from digitnet.data.preprocess import NoDigitError, PreprocessError, no_digit_reason, to_mnist


@pytest.fixture(scope="module")
def seven():
    return to_mnist(coverage("7"))


def lit(image: Image.Image, depth: float) -> np.ndarray:
    """image (RGB) under light falling from the left: brightness 1 down to 1 − depth."""
    values = np.asarray(image, np.float32)
    light = np.linspace(1.0, 1.0 - depth, values.shape[1], dtype=np.float32)
    return np.clip(values * light[None, :, None], 0, 255).astype(np.uint8)


def photo(image: Image.Image, sigma: float = 12.0, quality: int = 40, seed: int = 0) -> bytes:
    """image with sensor grain (σ in 0..255) saved as a JPEG of the given quality."""
    values = np.asarray(image, np.float32)
    values = values + np.random.default_rng(seed).normal(0, sigma, values.shape[:2])[..., None]
    return encoded(Image.fromarray(np.clip(values, 0, 255).astype(np.uint8)), "JPEG", quality=quality)


# --------------------------------------------------------------------------- the steps, end to end


def test_uneven_light_is_levelled(seven):
    picture = lit(paint(coverage("7", canvas=(400, 400)), (30, 30, 30), (240, 240, 230)), depth=0.6)
    got, info = to_mnist(picture, return_info=True)
    assert info["lighting"] == "uneven"
    assert_same_digit(got, seven)
    left, top, right, bottom = info["bounding_box"]
    assert right - left < 250 and bottom - top < 300  # the dark side of the sheet is not ink


def shadowed(image: Image.Image, edge: float, depth: float, vertical: bool = True) -> np.ndarray:
    """image (RGB) with a sharp-edged shadow over its left part (its top part if not vertical): up
    to `edge` of the width (height) the light is 1 − depth."""
    values = np.asarray(image, np.float32).copy()
    if vertical:
        values[:, :int(edge * values.shape[1])] *= 1.0 - depth
    else:
        values[:int(edge * values.shape[0])] *= 1.0 - depth
    return np.clip(values, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("edge, vertical", [(0.45, True), (0.6, False), (0.75, True)])
def test_a_sharp_shadow_across_the_digit_is_evened_out(seven, edge, vertical):
    picture = shadowed(paint(coverage("7", canvas=(400, 400)), (25, 25, 25), (235, 235, 230)), edge, 0.5, vertical)
    got, info = to_mnist(photo(Image.fromarray(picture), sigma=4, quality=85), return_info=True)
    assert info["polarity"] == "dark-on-light"  # though the shadow darkens most of the border
    assert info["lighting"] == "uneven"
    assert_same_digit(got, seven)
    left, top, right, bottom = info["bounding_box"]
    assert right - left < 250 and bottom - top < 300  # the shadow is not ink


def test_without_evening_out_a_sharp_shadow_spoils_the_digit(seven, monkeypatch):
    from digitnet.data import cleanup

    picture = shadowed(paint(coverage("7", canvas=(400, 400)), (25, 25, 25), (235, 235, 230)), 0.45, 0.5)
    monkeypatch.setattr(cleanup, "even_out_shadow", lambda channels, background, dark: (channels, background, False))
    assert similarity(to_mnist(picture), seven)[1] < 0.7  # what the step is for


def test_grain_and_jpeg_do_not_widen_the_crop(seven):
    clean = paint(coverage("7", canvas=(400, 400)), (30, 30, 30), (220, 220, 215))
    _, info_clean = to_mnist(clean, return_info=True)
    got, info = to_mnist(photo(clean, sigma=14, quality=30), return_info=True)
    assert np.abs(np.subtract(info["bounding_box"], info_clean["bounding_box"])).max() <= 4
    assert info["noise"] > 0 and info["threshold"] > 4 * info["noise"]
    assert_same_digit(got, seven)


def test_stray_marks_far_from_the_digit_are_dropped(seven):
    mask = coverage("7", canvas=(600, 600), box=(200, 200, 400, 400))
    draw = ImageDraw.Draw(mask)
    draw.ellipse((30, 40, 44, 54), fill=255)  # a dot of ink top left
    draw.line((500, 520, 560, 540), fill=255, width=6)  # a short stroke bottom right
    draw.point([(100, 500), (550, 80), (300, 580)], fill=200)  # dust
    got, info = to_mnist(paint(mask, "black", "white"), return_info=True)
    assert info["specks_removed"] >= 2  # the dot and the stroke; the dust never reached the threshold
    assert info["bounding_box"][0] > 150 and info["bounding_box"][2] < 450
    assert_same_digit(got, seven)


def test_a_box_drawn_around_the_digit_is_left_out(seven):
    mask = coverage("7", canvas=(500, 500), box=(150, 150, 350, 350))
    ImageDraw.Draw(mask).rectangle((110, 120, 390, 385), outline=255, width=4)  # a form's cell
    got, info = to_mnist(photo(paint(mask, (30, 30, 40), (245, 245, 240)), sigma=4, quality=85), return_info=True)
    left, top, right, bottom = info["bounding_box"]
    assert left > 130 and top > 130 and right < 370 and bottom < 370
    assert_same_digit(got, seven)


@pytest.mark.parametrize("gap", [-6, 14])
def test_a_line_under_the_digit_is_left_out(seven, gap):
    """A 7 written on a form's line (touching it) or underlined (a line 14 px under it)."""
    mask = coverage("7", canvas=(500, 400), box=(150, 100, 350, 300))
    draw = ImageDraw.Draw(mask)
    if gap < 0:
        draw.rectangle((0, 300 + gap, 499, 303 + gap), fill=200)  # the printed line, across the page
    else:
        draw.line((120, 300 + gap, 380, 300 + gap), fill=255, width=6)  # drawn by hand, past both sides
    got = to_mnist(photo(paint(mask, (30, 30, 40), (245, 245, 240)), sigma=4, quality=85))
    assert_same_digit(got, seven)


def test_a_tight_crop_keeps_the_whole_digit(seven):
    """A 7 cropped close, its pen lifted at the corner: the stem runs into the bottom edge, the
    bar lies two rows inside the others. The bar is a fragment of the digit, not a digit inside
    beating a mark at the edge."""
    mask = np.asarray(coverage("7", canvas=(280, 280), box=(0, 0, 280, 280)), np.float32)
    rows, cols = np.flatnonzero(mask.max(1) > 127), np.flatnonzero(mask.max(0) > 127)
    crop = np.pad(mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1], ((2, 0), (2, 2)))  # touching the bottom only
    column = crop[:, crop.shape[1] // 3] > 0  # crosses the bar, then the stem
    bar_bottom = int(np.flatnonzero(column[:-1] & ~column[1:])[0])  # the bar's last row
    crop[bar_bottom + 1:bar_bottom + 6] = 0  # the pen lifted: the bar stands apart
    got = to_mnist(paint(Image.fromarray(np.uint8(crop)), "black", "white"))
    assert_same_digit(got, seven)


def test_a_bold_marker_is_thinned_toward_mnists_pen(seven):
    bold = paint(coverage("7", stroke=0.32), "black", "white")  # a third of the height: a marker
    got, info = to_mnist(bold, return_info=True)
    before, after = info["stroke_width"]
    assert before > strokes.WIDTH_HIGH and after <= strokes.TARGET_HIGH + 0.3
    kept = strokes.WIDTH_HIGH
    try:  # the same picture without the step
        strokes.WIDTH_HIGH = 100.0
        untouched = to_mnist(bold)
    finally:
        strokes.WIDTH_HIGH = kept
    assert similarity(got, seven)[1] > similarity(untouched, seven)[1] + 0.05


def test_a_hairline_is_thickened(seven):
    fine = paint(coverage("7", canvas=(800, 800), stroke=0.012, supersample=2), "black", "white")
    got, info = to_mnist(fine, return_info=True)
    before, after = info["stroke_width"]
    assert before < strokes.WIDTH_LOW and after >= strokes.TARGET_LOW
    assert similarity(got, seven)[1] > 0.8


def test_exif_orientation_is_honoured(seven):
    exif = Image.Exif()
    exif[0x0112] = 8  # Orientation: rotate 90° counter-clockwise to display
    stored = paint(coverage("7"), "black", "white").transpose(Image.Transpose.ROTATE_270)
    assert_same_digit(to_mnist(encoded(stored, "JPEG", quality=92, exif=exif)), seven)


# --------------------------------------------------------------------------- no digit


def tap(radius: int = 10, drag: int = 0) -> Image.Image:
    """The web pad after one tap (a round dot of the brush, 20 px) and an optional tiny drag."""
    mask = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(mask).line((130, 140, 130 + drag, 140), fill=255, width=2 * radius)
    ImageDraw.Draw(mask).ellipse((130 - radius, 140 - radius, 130 + radius, 140 + radius), fill=255)
    ImageDraw.Draw(mask).ellipse((130 + drag - radius, 140 - radius, 130 + drag + radius, 140 + radius), fill=255)
    return transparent(mask, (255, 255, 255))


NO_INK = {
    "white paper": lambda: Image.new("RGB", (300, 200), "white"),
    "black canvas": lambda: Image.new("L", (280, 280), 0),
    "empty transparent pad": lambda: Image.new("RGBA", (280, 280), (0, 0, 0, 0)),
    "grey paper with grain, JPEG": lambda: photo(Image.new("RGB", (400, 300), (200, 200, 190)), sigma=10),
    "unevenly lit blank sheet": lambda: photo(Image.fromarray(lit(Image.new("RGB", (500, 400), (235, 235, 225)), 0.6)), 4, 80),
    "28x28 zeros": lambda: np.zeros((28, 28), np.float32),
}
TOO_LITTLE = {
    "a single tap on the pad": lambda: tap(),
    "a tap with a tiny drag": lambda: tap(drag=4),
    "one speck on a page": lambda: paint(Image.fromarray(np.pad(np.full((3, 3), 255, np.uint8), ((300, 197), (400, 97)))),
                                         "black", "white"),
    "a blot": lambda: paint(Image.fromarray((np.hypot(*np.mgrid[-60:60, -60:60]) < 25).astype(np.uint8) * 255),
                            "black", "white"),
}


FLAT = {
    "a dash on the pad": lambda: transparent(_stroke((60, 140, 220, 140), 20), (255, 255, 255)),
    "a line across a page": lambda: paint(_stroke((0, 150, 399, 150), 3, (400, 300)), "black", "white"),
    "a slanted dash, JPEG": lambda: photo(paint(_stroke((50, 160, 250, 130), 12, (300, 300)), "navy", "white"), 6, 80),
}


def _stroke(line, width, size=(280, 280)) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).line(line, fill=255, width=width)
    return mask


@pytest.mark.parametrize("name", FLAT)
def test_a_line_or_a_dash_is_no_digit(name):
    with pytest.raises(NoDigitError, match=r"^a line, not a digit, in ") as caught:
        to_mnist(FLAT[name]())
    assert caught.value.note == "a line, not a digit"
    dash = np.zeros((28, 28), np.float32)
    dash[13:15, 4:24] = 1.0
    assert no_digit_reason(dash) == "a line, not a digit" and no_digit_reason(dash.T) is None  # standing: a 1


@pytest.mark.parametrize("name", NO_INK)
def test_no_ink_is_no_digit(name):
    with pytest.raises(NoDigitError, match=r"^no ink found in ") as caught:
        to_mnist(NO_INK[name]())
    assert caught.value.note == "no ink found"
    assert isinstance(caught.value, PreprocessError)  # callers that caught PreprocessError still do


@pytest.mark.parametrize("name", TOO_LITTLE)
def test_a_speck_or_a_dot_is_no_digit(name):
    with pytest.raises(NoDigitError, match=r"^too little ink to be a digit") as caught:
        to_mnist(TOO_LITTLE[name]())
    assert caught.value.note == "too little ink to be a digit"


def test_a_short_one_is_still_a_digit():
    """A 1 drawn short and bold on the pad is a stroke, not a dot."""
    mask = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(mask).line((140, 100, 140, 180), fill=255, width=20)
    got = to_mnist(transparent(mask, (255, 255, 255)))
    assert got.max() == pytest.approx(1.0)


@pytest.mark.parametrize("radius", [2, 3, 5, 8, 10, 14, 20, 40])
def test_a_tap_of_any_brush_is_no_digit(radius):
    with pytest.raises(NoDigitError, match=r"^too little ink to be a digit"):
        to_mnist(tap(radius=radius))


def test_a_marker_8_whose_loops_filled_is_a_digit():
    """Two lobes as stubby as a dragged tap, with a waist between them: a bold 8, not a dot."""
    mask = Image.new("L", (300, 300), 0)
    for row, col, radius in ((126, 140, 34), (174, 160, 44)):
        ImageDraw.Draw(mask).ellipse((col - radius, row - radius, col + radius, row + radius), fill=255)
    ink = np.asarray(mask, np.float32)[92:219, 106:205] / 255
    assert strokes.elongation(ink) < strokes.MIN_ELONGATION  # elongation alone would refuse it
    got = to_mnist(paint(mask, "black", "white"))
    assert got.max() == pytest.approx(1.0)
    assert no_digit_reason(got) is None


def test_no_digit_reason_for_784_pixels():
    assert no_digit_reason(np.zeros(784)) == "no ink found"
    assert no_digit_reason(np.full(784, 0.05)) == "no ink found"
    dot = np.zeros((28, 28))
    dot[12:16, 12:16] = 1.0
    assert no_digit_reason(dot) == "too little ink to be a digit"
    assert no_digit_reason(to_mnist(coverage("1"))) is None
    assert no_digit_reason(to_mnist(coverage("7")).ravel()) is None


def test_mnist_digits_are_all_digits():
    from digitnet.data import DatasetError, load_split

    try:
        x, _ = load_split("mnist", "test", download=False)
    except DatasetError as error:
        pytest.skip(f"MNIST test images not on this machine: {str(error).splitlines()[0]}")
    assert all(no_digit_reason(row) is None for row in x[:2000])


def test_noisy_photo_pictures_for_the_readme_stay_decodable():
    """The kind of picture docs/preprocess-*.png shows: a grainy JPEG of a 7 on grey paper."""
    data = photo(lit(paint(coverage("7", canvas=(480, 360)), (40, 40, 60), (215, 210, 200)), 0.4), sigma=10, quality=35)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert to_mnist(data).shape == (28, 28)
