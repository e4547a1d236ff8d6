"""The digit's connected pieces of ink, and the stray specks to drop.

After digitnet.data.cleanup, a mask (h, w) bool marks the candidate ink. A written digit is one
piece or a few close ones (a 5's flag, a 4 drawn in two strokes, a pen that skipped); a speck of
dust, a dot, a stray mark elsewhere on the page is a piece far from them. Two pixels belong to the
same piece when they touch, diagonals included (8-connectivity).

- `label_components(mask)`: labels (h, w) int32, 0 = background, 1..n the pieces. Run-length
  labelling in NumPy: each row's runs of ink; a run joins the runs of the next row that overlap
  it or touch it diagonally (start_a ≤ end_b and start_b ≤ end_a, ends inclusive); the pieces
  are the connected groups of runs, found by pointer jumping (every run points to the smallest
  run it is joined to, and follows pointers until nothing changes).
- `component_table(labels, n, weight)`: per piece its mass Σ weight, bounding box, area, the
  length of its outline, and whether it touches the picture's edge.
- `select_digit(labels, table)`: which pieces are the digit. Pieces touching the edge (a table,
  a shadow, the sheet's edge) are left out when a stroke-like piece inside (not a blot: see
  Components.stroke_like) carries at least EDGE_RIVAL of their mass. In a tight crop the digit
  itself touches the edge, and a piece inside is a fragment of it (a pen lifted at a corner):
  so when the ink reaches within TIGHT of all four edges (no room for a mark beside the
  digit), the edge pieces stay, unless the heaviest of them is solid (it fills SOLID of its
  box: a table, a shadow). A pen lying beside the digit, or a box drawn around it and cut by
  the edge, leaves paper between the ink and some edge.
  The heaviest remaining piece is the digit's core; a piece joins it while its box
  lies within NEAR × (the digit box's longer side) of the digit box and its mass is at least
  MIN_PART of the core's, or when it lies inside the digit box grown by INSIDE of its side
  (the fragments of a broken stroke); pieces under TINY of the core's mass never join, nor does
  a line drawn under the digit (flat, wholly below it, running beyond it on both sides: a 2's
  base stops at one side), nor a dot beside the digit: a blot (not stroke-like) set apart from
  the digit's box by DOT_GAP of its own side or more, or by THICK_GAP of it when the blot is
  THICK times the digit's pen or thicker (a pen set down beside the digit, an ink blot, a tap;
  it is lighter than the core, the heaviest piece). A digit's own separate parts are strokes,
  and a fragment of a stroke the pen skipped lies closer and is about as thick as the pen (on
  the 10,000 MNIST test digits drawn as pictures, the thickest blot of a digit measures 1.27
  pens, 0.09 of its side from the digit's box; these rules change the reading of none of them).
  A blot no longer than PEN_DOT times the digit's pen is a dot wherever it lies, even inside the
  digit's box: a marker's touch, a speck in a 0's hole, a fleck of the scan that a bold pen
  turns into a dot. So short a fragment carries little of a digit: on the 10,000 MNIST test
  digits drawn as pictures, dropping them changed 51 inputs, and the best preset read 1 of
  them better and 1 worse, modern 3 and 3; on 3,500 marker pictures best read 5 better and
  none worse, modern 3 and none.
  The search repeats while the digit's box grows; a blot that joins does not grow it (two dots
  side by side beside the digit are no closer for it).
  Everything else is a stray mark.
- `frames(labels, table)`: pieces that are a box drawn around the digit (a form's cell, a
  frame): a piece whose ink runs along all four sides of its box (FRAME_SIDE of each, within
  FRAME_BAND of the side) and whose box holds another piece of FRAME_CONTENT of its mass or
  more. A 0 touches its box at four points, a 7 along one side: neither is a frame. Frames are
  never the digit (select_digit's `exclude`).
- `dilate(mask, radius)`: grows a mask by radius px (a square), to keep a digit's grey edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["DOT_GAP", "EDGE_RIVAL", "MIN_PART", "NEAR", "PEN_DOT", "SOLID", "THICK", "THICK_GAP", "TIGHT", "Components",
           "component_table", "dilate", "frames", "label_components", "select_digit"]

NEAR = 0.3  # a piece this close to the digit's box (× its longer side) may belong to it
MIN_PART = 0.03  # ... when it carries at least this share of the core piece's mass
TINY = 0.003  # lighter pieces never count (grain that passed the threshold)
INSIDE = 0.08  # fragments inside the digit's box grown by this (× its longer side) always belong
UNDERLINE = 0.25  # a line under the digit: at most this share of its length thick (see _underline)
EDGE_RIVAL = 0.05  # edge pieces are dropped when an inner stroke has this share of their mass ...
TIGHT = 0.05  # ... unless the ink reaches this close (× the side) to all four edges (a tight crop) ...
SOLID = 0.6  # ... and the heaviest edge piece is not solid: filling this share of its box (a table)
STROKE_LIKE = 2.0  # side² / area of a stroke, not a blot (see Components.stroke_like)
DOT_GAP = 0.5  # a blot this share of its own side or more outside the digit's box is a dot, not a part of it
THICK = 1.2  # a blot this many times thicker than the digit's pen is a blot of ink ...
THICK_GAP = 0.1  # ... and a dot when this share of its own side or more outside the digit's box
PEN_DOT = 1.5  # a blot no longer than this many of the digit's pens is a dot wherever it lies
FRAME_BAND = 0.06  # a frame's ink lies within this share of its box's side from the box's edges ...
FRAME_SIDE = 0.8  # ... along this share of each of its four sides
FRAME_CONTENT = 0.2  # and it holds a piece of at least this share of its own mass
MAX_FRAMES = 16  # only the heaviest pieces can be frames


def label_components(mask: NDArray[np.bool_]) -> tuple[NDArray[np.int32], int]:
    """The 8-connected pieces of mask (h, w): labels (h, w) int32 (0 background, 1..n), n."""
    height, width = mask.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    step = np.diff(padded, axis=1)  # (h, w + 1): +1 where a run starts, −1 after it ends
    rows, starts = np.nonzero(step == 1)  # row-major: runs in reading order
    _, ends = np.nonzero(step == -1)
    ends = ends - 1  # inclusive
    n = rows.size
    labels = np.zeros((height, width), dtype=np.int32)
    if n == 0:
        return labels, 0
    # Runs of row r + 1 joined to run a of row r: a contiguous range in reading order.
    stride = width + 2
    start_keys, end_keys = rows * stride + starts, rows * stride + ends
    first = np.searchsorted(end_keys, (rows + 1) * stride + starts - 1, side="left")
    last = np.searchsorted(start_keys, (rows + 1) * stride + ends + 1, side="right")
    count = np.maximum(last - first, 0)
    a = np.repeat(np.arange(n), count)
    b = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count) + np.repeat(first, count)
    parent = np.arange(n)
    while True:
        low = np.minimum(parent[a], parent[b])
        hooked = parent.copy()
        np.minimum.at(hooked, parent[a], low)
        np.minimum.at(hooked, parent[b], low)
        while True:  # pointer jumping: every run to its group's smallest run
            jumped = hooked[hooked]
            if np.array_equal(jumped, hooked):
                break
            hooked = jumped
        if np.array_equal(hooked, parent):
            break
        parent = hooked
    _, group = np.unique(parent, return_inverse=True)  # 0..n_groups - 1 per run
    lengths = ends - starts + 1
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    labels[np.repeat(rows, lengths), np.repeat(starts, lengths) + offsets] = np.repeat(group + 1, lengths)
    return labels, int(group.max()) + 1


@dataclass(frozen=True)
class Components:
    """Per piece k = 0..n-1 (label k + 1): mass Σ weight, box (top, left, bottom, right) with
    bottom and right exclusive, and whether it touches the picture's edge."""

    mass: NDArray[np.float64]  # (n,)
    box: NDArray[np.int64]  # (n, 4)
    at_edge: NDArray[np.bool_]  # (n,)
    area: NDArray[np.int64]  # (n,) pixels
    outline: NDArray[np.float64]  # (n,) the length of each piece's outline, px

    def side(self) -> NDArray[np.int64]:
        """The longer side of each piece's box, px."""
        return np.maximum(self.box[:, 2] - self.box[:, 0], self.box[:, 3] - self.box[:, 1])

    def stroke_like(self) -> NDArray[np.bool_]:
        """Pieces drawn as strokes, not blots: side² / area ≥ STROKE_LIKE (a stroke of width w
        and box side S covers about S·w pixels, so this is about S / w; a filled disc gives 1.3)."""
        return self.side().astype(np.float64) ** 2 >= STROKE_LIKE * np.maximum(self.area, 1)

    def pen(self) -> NDArray[np.float64]:
        """Each piece's stroke width, px: 2·area / outline (a stroke of length L and width w has
        area L·w and an outline 2L long; see digitnet.data.strokes)."""
        return 2.0 * self.area / np.maximum(self.outline, 1.0)

    def thickness(self) -> NDArray[np.float64]:
        """How thick each piece is across, px: area / its box's longer side (a stroke's width;
        a disc of diameter d gives 0.79 d)."""
        return self.area / np.maximum(self.side(), 1)


def component_table(labels: NDArray[np.int32], n: int, weight: NDArray) -> Components:
    """Mass, bounding box and edge contact of each of the n pieces in labels (h, w)."""
    height, width = labels.shape
    rows, cols = np.nonzero(labels)
    k = labels[rows, cols] - 1
    mass = np.bincount(k, weights=weight[rows, cols], minlength=n)
    box = np.empty((n, 4), dtype=np.int64)
    box[:, 0] = height
    box[:, 1] = width
    box[:, 2:] = 0
    np.minimum.at(box[:, 0], k, rows)
    np.minimum.at(box[:, 1], k, cols)
    np.maximum.at(box[:, 2], k, rows + 1)
    np.maximum.at(box[:, 3], k, cols + 1)
    at_edge = (box[:, 0] == 0) | (box[:, 1] == 0) | (box[:, 2] == height) | (box[:, 3] == width)
    return Components(mass, box, at_edge, np.bincount(k, minlength=n), _outlines(labels, rows, cols, n))


def _outlines(labels: NDArray[np.int32], rows: NDArray, cols: NDArray, n: int) -> NDArray[np.float64]:
    """The length of each piece's outline, px: the sides its pixels (at rows, cols) share with
    other labels or the picture's edge, × π/4 (a curve's steps along rows and columns are 4/π
    times its length, on average over directions). Only the ink's pixels are looked at."""
    padded = np.pad(labels, 1)
    own = labels[rows, cols]
    count = np.zeros(n + 1)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        count += np.bincount(own[padded[rows + 1 + dy, cols + 1 + dx] != own], minlength=n + 1)
    return count[1:] * (np.pi / 4)


def _gap(box: NDArray, other: NDArray) -> float:
    """The distance between two boxes (0 if they overlap): the larger of the row and column gaps."""
    row_gap = max(other[0] - box[2], box[0] - other[2], 0)
    col_gap = max(other[1] - box[3], box[1] - other[3], 0)
    return float(max(row_gap, col_gap))


def frames(labels: NDArray[np.int32], table: Components) -> NDArray[np.bool_]:
    """Which pieces are a box drawn around the digit (see the module docstring): (n,) bool."""
    n = table.mass.size
    out = np.zeros(n, dtype=bool)
    if n < 2:
        return out
    heaviest = np.argsort(table.mass)[::-1][:MAX_FRAMES]  # a halftone's thousands of dots: a few looked at
    for k in heaviest[table.mass[heaviest] >= MIN_PART * table.mass.max()]:  # grain is never a frame
        top, left, bottom, right = table.box[k]
        side = max(bottom - top, right - left)
        band = max(2, int(FRAME_BAND * side))
        inside = ((table.box[:, 0] >= top + band) & (table.box[:, 1] >= left + band)
                  & (table.box[:, 2] <= bottom - band) & (table.box[:, 3] <= right - band))
        holds = (inside & (table.mass >= FRAME_CONTENT * table.mass[k])).any()
        if bottom - top <= 2 * band or right - left <= 2 * band or not holds:
            continue
        piece = labels[top:bottom, left:right] == k + 1
        sides = (piece[:band].any(axis=0), piece[-band:].any(axis=0),  # top, bottom
                 piece[:, :band].any(axis=1), piece[:, -band:].any(axis=1))  # left, right
        out[k] = min(float(covered.mean()) for covered in sides) >= FRAME_SIDE
    return out


def select_digit(table: Components, exclude: NDArray[np.bool_] | None = None,
                 shape: tuple[int, ...] | None = None) -> NDArray[np.bool_]:
    """Which pieces are the digit: (n,) bool over table's pieces (see the module docstring);
    `exclude`: pieces that never are (frames; the innermost piece never is one); `shape`: the
    picture's (h, w), to tell a digit cropped tight (without it, none is)."""
    n = table.mass.size
    candidate = np.ones(n, dtype=bool) if exclude is None else ~exclude
    inner = ~table.at_edge
    strokes = table.stroke_like()
    rivals = candidate & inner & strokes  # a blot inside does not outweigh a digit at the edge
    if table.at_edge.any() and rivals.any():
        edge = int(np.argmax(np.where(table.at_edge, table.mass, -1.0)))  # the heaviest piece at the edge
        box = table.box[edge]
        solid = table.area[edge] >= SOLID * (box[2] - box[0]) * (box[3] - box[1])  # a table, a shadow
        tight = shape is not None and not solid and _cropped_tight(table, candidate, shape)
        if not tight and table.mass[rivals].max() >= EDGE_RIVAL * table.mass[edge]:
            candidate = candidate & inner
    lines = _lines_under_digits(table, candidate)  # a long underline can outweigh a short 1 above it
    pool = candidate & ~lines if (candidate & ~lines).any() else candidate
    core = int(np.argmax(np.where(pool, table.mass, -1.0)))
    keep = np.zeros(n, dtype=bool)
    keep[core] = True
    side_k = table.side()
    thick = table.thickness() >= THICK * table.pen()[core]  # thicker than the digit's pen: a blot of ink
    dot_gap = np.where(strokes, np.inf, np.where(thick, THICK_GAP, DOT_GAP) * side_k)  # a blot this far is a dot
    dot_gap[~strokes & (side_k <= PEN_DOT * table.pen()[core])] = -np.inf  # as small as the pen's dot: anywhere
    digit_box = table.box[core].copy()
    changed = True
    while changed:
        changed = False
        side = max(digit_box[2] - digit_box[0], digit_box[3] - digit_box[1])
        for k in np.flatnonzero(candidate & ~keep & (table.mass >= TINY * table.mass[core])):
            gap = _gap(table.box[k], digit_box)
            beside = gap >= dot_gap[k]  # a dot set apart; a pen's skip leaves a narrower gap
            near = gap <= NEAR * side and table.mass[k] >= MIN_PART * table.mass[core] \
                and not _underline(table.box[k], digit_box) and not beside
            inside = gap <= INSIDE * side and _within(table.box[k], digit_box, INSIDE * side) and not beside
            if near or inside:
                keep[k] = True
                if strokes[k]:  # a blot that joins does not widen the box the next pieces are measured from
                    changed = True
                    digit_box = np.concatenate([np.minimum(digit_box[:2], table.box[k][:2]),
                                                np.maximum(digit_box[2:], table.box[k][2:])])
    return keep


def _cropped_tight(table: Components, candidate: NDArray[np.bool_], shape: tuple[int, ...]) -> bool:
    """Is the picture cropped tight to the ink: do the candidate pieces reach within TIGHT of its
    side of all four of its edges? Then there is no room for a mark beside the digit."""
    height, width = shape[:2]
    box = table.box[candidate]
    margin_h, margin_w = max(2.0, TIGHT * height), max(2.0, TIGHT * width)
    return bool(box[:, 0].min() <= margin_h and box[:, 2].max() >= height - margin_h
                and box[:, 1].min() <= margin_w and box[:, 3].max() >= width - margin_w)


def _lines_under_digits(table: Components, candidate: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """(n,) bool: candidate pieces that are a line under another candidate, a stroke NEAR it with
    at least a quarter of the line's mass (`_underline`). Only the MAX_FRAMES heaviest pieces
    are looked at, as for frames: a halftone's thousands of dots would cost their square."""
    out = np.zeros(table.mass.size, dtype=bool)
    heaviest = np.argsort(np.where(candidate, -table.mass, np.inf))[:MAX_FRAMES]
    heaviest = heaviest[candidate[heaviest]]
    box = table.box
    flat = (box[:, 2] - box[:, 0]) <= UNDERLINE * (box[:, 3] - box[:, 1])  # (n,)
    strokes = heaviest[table.stroke_like()[heaviest]]
    for k in heaviest[flat[heaviest]]:
        for j in strokes:
            side = max(box[j][2] - box[j][0], box[j][3] - box[j][1])
            if j != k and table.mass[j] >= 0.25 * table.mass[k] and _underline(box[k], box[j]) \
                    and _gap(box[k], box[j]) <= NEAR * side:
                out[k] = True
                break
    return out


def _underline(box: NDArray, digit_box: NDArray) -> bool:
    """Is the piece in box a line drawn under the digit: a flat stroke (at most UNDERLINE of its
    length thick) wholly below the digit's box that runs beyond it on both sides? A 2's base
    stops at one side; over the digit, a 7's bar runs to both ends of its box, so nothing above
    is taken for a line."""
    top, left, bottom, right = (int(v) for v in box)
    digit_top, digit_left, digit_bottom, digit_right = (int(v) for v in digit_box)
    flat = bottom - top <= UNDERLINE * (right - left)
    return flat and top >= digit_bottom and left < digit_left and right > digit_right


def _within(box: NDArray, outer: NDArray, margin: float) -> bool:
    return bool(box[0] >= outer[0] - margin and box[1] >= outer[1] - margin
                and box[2] <= outer[2] + margin and box[3] <= outer[3] + margin)


def dilate(mask: NDArray[np.bool_], radius: int) -> NDArray[np.bool_]:
    """mask grown by radius px in every direction (a (2r + 1)² square): (h, w) -> (h, w)."""
    if radius <= 0:
        return mask
    out = mask.copy()
    for axis in (0, 1):  # a square is a row then a column: separable
        grown = out.copy()
        for shift in range(1, radius + 1):
            if shift >= out.shape[axis]:
                break
            ahead = [slice(None)] * 2
            behind = [slice(None)] * 2
            ahead[axis], behind[axis] = slice(shift, None), slice(None, -shift)
            grown[tuple(ahead)] |= out[tuple(behind)]
            grown[tuple(behind)] |= out[tuple(ahead)]
        out = grown
    return out
