"""digitnet.data.centreline step by step, each on a crafted picture: a bold marker stroke thinned
to its centre line and redrawn with MNIST's pen, its loops opened up again."""

from __future__ import annotations

import numpy as np
import pytest

from digitnet.data import centreline, components, strokes

UPSCALE = strokes.UPSCALE


def ring(size=160, centre=(80, 80), outer=60.0, inner=20.0):
    """An annulus (size, size) float32: ink between radius inner and outer."""
    rr, cc = np.mgrid[:size, :size]
    r = np.hypot(rr - centre[0], cc - centre[1])
    return ((r <= outer) & (r >= inner)).astype(np.float32)


def holes(mask):
    """How many pieces of paper the mask encloses (not reaching the frame)."""
    labels, count = components.label_components(~mask)
    outside = set(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]).tolist())
    return len(set(range(1, count + 1)) - outside)


def test_ink_mask_fills_grain_but_keeps_a_loops_hole():
    image = ring(inner=6.0)  # a hole 12 px across: 1.5 MNIST px, a nearly filled loop
    image[30:32, 80:82] = 0.0  # a pinhole of grain inside the stroke (4 px²)
    assert holes(image >= 0.5) == 2
    mask = centreline.ink_mask(image, UPSCALE)
    assert holes(mask) == 1 and mask[30, 80] and not mask[80, 80]


def test_thin_leaves_a_one_pixel_centre_line():
    bar = np.zeros((100, 60), bool)
    bar[10:90, 20:40] = True  # 20 px wide
    line = centreline.thin(bar)
    rows = line[20:80]
    assert (rows.sum(axis=1) == 1).all()  # one pixel per row along the bar
    assert set(np.flatnonzero(rows.any(axis=0))) <= {29, 30}  # in the middle


def test_thin_keeps_a_small_hole_as_a_loop():
    line = centreline.thin(ring(inner=4.0) >= 0.5)  # a hole 8 px across in a stroke 56 px wide
    assert holes(components.dilate(line, 1)) == 1  # (a 1 px line lets 8-connected paper through)
    radius = np.hypot(*(np.nonzero(line) - np.array([[80], [80]])))
    assert np.median(radius) == pytest.approx(32, abs=4)  # the loop runs through the stroke's middle


def test_distance_to_matches_brute_force():
    rng = np.random.default_rng(0)
    points = rng.random((23, 31)) < 0.02
    points[5, 7] = True
    got = centreline.distance_to(points)
    rr, cc = np.mgrid[:23, :31]
    pr, pc = np.nonzero(points)
    want = np.sqrt(((rr[..., None] - pr) ** 2 + (cc[..., None] - pc) ** 2).min(axis=-1))
    assert got == pytest.approx(want, abs=1e-5)
    assert np.isinf(centreline.distance_to(np.zeros((3, 4), bool))).all()


def test_pen_radius_gives_the_width_asked_for_in_the_box():
    line = np.zeros((160, 160), bool)
    line[20:140, 80] = True  # 120 px long
    radius = centreline.pen_radius(line, 2.6, strokes.BOX)
    drawn = centreline.draw_along(line, radius)
    across = (drawn[drawn.shape[0] // 2] >= 0.5).sum()  # px, in the middle of the line
    side = 120 + 2 * radius  # the drawing's longer side
    assert across * strokes.BOX / side == pytest.approx(2.6, abs=0.2)
    assert centreline.pen_radius(np.zeros((5, 5), bool), 2.6, strokes.BOX) == 0.0


def test_draw_along_presses_a_round_pen():
    line = np.zeros((40, 40), bool)
    line[20, 20] = True
    dot = centreline.draw_along(line, 5.0)  # padded by 6 px
    assert dot.shape == (52, 52)
    assert dot[26, 26] == 1.0 and dot[26, 31] == 0.5 and dot[26, 32] == 0.0  # edge at r + ½
    assert dot[26, 21:32].sum() == pytest.approx(dot[21:32, 26].sum())  # round: same across and down


def test_restroke_opens_a_filled_loop_again():
    bold = ring(outer=64.0, inner=6.0)  # a marker 0: its hole nearly closed (12 px of 128)
    out = centreline.restroke(bold, strokes.PEN, strokes.BOX, UPSCALE)
    hole_before = 1.0 - bold[76:85, 76:85].mean()
    centre = np.array(out.shape) // 2
    hole_after = (out < 0.5)[centre[0] - 30:centre[0] + 30, centre[1] - 30:centre[1] + 30].mean()
    assert hole_after > 0.5 > hole_before * 0.1  # the middle is paper again, widely
    assert strokes.boxed_width(out) == pytest.approx(strokes.PEN, rel=0.15)
    assert holes(out >= 0.5) == 1
