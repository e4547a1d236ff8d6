"""Marker drawings (digitnet.data.marker), each step on a crafted digit, and the trainer's use of them.

A ring (a 0) and a bar (a 1) stand in for digits: the ring's hole shows what a bold pen fills
and what it leaves open, the bar what the centre line and the pen's width are.
"""

import numpy as np
import pytest

from digitnet.data import components, marker, strokes
from digitnet.data.augment import augment, epoch_augmentations, parse_augment
from digitnet.training.config import TrainConfig
from digitnet.training.trainer import Trainer

UP = marker.UPSCALE


def ring(radius=6.0, width=2.4):
    """A 0: ink within width/2 of a circle of `radius` px about the centre; (28, 28) float32."""
    rows, cols = np.mgrid[:28, :28] + 0.5
    distance = np.abs(np.hypot(rows - 14, cols - 14) - radius)
    return np.clip(width / 2 + 0.5 - distance, 0, 1).astype(np.float32)


def bar(top=6, bottom=22, left=13, right=16):
    """A 1: a vertical bar rows top..bottom, columns left..right; (28, 28) float32."""
    x = np.zeros((28, 28), np.float32)
    x[top:bottom, left:right] = 1.0
    return x


def dot():
    rows, cols = np.mgrid[:28, :28]
    return (np.hypot(rows - 14, cols - 14) <= 1.5).astype(np.float32)


def test_centre_line_of_a_bar_is_one_pixel_wide_down_its_middle():
    line = marker.centre_line(bar())  # the bar is 3 px wide, 16 tall: 12 × 64 at 4×
    assert line.shape == (28 * UP, 28 * UP)
    rows = np.flatnonzero(line.any(axis=1))
    assert rows.size >= (16 - 4) * UP  # the bar's length, less about half its width at each end
    assert line[rows].sum(axis=1).max() <= 2  # one pixel across (two where a step falls)
    cols = np.flatnonzero(line.any(axis=0))
    assert cols.min() >= 13 * UP and cols.max() < 16 * UP  # inside the bar


def test_centre_line_of_a_ring_stays_a_ring():
    line = marker.centre_line(ring())
    rows, cols = np.nonzero(line)
    radius = np.hypot(rows + 0.5 - 14 * UP, cols + 0.5 - 14 * UP) / UP  # in MNIST px
    assert np.abs(radius - 6.0).max() < 1.0  # on the stroke's middle ...
    assert not line[14 * UP - 8:14 * UP + 8, 14 * UP - 8:14 * UP + 8].any()  # ... around a hole


@pytest.mark.parametrize("pen", [2.5, 4.5, 6.5])
def test_the_pen_draws_strokes_its_own_width(pen):
    line = np.zeros((40, 120), bool)
    line[20, 10:110] = True  # 25 MNIST px long
    ink = marker.draw_with_pen(line, pen)
    assert ink.max() == 1.0
    width = strokes.stroke_width(ink) / UP  # 2A/P of a stadium: a little under its width
    assert pen * 0.85 < width <= pen * 1.05


def nine(radius):
    """A 9: a loop of `radius` px at the top and a stem down its right side; (28, 28) float32."""
    x = np.roll(ring(radius=radius), 5 - int(round(radius)), axis=0)  # the loop up
    rows, cols = np.mgrid[:28, :28] + 0.5
    stem = np.clip(1.7 - np.abs(cols - (14 + radius)), 0, 1) * ((rows > 9) & (rows < 25))
    return np.maximum(x, stem).astype(np.float32)


def holes(image):
    """Pieces of paper (< 0.5) that do not reach the image's edge: the loops left open."""
    labels, count = components.label_components(np.pad(image < 0.5, 1, constant_values=True))
    return count - 1  # the outside is one piece


def test_a_bold_pen_fills_a_small_loop_and_leaves_a_big_one_open():
    assert holes(nine(3.5)) == 1 and holes(nine(6.0)) == 1
    assert holes(marker.marker_digit(nine(3.5), 2.6)) == 1  # MNIST's pen: the loop stays open
    assert holes(marker.marker_digit(nine(3.5), 6.5)) == 0  # a marker fills it, the thinning does not reopen it
    assert holes(marker.marker_digit(nine(6.0), 6.5)) == 1  # a bigger loop survives the marker


def test_a_marker_digit_arrives_as_a_pictures_digit_does():
    out = marker.marker_digit(ring(radius=7.0), 6.0)
    assert out.shape == (28, 28) and out.dtype == np.float32 and out.max() == 1.0
    rows, cols = np.nonzero(out > 0.05)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 <= 21  # the 20 px box
    mass = out.sum()
    centre = ((out.sum(1) * np.arange(28)).sum() / mass, (out.sum(0) * np.arange(28)).sum() / mass)
    assert np.allclose(centre, 14, atol=1.0)  # centred by mass
    drawn = marker.draw_with_pen(marker.centre_line(ring(radius=7.0)), 6.0)
    before = strokes.stroke_width(drawn) / UP * 20 / ((7.0 + 3.0) * 2)  # the pen in the 20 px box
    assert before > strokes.WIDTH_HIGH  # too bold for MNIST ...
    assert strokes.stroke_width(strokes.resize_longer_side(out, 160)) / 8 < before - 0.5  # ... thinned


def test_drawings_are_chosen_and_drawn_by_the_generator_alone():
    rings = [ring(radius=8 + k % 2 / 2) for k in range(10)]  # loops a marker leaves open
    x = np.stack([image.ravel() for image in rings + [bar(left=6 + k, right=9 + k) for k in range(10)]])
    index, drawings = marker.marker_drawings(x, np.random.default_rng(0), share=0.5)
    assert len(index) == 10 and np.all(np.diff(index) > 0)  # ten rows, sorted, each once
    assert drawings.shape == (10, 784) and drawings.dtype == np.float32
    assert drawings.min() >= 0.0 and drawings.max() <= 1.0
    again = marker.marker_drawings(x, np.random.default_rng(0), share=0.5)
    assert np.array_equal(index, again[0]) and np.array_equal(drawings, again[1])
    other = marker.marker_drawings(x, np.random.default_rng(1), share=0.5)
    assert not np.array_equal(drawings, other[1])
    assert len(marker.marker_drawings(x, np.random.default_rng(0), share=0.0)[0]) == 0


def test_a_drawing_too_stubby_for_a_digit_is_left_out():
    x = np.stack([dot().ravel(), bar().ravel()])
    index, drawings = marker.marker_drawings(x, np.random.default_rng(0), share=1.0)
    assert list(index) == [1] and len(drawings) == 1  # the dot drawn bold is a blob: left out


def test_marker_is_made_once_by_the_trainer_not_every_epoch():
    x = np.stack([ring(radius=5 + k % 3).ravel() for k in range(6)])
    rng = np.random.default_rng(0)
    assert parse_augment("closing+marker") == ("marker", "closing")
    assert epoch_augmentations("closing+marker") == ("closing",)
    assert augment(x, "marker", rng) is x
    assert np.array_equal(augment(x, "marker+closing", np.random.default_rng(3)),
                          augment(x, "closing", np.random.default_rng(3)))


def trainer(augment_spec, seed=0, n=50):
    rng = np.random.default_rng(9)
    lefts = rng.integers(8, 18, n)
    x = np.stack([(ring(radius=rng.uniform(4.5, 8)) if k % 2 else bar(left=lefts[k], right=lefts[k] + 3)).ravel()
                  for k in range(n)])
    y = np.arange(n) % 2
    config = TrainConfig(sizes=[784, 8, 10], activation="relu", output_activation="softmax", loss="cross-entropy",
                         optimizer="adam", learning_rate=1e-3, batch_size=10, epochs=1, seed=seed,
                         augment=augment_spec, engine="fused")
    return Trainer(config.make_network(), config, x, y), x, y


def test_the_trainer_adds_the_drawings_to_the_training_images():
    plain, x, y = trainer(None)
    drawn, _, _ = trainer("marker")
    assert len(plain.x) == 50 and plain.marker_seconds == 0.0
    k = len(drawn.x) - 50
    assert 0 < k <= round(marker.MARKER_SHARE * 50) and drawn.marker_seconds > 0  # less the blobs left out
    assert np.array_equal(drawn.x[:50], x)  # the originals stay, the drawings follow
    index, drawings = marker.marker_drawings(x, np.random.default_rng(0))  # the trainer's seed
    assert len(index) == k
    assert np.array_equal(drawn.x[50:], drawings)
    assert np.array_equal(drawn.y_labels, np.concatenate([y, y[index]]))
    same, _, _ = trainer("marker")
    assert np.array_equal(same.x, drawn.x)
    drawn.run()
    assert drawn.epoch == 1


def test_drawings_made_in_two_processes_are_the_ones_made_here():
    x = np.stack([ring(radius=8 + k % 3 / 2).ravel() for k in range(6)] + [dot().ravel()])
    pens = np.linspace(4.5, 6.5, len(x))
    here = marker.draw_digits(x, pens)
    there = marker.draw_in_processes(x, pens, workers=2)
    assert np.array_equal(here[0], there[0]) and np.array_equal(here[1], there[1])
    assert list(here[0]) == [True] * 6 + [False]  # the dot's blob, left out either way


def test_processes_are_used_only_where_they_cannot_rerun_the_callers_code(monkeypatch):
    import sys
    import types

    def main(name, spec=None, path=None):
        module = types.ModuleType(name)
        module.__spec__ = None if spec is None else types.SimpleNamespace(name=spec)
        if path is not None:
            module.__file__ = path
        monkeypatch.setitem(sys.modules, "__main__", module)
        return marker.safe_to_spawn()

    monkeypatch.setattr(marker, "GUARDED_MAIN", False)  # (a `digitnet train` earlier in this process sets it)

    assert main("__main__", spec="digitnet.__main__", path="/x/digitnet/__main__.py")  # digitnet's CLI
    assert main("__main__")  # a notebook or the interactive prompt: nothing to run again
    assert not main("__main__", path="/home/me/train_it.py")  # a script by its path
    assert not main("__main__", spec="train_it", path="/home/me/train_it.py")  # python -m train_it
    monkeypatch.setattr(marker, "GUARDED_MAIN", True)  # as `digitnet train` sets it (its console script is guarded)
    assert main("__main__", path="/venv/bin/digitnet")
