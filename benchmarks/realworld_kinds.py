"""Real-looking pictures of MNIST test digits, made by code: the kinds of input users upload.

Each kind turns one MNIST test digit x (28, 28) in [0, 1] into a picture file a user could have
made of that same digit: drawn on a canvas app, exported with transparency, written in coloured
pen, with a marker or a fine pen, photographed on paper (sensor noise, focus blur, JPEG), under
uneven light, with a sharp shadow across the page, slightly turned, with stray marks on the
page or dots and blots close beside the digit, in a box drawn around it (a form's cell), cropped
tight to its ink, on a form's line or underlined, on a sheet lying on a table, on ruled or
squared paper, in faint pencil. The
network's accuracy on these, next to its accuracy on the same digits' clean 28×28 versions, says
how much the picture (not the writer) costs.

How a digit becomes a pen stroke: the 28×28 digit is enlarged (bicubic) so its 20 px box becomes
`height` px, and the pen covers where the enlarged brightness passes a level τ, with a soft edge
(smoothstep over ±0.12 around τ, a few px at these sizes: anti-aliasing or focus). τ = 0.5 is
MNIST's own stroke; a lower τ and a grey dilation give a marker, a high τ a fine pen.

Everything is drawn from a numpy Generator, so `make_picture(kind, x, seed)` is deterministic.
Printed digits (`font_picture`) come from the TrueType fonts on the machine (DejaVu, Liberation)
and Pillow's own font.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

INK_DARK = [(20, 20, 25), (35, 35, 60), (15, 25, 90)]  # black, dark grey-blue, ballpoint blue
PENS = {"blue": (25, 60, 190), "red": (200, 30, 30), "green": (20, 120, 50), "purple": (110, 40, 150)}
PAPERS = [(250, 250, 245), (245, 238, 215), (250, 245, 180), (235, 240, 250)]  # white, cream, yellow, blue-grey


# ------------------------------------------------------------------ pen strokes


def stroke_coverage(x: np.ndarray, height: int, level: float = 0.5, grow: int = 0) -> np.ndarray:
    """The digit as pen coverage (H, W) float32 in [0, 1]: its 20 px MNIST box `height` px tall.

    level: the brightness of the enlarged digit where the pen's edge lies (0.5 = MNIST's
    stroke; lower is bolder); grow: px of grey dilation on top (a marker)."""
    side = max(28, round(28 * height / 20))
    big = Image.fromarray(np.asarray(x, dtype=np.float32)).resize((side, side), Image.Resampling.BICUBIC)
    v = np.asarray(big, dtype=np.float32)
    t = np.clip((v - (level - 0.12)) / 0.24, 0.0, 1.0)
    cover = t * t * (3 - 2 * t)  # smoothstep
    if grow > 0:
        grey = Image.fromarray(np.round(cover * 255).astype(np.uint8))
        for _ in range(grow):
            grey = grey.filter(ImageFilter.MaxFilter(3))
        cover = np.asarray(grey, dtype=np.float32) / 255
    return cover


def skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang–Suen thinning of a bool mask (H, W) to 1 px wide lines: the path a pen tip took."""
    image = np.pad(mask.astype(bool), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = [np.roll(np.roll(image, -dr, 0), -dc, 1) for dr, dc in
                 ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))]  # P2..P9
            neighbours = sum(q.astype(np.int8) for q in p)
            transitions = sum((~p[k] & p[(k + 1) % 8]).astype(np.int8) for k in range(8))
            if step == 0:
                rule = ~(p[0] & p[2] & p[4]) & ~(p[2] & p[4] & p[6])
            else:
                rule = ~(p[0] & p[2] & p[6]) & ~(p[0] & p[4] & p[6])
            remove = image & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & rule
            if remove.any():
                image &= ~remove
                changed = True
        if not changed:
            return image[1:-1, 1:-1]


def pen_coverage(x: np.ndarray, height: int, pen: float) -> np.ndarray:
    """The digit redrawn with a round pen `pen` MNIST px wide along its centre line (H, W) in
    [0, 1]: MNIST's own stroke (τ = 0.5) thinned to its skeleton, then widened to the pen,
    drawn at 2× and box-reduced (anti-aliased edges)."""
    scale = 2 * height / 20  # px per MNIST px at 2×
    side = max(56, round(28 * scale))
    big = np.asarray(Image.fromarray(np.asarray(x, np.float32)).resize((side, side), Image.Resampling.BICUBIC))
    line = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(line)
    r = max(0.5, pen * scale / 2)  # the pen's radius at 2×
    for row, col in zip(*np.nonzero(skeleton(big > 0.5))):  # the tip pressed at every point of the path
        draw.ellipse((col - r, row - r, col + r, row + r), fill=255)
    small = line.resize((side // 2, side // 2), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / 255


def crop_coverage(cover: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(cover.max(1) > 0.02), np.flatnonzero(cover.max(0) > 0.02)
    return cover[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def place(cover: np.ndarray, size: tuple[int, int], rng: np.random.Generator, margin: float = 0.05) -> np.ndarray:
    """cover pasted at a random place of a (height, width) canvas, at least margin × side from the edge."""
    height, width = size
    h, w = cover.shape
    m_y, m_x = int(margin * height), int(margin * width)
    top = int(rng.integers(m_y, max(m_y + 1, height - h - m_y)))
    left = int(rng.integers(m_x, max(m_x + 1, width - w - m_x)))
    canvas = np.zeros(size, dtype=np.float32)
    canvas[top:top + h, left:left + w] = cover[: height - top, : width - left]
    return canvas


def paint(cover: np.ndarray, ink, paper) -> np.ndarray:
    """RGB float (H, W, 3) in [0, 255]: ink where cover is 1, paper where 0, blended between."""
    ink, paper = np.asarray(ink, np.float32), np.asarray(paper, np.float32)
    return paper + cover[..., None] * (ink - paper)


def to_image(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(rgb: np.ndarray, rng: np.random.Generator, noise: float, blur: float, quality: int) -> bytes:
    """A camera's picture of rgb: focus blur (σ px), sensor noise (σ, fraction of 255), JPEG."""
    image = to_image(rgb)
    if blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    values = np.asarray(image, np.float32)
    values = values + rng.normal(0, noise * 255, values.shape[:2])[..., None] * 0.7 \
        + rng.normal(0, noise * 255 * 0.5, values.shape)  # luminance grain + some colour grain
    return encode(to_image(values), "JPEG", quality=quality)


def lighting_field(size: tuple[int, int], rng: np.random.Generator, depth: float) -> np.ndarray:
    """Illumination (H, W) in (0, 1]: light from one side (a ramp of `depth`) and a vignette."""
    height, width = size
    angle = rng.uniform(0, 2 * math.pi)
    v, u = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    ramp = (u * math.cos(angle) + v * math.sin(angle)) / 2 + 0.5  # 0..1 across the page
    vignette = (u ** 2 + v ** 2) / 2
    return (1 - depth * ramp - 0.15 * vignette).astype(np.float32)


def stray_marks(canvas: np.ndarray, digit_box: tuple[int, int, int, int], rng: np.random.Generator,
                pen: float) -> np.ndarray:
    """Adds 2–4 marks (dots, short dashes) well away from the digit's box, and fine dust."""
    height, width = canvas.shape
    top, left, bottom, right = digit_box
    side = max(bottom - top, right - left)
    image = Image.fromarray(np.round(canvas * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    placed = 0
    for _ in range(200):
        if placed >= rng.integers(2, 5):
            break
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
        gap = max(top - y, y - bottom, left - x, x - right)
        if gap < 0.6 * side:
            continue
        if rng.random() < 0.6:
            r = max(1.0, pen * rng.uniform(0.5, 1.0))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
        else:
            length = side * rng.uniform(0.08, 0.2)
            a = rng.uniform(0, math.pi)
            draw.line((x, y, x + length * math.cos(a), y + length * math.sin(a)), fill=255,
                      width=max(1, round(pen * 0.8)))
        placed += 1
    for _ in range(int(rng.integers(10, 40))):  # dust: single grains
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
        draw.point((x, y), fill=int(rng.integers(80, 200)))
    return np.asarray(image, np.float32) / 255


def dots_beside(canvas: np.ndarray, rng: np.random.Generator, pen: float) -> np.ndarray:
    """Adds 1–3 dots or blots of ink (0.8–3 pen widths across) close beside the digit, outside
    its box: from half the dot's width to 25% of the digit's side away from the box (a pen set
    down beside the digit, a blot)."""
    top, left, bottom, right = _box(canvas)
    side = max(bottom - top, right - left)
    ink = np.asarray(Image.fromarray(np.uint8(canvas > 0.05) * 255).filter(ImageFilter.MaxFilter(9))) > 0
    image = Image.fromarray(np.round(canvas * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    rows, cols = np.mgrid[:canvas.shape[0], :canvas.shape[1]]
    placed, wanted = 0, int(rng.integers(1, 4))
    for _ in range(300):
        if placed >= wanted:
            break
        y = int(rng.integers(top - side // 3, bottom + side // 3))
        x = int(rng.integers(left - side // 3, right + side // 3))
        r = pen * rng.uniform(0.4, 1.5)
        gap = max(top - y, y - bottom, left - x, x - right) - r  # from the digit's box to the dot's near side
        if not r <= gap <= 0.25 * side or not 0 <= y < canvas.shape[0] or not 0 <= x < canvas.shape[1]:
            continue
        if (ink & ((rows - y) ** 2 + (cols - x) ** 2 <= (r + 3) ** 2)).any():
            continue  # it would touch the digit (a 2's base or a 7's bar may reach past the box's rows)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
        placed += 1
    return np.asarray(image, np.float32) / 255


def _box(canvas: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(canvas.max(1) > 0.1), np.flatnonzero(canvas.max(0) > 0.1)
    return int(rows[0]), int(cols[0]), int(rows[-1] + 1), int(cols[-1] + 1)


# ------------------------------------------------------------------ the kinds


def _canvas_off_centre(x, rng):
    size = (int(rng.integers(500, 900)), int(rng.integers(600, 1200)))
    cover = crop_coverage(stroke_coverage(x, int(rng.integers(80, 260))))
    return encode(to_image(paint(place(cover, size, rng, 0.0), (255, 255, 255), (0, 0, 0))))


def _black_on_white(x, rng):
    size = (int(rng.integers(250, 700)),) * 2
    cover = crop_coverage(stroke_coverage(x, int(rng.integers(100, int(size[0] * 0.8)))))
    return encode(to_image(paint(place(cover, size, rng), (0, 0, 0), (255, 255, 255))))


def _white_on_black(x, rng):
    size = (int(rng.integers(250, 700)),) * 2
    cover = crop_coverage(stroke_coverage(x, int(rng.integers(100, int(size[0] * 0.8)))))
    return encode(to_image(paint(place(cover, size, rng), (255, 255, 255), (0, 0, 0))))


def _transparent(x, rng):
    size = (int(rng.integers(280, 600)),) * 2
    cover = place(crop_coverage(stroke_coverage(x, int(rng.integers(120, int(size[0] * 0.8))))), size, rng)
    rgb = [(0, 0, 0), (255, 255, 255), (30, 60, 200)][int(rng.integers(0, 3))]
    image = Image.new("RGBA", (size[1], size[0]), rgb)
    image.putalpha(Image.fromarray(np.round(cover * 255).astype(np.uint8)))
    return encode(image)


def _coloured_pen(x, rng):
    size = (int(rng.integers(300, 700)),) * 2
    cover = place(crop_coverage(stroke_coverage(x, int(rng.integers(120, int(size[0] * 0.7))))), size, rng)
    ink = list(PENS.values())[int(rng.integers(0, len(PENS)))]
    paper = PAPERS[int(rng.integers(0, len(PAPERS)))]
    return encode(to_image(paint(cover, ink, paper)))


def _thick_pen(x, rng):
    height = int(rng.integers(150, 300))
    cover = crop_coverage(pen_coverage(x, height, pen=rng.uniform(4.5, 6.5)))  # MNIST's pen: ~2.3
    size = (max(400, cover.shape[0] + 100),) * 2
    return encode(to_image(paint(place(cover, size, rng), INK_DARK[0], (255, 255, 255))))


def _thin_pen(x, rng):
    height = int(rng.integers(200, 400))
    cover = crop_coverage(pen_coverage(x, height, pen=rng.uniform(0.4, 1.0)))
    size = (max(500, cover.shape[0] + 100),) * 2
    return encode(to_image(paint(place(cover, size, rng), INK_DARK[2], (250, 250, 250))))


def _photo(quality):
    def make(x, rng):
        size = (int(rng.integers(400, 800)), int(rng.integers(400, 800)))
        cover = crop_coverage(stroke_coverage(x, int(rng.integers(120, int(min(size) * 0.7)))))
        ink = INK_DARK[int(rng.integers(0, len(INK_DARK)))]
        paper = np.array(PAPERS[int(rng.integers(0, len(PAPERS)))]) * rng.uniform(0.75, 0.95)
        rgb = paint(place(cover, size, rng), ink, paper)
        return photo(rgb, rng, noise=rng.uniform(0.02, 0.06), blur=rng.uniform(0.5, 1.5), quality=quality)
    return make


def _uneven_light(x, rng):
    size = (int(rng.integers(400, 800)), int(rng.integers(400, 800)))
    cover = crop_coverage(stroke_coverage(x, int(rng.integers(120, int(min(size) * 0.6)))))
    rgb = paint(place(cover, size, rng), INK_DARK[int(rng.integers(0, 3))], PAPERS[0])
    rgb = rgb * lighting_field(size, rng, rng.uniform(0.35, 0.6))[..., None]
    return photo(rgb, rng, noise=rng.uniform(0.01, 0.04), blur=rng.uniform(0.3, 1.0), quality=85)


def shadow_field(size: tuple[int, int], rng: np.random.Generator, depth: float) -> np.ndarray:
    """Illumination (H, W): 1, and 1 − depth beyond a straight edge at a random angle (a hand's or
    a phone's shadow) covering 20-70% of the page, its penumbra a few px wide."""
    height, width = size
    angle = rng.uniform(0, 2 * math.pi)
    v, u = np.meshgrid(np.arange(height) - height / 2, np.arange(width) - width / 2, indexing="ij")
    across = u * math.cos(angle) + v * math.sin(angle)  # px along the shadow's normal
    edge = np.quantile(across, rng.uniform(0.2, 0.7))
    penumbra = rng.uniform(1.0, 6.0)
    shade = 1 / (1 + np.exp(-(edge - across) / penumbra))  # 1 inside the shadow, 0 outside
    return (1 - depth * shade).astype(np.float32)


def _sharp_shadow(x, rng):
    size = (int(rng.integers(400, 800)), int(rng.integers(400, 800)))
    cover = crop_coverage(stroke_coverage(x, int(rng.integers(120, int(min(size) * 0.6)))))
    rgb = paint(place(cover, size, rng, 0.1), INK_DARK[int(rng.integers(0, 3))], PAPERS[int(rng.integers(0, 2))])
    rgb = rgb * shadow_field(size, rng, rng.uniform(0.3, 0.6))[..., None]
    return photo(rgb, rng, noise=rng.uniform(0.01, 0.03), blur=rng.uniform(0.3, 1.0), quality=85)


def _dots_beside(x, rng):
    size = (int(rng.integers(400, 700)),) * 2
    height = int(rng.integers(120, int(size[0] * 0.45)))
    canvas = place(crop_coverage(stroke_coverage(x, height)), size, rng, margin=0.2)
    canvas = dots_beside(canvas, rng, pen=height / 20 * 2.4)
    rgb = paint(canvas, INK_DARK[int(rng.integers(0, 3))], PAPERS[int(rng.integers(0, len(PAPERS)))])
    if rng.random() < 0.5:
        return encode(to_image(rgb))
    return photo(rgb, rng, noise=rng.uniform(0.01, 0.03), blur=rng.uniform(0.3, 1.0), quality=85)


def _in_a_box(x, rng):
    size = (int(rng.integers(400, 700)),) * 2
    height = int(rng.integers(120, int(size[0] * 0.5)))
    canvas = place(crop_coverage(stroke_coverage(x, height)), size, rng, margin=0.2)
    top, left, bottom, right = _box(canvas)
    image = Image.fromarray(np.round(canvas * 255).astype(np.uint8))
    gap = [int(rng.uniform(0.08, 0.3) * height) for _ in range(4)]  # never touching the digit
    ImageDraw.Draw(image).rectangle((left - gap[0], top - gap[1], right + gap[2], bottom + gap[3]), outline=255,
                                    width=int(rng.integers(2, 6)))
    cover = np.asarray(image, np.float32) / 255
    rgb = paint(cover, INK_DARK[int(rng.integers(0, 3))], PAPERS[int(rng.integers(0, len(PAPERS)))])
    return photo(rgb, rng, noise=rng.uniform(0.01, 0.03), blur=rng.uniform(0.3, 1.0), quality=85)


def _rotated(x, rng):
    cover = crop_coverage(stroke_coverage(x, int(rng.integers(150, 300))))
    angle = rng.choice([-1, 1]) * rng.uniform(5, 12)
    turned = np.asarray(Image.fromarray(cover).rotate(angle, Image.Resampling.BILINEAR, expand=True), np.float32)
    size = (max(400, turned.shape[0] + 80), max(400, turned.shape[1] + 80))
    return encode(to_image(paint(place(crop_coverage(turned), size, rng), (0, 0, 0), (255, 255, 255))))


def _stray_marks(x, rng):
    size = (int(rng.integers(500, 800)),) * 2
    height = int(rng.integers(120, 220))
    canvas = place(crop_coverage(stroke_coverage(x, height)), size, rng, margin=0.25)
    canvas = stray_marks(canvas, _box(canvas), rng, pen=height / 20 * 2.4)
    return encode(to_image(paint(canvas, INK_DARK[0], PAPERS[0])))


def _cropped_tight(x, rng):
    """A picture cropped to the digit: 0-3 px of paper around the ink, so strokes run into the
    edges (a scan or photo cut down to one digit)."""
    cover = crop_coverage(stroke_coverage(x, int(rng.integers(60, 240))))
    cover = np.pad(cover, [(int(rng.integers(0, 4)), int(rng.integers(0, 4))) for _ in range(2)])
    rgb = paint(cover, INK_DARK[int(rng.integers(0, 3))], PAPERS[int(rng.integers(0, len(PAPERS)))])
    if rng.random() < 0.5:
        return encode(to_image(rgb))
    return photo(rgb, rng, noise=rng.uniform(0.01, 0.03), blur=rng.uniform(0.3, 0.8), quality=85)


def _on_a_line(x, rng):
    """A form: the digit written on a printed line across the page (touching it or a little above
    it), or underlined by hand (a stroke under it running past both sides, not touching it: joined
    to the digit, a line looks like a 2's base)."""
    size = (int(rng.integers(400, 700)),) * 2
    height = int(rng.integers(120, int(size[0] * 0.5)))
    canvas = place(crop_coverage(stroke_coverage(x, height)), size, rng, margin=0.15)
    top, left, bottom, right = _box(canvas)
    image = Image.fromarray(np.round(canvas * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.5:  # printed: grey or black, 2-4 px, from edge to edge
        y = bottom + int(rng.uniform(-0.06, 0.03) * height)
        draw.rectangle((0, y, size[1] - 1, y + int(rng.integers(1, 4))), fill=int(rng.integers(120, 256)))
    else:  # by hand, in the digit's pen, slightly slanted, not touching it
        pen = max(2, round(height / 20 * 2.4))
        y = bottom + pen // 2 + 4 + int(rng.uniform(0.03, 0.12) * height)
        reach = [int(rng.uniform(0.1, 0.4) * height) for _ in range(2)]
        draw.line((left - reach[0], y, right + reach[1], y + int(rng.integers(-4, 5))), fill=255, width=pen)
    cover = np.maximum(np.asarray(image, np.float32) / 255, canvas)
    rgb = paint(cover, INK_DARK[int(rng.integers(0, 3))], PAPERS[int(rng.integers(0, len(PAPERS)))])
    return photo(rgb, rng, noise=rng.uniform(0.01, 0.03), blur=rng.uniform(0.3, 1.0), quality=85)


def _sheet_on_table(x, rng):
    size = (int(rng.integers(500, 800)), int(rng.integers(600, 1000)))
    table = np.array([(90, 70, 50), (60, 60, 65), (150, 120, 90)][int(rng.integers(0, 3))], np.float32)
    rgb = np.ones((*size, 3), np.float32) * table
    ph, pw = int(size[0] * rng.uniform(0.6, 0.85)), int(size[1] * rng.uniform(0.5, 0.75))
    top, left = int(rng.integers(10, size[0] - ph - 10)), int(rng.integers(10, size[1] - pw - 10))
    cover = crop_coverage(stroke_coverage(x, int(ph * rng.uniform(0.35, 0.6))))
    rgb[top:top + ph, left:left + pw] = paint(place(cover, (ph, pw), rng, 0.15), INK_DARK[int(rng.integers(0, 3))],
                                              PAPERS[int(rng.integers(0, len(PAPERS)))])
    return photo(rgb, rng, noise=rng.uniform(0.01, 0.03), blur=rng.uniform(0.5, 1.2), quality=80)


def _ruled_paper(x, rng):
    size = (int(rng.integers(450, 750)),) * 2
    cover = place(crop_coverage(stroke_coverage(x, int(rng.integers(150, int(size[0] * 0.6))))), size, rng, 0.15)
    paper = np.full(size, 0.0, np.float32)
    gap = int(rng.integers(22, 40))
    squared = rng.random() < 0.4
    for k in range(int(rng.integers(0, gap)), size[0], gap):  # the printed ruling (and columns: squared)
        paper[k:k + 2] = 1.0
        if squared:
            paper[:, k:k + 2] = 1.0
    rgb = paint(paper, (140, 170, 225), (248, 248, 242))  # light blue lines
    rgb = rgb + cover[..., None] * (np.array(INK_DARK[int(rng.integers(0, 3))], np.float32) - rgb)
    return photo(rgb, rng, noise=rng.uniform(0.01, 0.025), blur=rng.uniform(0.4, 1.0), quality=85)


def _pencil(x, rng):
    size = (int(rng.integers(400, 700)),) * 2
    cover = place(crop_coverage(stroke_coverage(x, int(rng.integers(150, int(size[0] * 0.6))))), size, rng, 0.15)
    rgb = paint(cover * rng.uniform(0.35, 0.6), (60, 60, 60), (240, 238, 232))  # grey, faint graphite
    rgb = rgb * lighting_field(size, rng, rng.uniform(0.1, 0.35))[..., None]
    return photo(rgb, rng, noise=rng.uniform(0.01, 0.03), blur=rng.uniform(0.6, 1.2), quality=75)


KINDS = {
    "canvas, large, off-centre": _canvas_off_centre,
    "black on white": _black_on_white,
    "white on black": _white_on_black,
    "transparent canvas export": _transparent,
    "coloured pen on paper": _coloured_pen,
    "thick pen (marker)": _thick_pen,
    "thin pen": _thin_pen,
    "photo, JPEG q90": _photo(90),
    "photo, JPEG q60": _photo(60),
    "photo, JPEG q30": _photo(30),
    "uneven lighting": _uneven_light,
    "sharp shadow across the page": _sharp_shadow,
    "slight rotation (5-12°)": _rotated,
    "stray marks": _stray_marks,
    "dots or a blot beside the digit": _dots_beside,
    "in a box drawn around it": _in_a_box,
    "cropped tight to the digit": _cropped_tight,
    "on a form's line or underlined": _on_a_line,
    "sheet photographed on a table": _sheet_on_table,
    "ruled or squared paper": _ruled_paper,
    "pencil, faint": _pencil,
}


def make_picture(kind: str, x: np.ndarray, seed: int) -> bytes:
    """The picture file (PNG or JPEG bytes) of MNIST digit x (28, 28) as `kind`, from seed."""
    return KINDS[kind](x, np.random.default_rng(seed))


# ------------------------------------------------------------------ printed digits


FONT_DIRS = [Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts"), Path("/Library/Fonts")]


def font_files() -> list[Path]:
    """Regular and bold upright TrueType fonts found on this machine (sorted), without symbols."""
    found = set()
    for folder in FONT_DIRS:
        if folder.is_dir():
            found.update(p for p in folder.rglob("*.ttf")
                         if not any(k in p.name for k in ("Math", "Oblique", "Italic", "Light", "Symbol")))
    return sorted(found)


def font_picture(digit: int, font: Path | None, seed: int) -> bytes:
    """The digit printed in font (None: Pillow's own), black on white, at a random size and place."""
    rng = np.random.default_rng(seed)
    size = int(rng.integers(60, 200))
    face = ImageFont.truetype(str(font), size) if font else ImageFont.load_default(size)
    canvas = Image.new("L", (size * 3, size * 3), 255)
    ImageDraw.Draw(canvas).text((size * rng.uniform(0.5, 1.3), size * rng.uniform(0.3, 1.0)), str(digit),
                                font=face, fill=0)
    return encode(canvas)
