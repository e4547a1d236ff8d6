"""The cleaning steps one by one, each on a picture crafted to show its effect.

digitnet.data.cleanup (background, lighting, denoise, noise level, threshold, floor),
digitnet.data.components (labelling, choosing the digit's pieces, dilation) and
digitnet.data.strokes (width, elongation, erosion and dilation, normalising the width).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageDraw

from digitnet.data import cleanup, components, strokes


def bar(height=60, width=60, rows=(10, 50), cols=(27, 33), value=1.0):
    """A vertical stroke: value inside rows × cols, 0 elsewhere; (height, width) float32."""
    image = np.zeros((height, width), dtype=np.float32)
    image[rows[0]:rows[1], cols[0]:cols[1]] = value
    return image


def disc(size=60, centre=(30, 30), radius=8):
    rr, cc = np.mgrid[:size, :size]
    return ((rr - centre[0]) ** 2 + (cc - centre[1]) ** 2 <= radius ** 2).astype(np.float32)


def on_paper(ink, paper=0.9, pen=0.1):
    """Grey picture (h, w, 1): paper brightness where ink is 0, pen where it is 1."""
    return (paper + ink * (pen - paper))[..., None].astype(np.float32)


# --------------------------------------------------------------------------- background


def test_border_background_is_the_paper_not_the_ink():
    picture = on_paper(bar(), paper=0.8)
    assert cleanup.border_background(picture) == pytest.approx([0.8])
    colour = np.concatenate([picture, picture * 0.5, picture * 0.25], axis=-1)  # (h, w, 3)
    assert cleanup.border_background(colour) == pytest.approx([0.8, 0.4, 0.2])


def lit_page(depth=0.5, size=(200, 240)):
    """Paper lit from the left: brightness 0.95 at the left edge down to 0.95·(1 − depth); a dark
    stroke in the middle. Returns the picture (h, w, 1) and the illumination (h, w)."""
    height, width = size
    light = np.tile(np.linspace(1.0, 1.0 - depth, width, dtype=np.float32), (height, 1))
    ink = bar(height, width, rows=(50, 150), cols=(110, 118))
    picture = on_paper(ink, paper=0.95, pen=0.1)[..., 0] * light
    return picture[..., None], 0.95 * light


def test_lighting_background_follows_the_light_and_ignores_the_stroke():
    picture, paper = lit_page()
    surface = cleanup.lighting_background(picture, dark_ink=True)[..., 0]  # (h, w)
    assert np.abs(surface - paper).max() < 0.03  # the stroke (0.1) did not pull it down
    flat_error = np.abs(cleanup.border_background(picture)[0] - paper).max()
    assert flat_error > 0.15  # what one border colour gets wrong


def test_estimate_background_uses_the_surface_only_under_uneven_light():
    picture, _ = lit_page(depth=0.5)
    background, uneven = cleanup.estimate_background(picture, dark_ink=True)
    assert uneven and background.shape == picture.shape
    even_picture, _ = lit_page(depth=0.0)
    background, uneven = cleanup.estimate_background(even_picture, dark_ink=True)
    assert not uneven and background.shape == (1,)
    small = even_picture[:40, :40]  # a small picture is never taken for a photo
    assert cleanup.estimate_background(small, dark_ink=True)[1] is False


def test_uneven_light_no_longer_makes_the_dark_side_ink():
    picture, _ = lit_page(depth=0.6)
    flat_ink = cleanup.ink_from_background(picture, cleanup.border_background(picture))
    background, _ = cleanup.estimate_background(picture, dark_ink=True)
    ink = cleanup.ink_from_background(picture, background)
    paper_side = (slice(0, 40), slice(200, 240))  # the dark right edge, no stroke
    assert flat_ink[paper_side].mean() > 0.2  # as ink as a faint pencil line
    assert ink[paper_side].max() < 0.05
    assert ink[100, 114] > 0.5  # the stroke is still ink


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 12), st.integers(1, 30)),
                  elements=st.floats(0, 1, width=32)), st.integers(0, 10), st.integers(0, 1), st.booleans())
def test_sliding_extreme_is_the_windows_max_or_min(values, half, axis, largest):
    size = 2 * half + 1
    got = cleanup.sliding_extreme(values, size, axis, largest)
    moved = np.moveaxis(values, axis, -1)
    pick = np.max if largest else np.min
    want = np.stack([pick(moved[..., max(0, i - half):i + half + 1], axis=-1) for i in range(moved.shape[-1])], -1)
    assert np.array_equal(got, np.moveaxis(want, -1, axis))


def half_in_shadow(size=200, edge=90, shade=0.5, stroke=((40, 160), (80, 100))):
    """Paper 0.9 whose left `edge` columns are in shadow (× shade), a dark stroke (0.1 × light)
    crossing the shadow's edge: (h, w, 1) and the light (h, w)."""
    light = np.ones((size, size), np.float32)
    light[:, :edge] = shade
    ink = np.zeros((size, size), np.float32)
    (r0, r1), (c0, c1) = stroke
    ink[r0:r1, c0:c1] = 1.0
    return on_paper(ink) * light[..., None], light


def test_closing_removes_strokes_and_keeps_the_shadows_edge():
    picture, light = half_in_shadow()
    paper = cleanup.closing(picture[..., 0], 25, dark_ink=True)
    away = np.ones(paper.shape, bool)
    away[40:160, 80:100] = False  # the stroke's own pixels
    assert np.abs(paper - 0.9 * light)[away].max() < 1e-6  # the edge has not moved
    # Under the stroke the paper is one side's or the other's (where it sits on the edge, the
    # shade's), never the stroke's own 0.05-0.1.
    assert paper[40:160, 80:100].min() == pytest.approx(0.45)


def test_even_out_shadow_makes_the_shadowed_paper_paper():
    picture, _ = half_in_shadow()
    background, _ = cleanup.estimate_background(picture, dark_ink=True)
    flat_ink = cleanup.ink_from_background(picture, background)
    assert flat_ink[:, :60].min() > 0.3  # without it, the shade is ink
    evened, paper, found = cleanup.even_out_shadow(picture, background, dark_ink=True)
    assert found and paper.shape == (1,)
    ink = cleanup.ink_from_background(evened, paper)
    assert ink[:, :60].max() < 0.02 and ink[:, 120:].max() < 0.02  # both sides are paper
    assert ink[50:150, 80:90] == pytest.approx(np.full((100, 10), 0.8), abs=0.02)  # in the shade: as on clean paper
    # In the light, right at the shadow's edge, the closing reaches into the shade: a little lighter.
    assert ink[50:150, 90:100].min() > 0.65


def test_even_out_shadow_leaves_even_paper_and_bold_strokes_at_the_edge_alone():
    even, _ = half_in_shadow(shade=1.0)
    assert cleanup.even_out_shadow(even, cleanup.border_background(even), dark_ink=True)[2] is False
    # A bold stroke running along the whole left edge: the ring is not explained by one colour,
    # but the "shadow" would be as dark as ink.
    bold, _ = half_in_shadow(shade=1.0, stroke=((0, 200), (0, 60)))
    assert cleanup.ring_misfit(bold, cleanup.border_background(bold)) > cleanup.SHADOWED
    assert cleanup.even_out_shadow(bold, cleanup.border_background(bold), dark_ink=True)[2] is False


def test_the_inks_side_is_found_when_a_shadow_covers_most_of_the_border():
    picture, _ = half_in_shadow(edge=150)
    assert cleanup.shadow_across_border(picture) and cleanup.ink_is_dark(picture)
    assert not cleanup.ink_is_dark(1.0 - picture)  # chalk on a board with a bright patch
    assert not cleanup.shadow_across_border(half_in_shadow(shade=1.0)[0])


def test_ink_is_the_distance_to_the_background_colour():
    picture = np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]], dtype=np.float32)  # (1, 3, 3)
    ink = cleanup.ink_from_background(picture, np.array([1.0, 1.0, 1.0], np.float32))
    np.testing.assert_allclose(ink, [[0.0, 1.0, np.sqrt(2 / 3)]], rtol=1e-6)


# --------------------------------------------------------------------------- noise and threshold


def noisy_page(sigma=0.06, seed=0):
    rng = np.random.default_rng(seed)
    clean = on_paper(bar(120, 120, rows=(20, 100), cols=(56, 64)), paper=0.9, pen=0.1)
    return clean, np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 1).astype(np.float32)


def test_denoise_averages_grain_away_and_keeps_the_stroke():
    clean, noisy = noisy_page()
    background = cleanup.border_background(noisy)
    raw = cleanup.ink_from_background(noisy, background)
    smooth = cleanup.denoise(noisy, background)
    paper = (slice(0, 15), slice(None))
    # A σ = 1 px Gaussian leaves 1 / (2√π σ) ≈ 0.28 of white noise's spread (plus 8-bit rounding).
    assert smooth[paper].mean() < 0.45 * raw[paper].mean()
    assert smooth[60, 58:62].mean() > 0.7  # an 8 px stroke keeps its height (0.8)


def test_noise_level_of_clean_and_grainy_paper():
    clean, noisy = noisy_page(sigma=0.06)
    background = cleanup.border_background(clean)
    assert cleanup.noise_level(cleanup.ink_from_background(clean, background)) == 0.0
    level = cleanup.noise_level(cleanup.ink_from_background(noisy, background))
    assert 0.6 * 0.06 * 0.67 < level < 1.5 * 0.06 * 0.67  # median |N(0, σ)| = 0.674σ


def test_otsu_threshold_splits_two_groups():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(0.1, 0.03, 5000), rng.normal(0.8, 0.05, 500)]).astype(np.float32)
    assert 0.2 < cleanup.otsu_threshold(values) < 0.65
    assert cleanup.otsu_threshold(np.full(10, 0.3, np.float32)) == pytest.approx(0.3)


def test_threshold_stays_clear_of_the_noise():
    _, noisy = noisy_page(sigma=0.06)
    background = cleanup.border_background(noisy)
    smooth = cleanup.denoise(noisy, background)
    noise = cleanup.noise_level(smooth)
    threshold = cleanup.ink_threshold(smooth, noise)
    assert threshold >= cleanup.NOISE_MARGIN * noise
    mask = smooth >= threshold
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    assert rows[0] >= 17 and rows[-1] <= 102 and cols[0] >= 53 and cols[-1] <= 66  # the bar, not the grain


def ruled_page(size=200, gap=20, columns=False):
    """Ink (size, size): printed lines 2 px thick every gap px from edge to edge (and columns, if
    asked: a squared page) under a bold vertical stroke, the "digit"."""
    ink = np.zeros((size, size), np.float32)
    for k in range(gap // 2, size, gap):
        ink[k:k + 2] = 0.3
        if columns:
            ink[:, k:k + 2] = 0.3
    ink[40:160, 90:110] = 1.0
    return ink


@pytest.mark.parametrize("columns", [False, True])
def test_a_ruled_pages_lines_are_found_and_lifted_off(columns):
    ink = ruled_page(columns=columns)
    rows, cols = cleanup.ruled_lines(ink, noise=0.0)
    assert np.count_nonzero(rows) == 20 and np.allclose(rows[rows > 0], 0.3)  # 10 lines of 2 rows
    assert np.count_nonzero(cols) == (20 if columns else 0)
    lifted = cleanup.remove_lines(ink, rows, cols)
    assert lifted[:, :80].max() == 0.0  # no ruling left beside the stroke
    assert lifted[40:160, 90:110].min() > 0.39  # the stroke stays: 1 less the lines that cross it (0.3 each)


def test_a_bold_digits_bars_are_not_a_ruling():
    """A bold 5 or 3, large on plain paper, covers more than half of the rows through its bars:
    four bars, each row's median is ink, but they stop short of the picture's sides."""
    ink = np.zeros((200, 200), np.float32)
    for top in (20, 65, 110, 155):
        ink[top:top + 14, 40:160] = 1.0  # 60% of every row through a bar
    ink[20:169, 40:54] = 1.0
    assert np.count_nonzero(np.median(ink, axis=1) > cleanup.LINE_MIN) == 4 * 14  # what once counted as lines
    rows, cols = cleanup.ruled_lines(ink, noise=0.0)
    assert not rows.any() and not cols.any()
    assert cleanup.remove_lines(ink, rows, cols) is ink


def test_a_tight_crop_of_a_bold_digit_is_not_a_ruling():
    """Cropped tight, a bold 3's or 5's bars do reach both sides of the picture, and every row
    through them has ink for its median: four groups, but each far thicker than a printed line."""
    ink = np.zeros((150, 120), np.float32)
    for top in (0, 45, 90, 136):
        ink[top:top + 14, :] = 1.0  # 14 rows: 9% of the height (a printed line is 2 px of 200)
    ink[:, 106:120] = 1.0
    assert cleanup.thin_runs(np.median(ink, axis=1) > cleanup.LINE_MIN, 6).sum() == 0
    rows, cols = cleanup.ruled_lines(ink, noise=0.0)
    assert not rows.any() and not cols.any()
    assert cleanup.ruled_lines(ruled_page(columns=True), noise=0.0)[1].any()  # a printed ruling still is one


def test_a_forms_single_line_under_a_digit_is_lifted_off():
    ink = np.zeros((200, 300), np.float32)
    ink[150:153, :] = 0.6  # one printed line across the page ...
    ink[40:152, 140:150] = 1.0  # ... and a digit's stroke standing on it
    rows, cols = cleanup.ruled_lines(ink, noise=0.0)
    assert np.flatnonzero(rows).tolist() == [150, 151, 152] and not cols.any()
    lifted = cleanup.remove_lines(ink, rows, cols)
    assert lifted[:, :130].max() == 0.0 and lifted[40:150, 140:150].min() == 1.0


def test_a_thin_sevens_bar_across_a_tight_crop_is_not_a_line():
    """Cropped tight, a fine pen's 7 has a bar as thin as a printed line from edge to edge; but
    its stem spans most of the width below it, where a form's line runs far beyond the digit."""
    ink = np.zeros((100, 70), np.float32)
    ink[0:3, :] = 1.0
    for row in range(3, 100):
        col = round(68 - 0.5 * (row - 3))
        ink[row, col - 1:col + 2] = 1.0
    rows, cols = cleanup.ruled_lines(ink, noise=0.0)
    assert not rows.any() and not cols.any()


@pytest.mark.parametrize("height", [1, 2, 3, 4, 5, 6])
def test_a_line_across_a_picture_a_few_pixels_tall_is_weighed_without_error(height):
    ink = np.zeros((height, 40), np.float32)
    ink[0] = 0.9  # a printed line along the top row, and a bit of ink below it where there is room
    ink[height - 1, 18:22] = np.maximum(ink[height - 1, 18:22], 0.8)
    rows, cols = cleanup.ruled_lines(ink, 0.01)  # found a 4-row picture's line 5 rows long: IndexError
    assert rows.shape == (height,) and cols.shape == (40,)


def test_thin_runs_clears_the_long_runs_only():
    mask = np.array([1, 1, 0, 1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1], bool)
    np.testing.assert_array_equal(cleanup.thin_runs(mask, 3), [1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1])
    assert not cleanup.thin_runs(np.ones(5, bool), 4).any() and cleanup.thin_runs(np.ones(5, bool), 5).all()


def test_subtract_floor_lifts_the_veil():
    ink = np.array([0.0, 0.05, 0.1, 0.55, 1.0], np.float32)
    np.testing.assert_allclose(cleanup.subtract_floor(ink, 0.1), [0, 0, 0, 0.5, 1.0], atol=1e-6)
    assert cleanup.subtract_floor(ink, 0.0) is ink


# --------------------------------------------------------------------------- components


def flood_labels(mask: np.ndarray) -> list[set[tuple[int, int]]]:
    """The 8-connected pieces of mask by breadth-first search: the slow, obvious way."""
    seen = np.zeros_like(mask, dtype=bool)
    pieces = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        piece, queue = set(), deque([start])
        seen[start] = True
        while queue:
            r, c = queue.popleft()
            piece.add((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    q = (r + dr, c + dc)
                    if 0 <= q[0] < mask.shape[0] and 0 <= q[1] < mask.shape[1] and mask[q] and not seen[q]:
                        seen[q] = True
                        queue.append(q)
        pieces.append(piece)
    return pieces


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(np.bool_, st.tuples(st.integers(1, 24), st.integers(1, 24))))
def test_labels_are_the_8_connected_pieces(mask):
    labels, count = components.label_components(mask)
    expected = flood_labels(mask)
    assert count == len(expected)
    assert (labels > 0).sum() == mask.sum() and not labels[~mask].any()
    got = [set(zip(*np.nonzero(labels == k))) for k in range(1, count + 1)]
    assert sorted(map(sorted, got)) == sorted(map(sorted, expected))


def test_labels_join_diagonals_and_u_shapes():
    mask = np.array([
        [1, 0, 0, 1, 0, 1],
        [0, 1, 0, 1, 0, 1],
        [0, 0, 0, 1, 1, 1],
        [1, 1, 0, 0, 0, 0],
    ], dtype=bool)
    labels, count = components.label_components(mask)
    assert count == 3  # the diagonal pair, the U, the bottom-left pair
    assert labels[0, 0] == labels[1, 1] != labels[0, 3]
    assert labels[0, 3] == labels[0, 5] == labels[2, 4]


def pieces_of(image):
    labels, count = components.label_components(image > 0.5)
    return labels, components.component_table(labels, count, image)


def test_a_far_speck_is_dropped_and_the_digit_kept():
    image = bar(100, 100, rows=(20, 80), cols=(45, 52))
    image[90:93, 5:8] = 1  # a speck in the corner
    labels, table = pieces_of(image)
    keep = components.select_digit(table)
    assert keep.sum() == 1 and table.mass[keep][0] == image[20:80, 45:52].sum()


def test_a_digits_separate_stroke_stays():
    image = bar(100, 100, rows=(30, 80), cols=(40, 46))  # a 5's body ...
    image[22:26, 40:70] = 1  # ... and its flag, not touching
    image[95:98, 95:98] = 1  # and dust
    _, table = pieces_of(image)
    keep = components.select_digit(table)
    assert keep.sum() == 2


def test_a_dot_beside_the_digit_is_dropped_and_a_fragment_or_a_short_flag_kept():
    one = bar(120, 120, rows=(20, 100), cols=(50, 62))  # a bold 1, 12 px wide
    dotted = np.maximum(one, disc(120, (40, 78), 6))  # a dot of the pen beside it, a gap of 10 px
    _, table = pieces_of(dotted)
    assert table.mass.size == 2 and table.mass.min() > components.MIN_PART * table.mass.max()  # near and heavy
    keep = components.select_digit(table)
    assert keep.sum() == 1 and table.mass[keep][0] == one.sum()
    skipped = np.maximum(one, bar(120, 120, rows=(8, 30), cols=(65, 77)))  # 3 px from the stroke, 1.7 pens long:
    assert components.select_digit(pieces_of(skipped)[1]).sum() == 2  # a fragment the pen skipped
    five = bar(120, 120, rows=(40, 100), cols=(40, 52))  # a bold 5's body ...
    five[20:31, 40:70] = 1  # ... and its short flag: as light as the dot, but a stroke
    _, table = pieces_of(five)
    assert components.select_digit(table).sum() == 2


def test_a_blot_thicker_than_the_pen_is_dropped_closer_to_the_digit():
    one = bar(120, 120, rows=(20, 100), cols=(50, 56))  # a 1, 6 px wide
    blot = np.maximum(one, disc(120, (40, 70), 7))  # a blot 15 px across, 7 px from the 1: under DOT_GAP
    _, table = pieces_of(blot)
    assert table.thickness()[1] >= components.THICK * table.pen()[0]
    assert table.box[1][1] - table.box[0][3] == 7 < components.DOT_GAP * table.side()[1]  # the gap, px
    keep = components.select_digit(table)
    assert keep.sum() == 1 and table.mass[keep][0] == one.sum()
    fragment = np.maximum(one, bar(120, 120, rows=(33, 45), cols=(60, 67)))  # as thick as the pen, 4 px away
    _, table = pieces_of(fragment)
    assert not table.stroke_like()[1]
    assert table.thickness()[1] < components.THICK * table.pen()[0]
    assert components.select_digit(table).sum() == 2


def test_a_dot_that_joins_does_not_bring_the_next_dot_in():
    one = bar(120, 120, rows=(20, 100), cols=(50, 56))
    near = bar(120, 120, rows=(54, 66), cols=(59, 66))  # a blot 3 px beside the 1, 12 px long: a fragment, it stays
    far = disc(120, (60, 71), 3)  # a dot 2 px beyond it, 12 px from the 1
    _, table = pieces_of(np.maximum(one, np.maximum(near, far)))
    assert table.mass.size == 3
    keep = components.select_digit(table)
    assert keep.tolist() == [True, True, False]


def test_a_dot_the_size_of_the_pen_is_dropped_wherever_it_lies():
    """A marker's dot beside a 1, or in a 0's hole: no longer than PEN_DOT pens, it is no part of the digit."""
    one = bar(120, 120, rows=(20, 100), cols=(50, 62))  # a bold 1, 12 px wide: its pen 13.3 px
    for centre in ((40, 70), (98, 70)):  # 2 px beside it; by its foot
        _, table = pieces_of(np.maximum(one, disc(120, centre, 6)))  # a dot of the pen, 13 px across
        assert table.mass.size == 2 and table.side()[1] <= components.PEN_DOT * table.pen()[0]
        assert components.select_digit(table).tolist() == [True, False], centre
    zero = np.maximum(disc(120, (60, 60), 40) - disc(120, (60, 60), 28), 0)  # a bold 0 ...
    speck = np.maximum(zero, disc(120, (60, 60), 5))  # ... with a blot in its hole
    _, table = pieces_of(speck)
    assert table.mass.size == 2 and components.select_digit(table).sum() == 1


def test_the_outline_and_pen_of_a_bar_and_a_disc():
    _, table = pieces_of(np.maximum(bar(100, 100, rows=(10, 90), cols=(20, 26)), disc(100, (50, 70), 10)))
    assert table.outline[0] == pytest.approx((80 + 6) * 2 * np.pi / 4)
    assert table.pen()[0] == pytest.approx(6 * 80 / (86 * np.pi / 4), rel=1e-6)
    assert table.outline[1] == pytest.approx(np.pi * 21, rel=0.05)  # a disc's steps: 4/π times its length
    assert table.thickness()[1] == table.area[1] / 21
    assert 0.7 * 21 < table.thickness()[1] < 0.8 * 21


def test_fragments_of_a_broken_stroke_stay():
    image = bar(100, 100, rows=(20, 80), cols=(45, 51))
    image[50:52, :] = 0  # the pen skipped twice
    image[30:31, :] = 0
    _, table = pieces_of(image)
    assert components.select_digit(table).sum() == 3


def test_a_shadow_at_the_edge_loses_to_the_digit_inside():
    image = bar(120, 120, rows=(30, 90), cols=(55, 62))
    image[:, :18] = 1  # a dark band along the left edge: the table beside the sheet
    _, table = pieces_of(image)
    keep = components.select_digit(table)
    assert keep.sum() == 1 and not table.at_edge[keep][0]


def test_a_blot_inside_does_not_outweigh_a_digit_cut_by_the_edge():
    image = bar(100, 100, rows=(0, 70), cols=(45, 52))  # a tight crop: the digit touches the top
    image[85:92, 80:87] = 1  # an ink blot inside, 7x7: a tenth of the digit's mass
    _, table = pieces_of(image)
    keep = components.select_digit(table)
    assert keep.sum() == 1 and table.at_edge[keep][0]
    assert list(table.stroke_like()) == [True, False]


def test_in_a_tight_crop_the_pieces_at_the_edge_are_the_digit():
    """A 7 cropped tight, its pen lifted at the corner: the stem touches the picture's edges, the
    bar (a row of paper above it) does not. The bar is not a digit inside beating a mark at the
    edge: the ink leaves no room beside it, and the stem is a stroke, not a solid table."""
    image = Image.new("L", (70, 100), 0)
    draw = ImageDraw.Draw(image)
    draw.line((2, 4, 60, 3), fill=255, width=5)  # the bar: rows 1-6, one row of paper above it
    draw.line((66, 8, 22, 100), fill=255, width=8)  # the stem, from just under the bar's end to the bottom
    labels, table = pieces_of(np.asarray(image, np.float32) / 255)
    assert table.at_edge.tolist() == [False, True] and table.mass[0] >= components.EDGE_RIVAL * table.mass[1]
    assert components.select_digit(table, shape=labels.shape).all()
    assert components.select_digit(table).tolist() == [True, False]  # without the shape: the bar alone


def test_a_digit_inside_a_frame_cut_by_the_edge_is_the_digit():
    image = bar(140, 140, rows=(40, 100), cols=(66, 73))  # the digit, in a box drawn around it ...
    image[20:23, 25:140] = image[117:120, 25:140] = image[20:120, 25:28] = 1  # ... its right side cut off
    labels, table = pieces_of(image)
    assert table.at_edge.tolist() == [True, False]
    assert components.select_digit(table, shape=labels.shape).tolist() == [False, True]


def test_a_pen_lying_beside_the_digit_loses_to_it():
    image = bar(140, 140, rows=(30, 110), cols=(40, 48))  # the digit, and 4 px from it ...
    for row in range(140):
        image[row, 52 + row // 10:62 + row // 10] = 1  # ... a pen across the page: paper to its right
    labels, table = pieces_of(image)
    assert table.at_edge.tolist() == [True, False]  # the pen first: it starts on the top row
    assert components.select_digit(table, shape=labels.shape).tolist() == [False, True]


def test_a_table_beside_the_digit_still_loses_to_it():
    image = bar(120, 120, rows=(30, 90), cols=(24, 31))  # the digit, 3 px from ...
    image[:, :21] = 1  # ... the table along the left edge: solid, so no part of the digit
    labels, table = pieces_of(image)
    keep = components.select_digit(table, shape=labels.shape)
    assert keep.sum() == 1 and not table.at_edge[keep][0]


def test_a_line_drawn_under_the_digit_is_not_part_of_it():
    image = bar(140, 140, rows=(20, 100), cols=(60, 68))  # the digit ...
    image[108:112, 40:95] = 1  # ... underlined, the line running past it on both sides
    _, table = pieces_of(image)
    assert components.select_digit(table).tolist() == [True, False]
    long_line = bar(140, 140, rows=(20, 100), cols=(60, 64))  # a thin 1 ...
    long_line[108:112, 10:130] = 1  # ... over a long line: the line is heavier, and still not the digit
    _, table = pieces_of(long_line)
    assert table.mass[1] > table.mass[0] and components.select_digit(table).tolist() == [True, False]
    image[108:112, 40:95] = 0
    image[108:112, 60:95] = 1  # a stroke that stops at the digit's side (a 2's base) still joins
    _, table = pieces_of(image)
    assert components.select_digit(table).all()


def test_a_box_drawn_around_the_digit_is_not_the_digit():
    image = bar(140, 140, rows=(40, 100), cols=(66, 73))  # the digit ...
    image[20:23, 25:115] = image[117:120, 25:115] = 1  # ... in a drawn box: top and bottom
    image[20:120, 25:28] = image[20:120, 112:115] = 1  # left and right
    labels, table = pieces_of(image)
    assert list(components.frames(labels, table)) == [True, False]
    keep = components.select_digit(table, exclude=components.frames(labels, table))
    assert list(keep) == [False, True]
    assert components.select_digit(table).all()  # without: the box joins the digit


def test_a_zero_or_a_seven_holding_a_piece_is_not_a_frame():
    rr, cc = np.mgrid[:140, :140]
    ring = (np.abs(np.hypot((rr - 70) / 50, (cc - 70) / 35) - 1) < 0.08).astype(np.float32)  # a 0
    ring[60:80, 66:74] = 1  # with a piece inside (as heavy as a fifth of the ring or more)
    seven = np.zeros((140, 140), np.float32)
    seven[20:27, 30:110] = 1  # a 7's bar
    for row in range(27, 120):  # its stem, down to the left
        seven[row, 104 - (row - 27) * 60 // 93:110 - (row - 27) * 60 // 93] = 1
    seven[70:75, 45:68] = 1  # crossed (short of the stem): the bar lies inside the 7's box
    for image in (ring, seven):
        labels, table = pieces_of(image)
        assert table.mass.size == 2 and not components.frames(labels, table).any()


def test_dilate_grows_by_the_radius():
    mask = np.zeros((9, 9), bool)
    mask[4, 4] = True
    grown = components.dilate(mask, 2)
    assert grown.sum() == 25 and grown[2:7, 2:7].all()
    assert components.dilate(mask, 0) is mask


# --------------------------------------------------------------------------- strokes


def test_stroke_width_of_a_bar_and_a_disc():
    assert strokes.stroke_width(bar(100, 100, rows=(10, 90), cols=(45, 51))) == pytest.approx(6, rel=0.1)
    assert strokes.stroke_width(disc(80, (40, 40), 20)) == pytest.approx(20, rel=0.1)  # a disc: d / 2
    assert strokes.stroke_width(np.zeros((5, 5), np.float32)) == 0.0


def test_elongation_tells_a_dot_from_a_stroke():
    assert strokes.elongation(disc(60, (30, 30), 12)) < strokes.MIN_ELONGATION
    assert strokes.elongation(bar(100, 100, rows=(10, 90), cols=(45, 53))) > 8
    assert strokes.elongation(np.zeros((4, 4), np.float32)) == 0.0


def lobes(size=200, upper=34, lower=44, apart=48, slant=20):
    """Two overlapping discs, the lower one bigger and to the right: an 8 whose loops a marker filled."""
    rr, cc = np.mgrid[:size, :size]
    mid = size / 2
    top = np.hypot(rr - (mid - apart / 2), cc - (mid - slant / 2)) <= upper
    bottom = np.hypot(rr - (mid + apart / 2), cc - (mid + slant / 2)) <= lower
    return (top | bottom).astype(np.float32)


def test_solidity_is_the_inked_share_of_the_convex_hull():
    square = bar(60, 60, rows=(10, 50), cols=(10, 50))
    assert strokes.solidity(square) == pytest.approx(1.0, abs=0.01)
    assert strokes.solidity(disc(80, (40, 40), 30)) > 0.97
    ring = disc(80, (40, 40), 30) - disc(80, (40, 40), 20)  # an O: its hole is not ink
    assert strokes.solidity(ring) == pytest.approx(1 - (20 / 30) ** 2, abs=0.05)
    assert strokes.solidity(lobes()) < strokes.WAIST_SOLIDITY  # the waist between the lobes
    assert strokes.solidity(np.zeros((4, 4), np.float32)) == 0.0


def test_solidity_does_not_count_pixel_steps_as_a_waist():
    """A disc drawn without anti-aliasing is a staircase of pixels; smoothed by SMOOTHING px first,
    it measures convex."""
    steps = disc(46, (23, 23), 18)
    assert strokes.solidity(steps) > strokes.WAIST_SOLIDITY + 0.01
    saved = strokes.SMOOTHING
    try:
        strokes.SMOOTHING = 1e-3  # no smoothing: the steps read as a waist
        assert strokes.solidity(steps) < strokes.WAIST_SOLIDITY
    finally:
        strokes.SMOOTHING = saved


def test_is_dot_lets_a_stubby_shape_with_a_waist_through():
    blob = lobes()
    assert strokes.WAIST_ELONGATION <= strokes.elongation(blob) < strokes.MIN_ELONGATION  # stubby as a dot ...
    assert not strokes.is_dot(blob)  # ... but two lobes
    assert strokes.is_dot(disc(60, (30, 30), 12))
    assert strokes.is_dot(bar(60, 60, rows=(10, 50), cols=(10, 50)))
    assert not strokes.is_dot(bar(100, 100, rows=(10, 90), cols=(45, 53)))
    bitten = disc(200, (100, 100), 80) * (1 - disc(200, (100, 190), 40))  # a blot with a bite: shorter than a tap
    assert strokes.solidity(bitten) < strokes.WAIST_SOLIDITY
    assert strokes.elongation(bitten) < strokes.WAIST_ELONGATION and strokes.is_dot(bitten)
    rows, cols = np.flatnonzero(blob.any(axis=1)), np.flatnonzero(blob.any(axis=0))
    small = strokes.resize_longer_side(blob[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1], 31)
    assert strokes.elongation(small) < strokes.MIN_ELONGATION and strokes.solidity(small) < strokes.WAIST_SOLIDITY
    assert strokes.is_dot(small)  # 31 px: too few pixels to tell a waist from pixel steps


def test_erode_and_dilate_change_a_stroke_by_two_pixels():
    image = bar(60, 60, rows=(10, 50), cols=(26, 34))  # 8 px wide
    assert (strokes.erode(image)[30] > 0).sum() == 6
    assert (strokes.dilate_grey(image)[30] > 0).sum() == 10
    assert (strokes.erode(image, cross=True)[30] > 0).sum() == 6


def upright_bar(mnist_px: float) -> np.ndarray:
    """A full-height stroke mnist_px MNIST pixels wide, at the scale normalising works at."""
    side = strokes.BOX * strokes.UPSCALE
    half = round(mnist_px * strokes.UPSCALE / 2)
    return bar(side, side, rows=(0, side), cols=(side // 2 - half, side // 2 + half))


def test_normalise_thins_a_marker_and_thickens_a_hairline():
    out, before, after = strokes.normalise_stroke_width(upright_bar(7))
    # A stroke's ends count in its outline, so a full-height bar measures thinner than it is.
    assert before > strokes.WIDTH_HIGH and after <= strokes.TARGET_HIGH
    assert after > strokes.TARGET_HIGH - 0.6  # one step past the target at most
    assert strokes.stroke_width(out) / strokes.UPSCALE == pytest.approx(after)
    out, before, after = strokes.normalise_stroke_width(upright_bar(0.5))
    assert before < strokes.WIDTH_LOW and strokes.TARGET_LOW <= after < strokes.TARGET_LOW + 0.6


def test_thinning_a_grainy_marker_keeps_its_inside_even():
    rng = np.random.default_rng(0)
    grainy = upright_bar(8) * rng.uniform(0.6, 1.0, (strokes.BOX * strokes.UPSCALE,) * 2).astype(np.float32)
    out, _, _ = strokes.normalise_stroke_width(grainy)
    middle = out[20:-20, out.shape[1] // 2 - 4:out.shape[1] // 2 + 4]  # the inside of the thinned stroke
    assert middle.min() > 0.9  # not the darkest grain spread by the minimum filter (0.6)
    assert strokes.saturate(np.zeros((3, 3), np.float32)).max() == 0.0


def test_normalise_leaves_an_mnist_width_alone():
    usual = upright_bar(2.5)
    out, before, after = strokes.normalise_stroke_width(usual)
    assert out is usual and before == after
    assert strokes.WIDTH_LOW < before < strokes.WIDTH_HIGH
