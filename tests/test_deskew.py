"""Deskewing and a model's own preprocessing (digitnet.data.deskew, digitnet.data.prepare).

A sheared bar comes out vertical with its centre of mass in place; upright, empty and flat
images pass unchanged; the model file's "preprocessing" says whether a model deskews, and
prepare_for applies exactly what it says.
"""

import numpy as np
import pytest

from digitnet import Network
from digitnet.data import warp
from digitnet.data.deskew import MAX_SLANT, deskew, slant
from digitnet.data.prepare import model_steps, prepare_for, preprocessing_document
from digitnet.modelfile import MNIST_PREPROCESSING


def slanted_bar(s, length=18, width=2):
    """A bar through the centre leaning s columns right per row down: (28, 28) float32."""
    image = np.zeros((28, 28), dtype=np.float32)
    for r in range(14 - length // 2, 14 + length // 2):
        c = 13.5 + s * (r - 13.5)
        left = int(np.floor(c - width / 2 + 0.5))
        image[r, left : left + width] = 1.0
    return image


def column_centre_per_row(image):
    rows = np.flatnonzero(image.sum(1) > 0.5)
    cols = np.arange(28)
    return rows, np.array([(image[r] * cols).sum() / image[r].sum() for r in rows])


def centre_of_mass(image):
    rows, cols = warp.grid(28, np.float64)
    return np.array([(image * rows).sum(), (image * cols).sum()]) / image.sum()


@pytest.mark.parametrize("s", [-0.6, -0.3, 0.25, 0.5])
def test_a_sheared_bar_comes_out_vertical_about_its_centre_of_mass(s):
    image = slanted_bar(s)
    assert slant(image)[0] == pytest.approx(s, abs=0.05)
    upright = deskew(image)
    rows, centres = column_centre_per_row(upright)
    assert abs(np.polyfit(rows, centres, 1)[0]) < 0.03  # no lean left: columns per row down
    assert np.ptp(centres) < 1.0  # every row's ink in one column, give or take the bar's pixel steps
    before_rows, before = column_centre_per_row(image)
    assert np.polyfit(before_rows, before, 1)[0] == pytest.approx(s, abs=0.05)  # it really leaned
    assert abs(slant(upright)[0]) < 0.03
    np.testing.assert_allclose(centre_of_mass(upright), centre_of_mass(image), atol=0.1)


def test_upright_empty_and_flat_images_are_unchanged():
    upright = slanted_bar(0.0)
    np.testing.assert_allclose(deskew(upright), upright, atol=1e-6)
    empty = np.zeros((28, 28), dtype=np.float32)
    assert np.array_equal(deskew(empty), empty)
    dash = np.zeros((28, 28), dtype=np.float32)
    dash[14, 8:20] = 1.0  # one row of ink: no vertical extent, no slant
    assert slant(dash)[0] == 0.0
    assert np.array_equal(deskew(dash), dash)


def test_slant_is_clipped_at_45_degrees():
    image = np.zeros((28, 28), dtype=np.float32)
    image[13, 4:24] = 1.0
    image[14, 5:25] = 1.0  # almost flat and two rows thick: μ_rc / μ_rr is about 4
    assert slant(image)[0] == MAX_SLANT


def test_shapes_dtype_range_and_the_callers_array():
    rng = np.random.default_rng(0)
    x = np.zeros((5, 28, 28), dtype=np.float64)
    x[:, 6:22, 10:18] = rng.random((5, 16, 8))
    x = x.reshape(5, 784)
    before = x.copy()
    out = deskew(x)
    assert out.shape == (5, 784) and out.dtype == np.float32
    assert np.array_equal(x, before)
    assert out.min() >= 0 and out.max() <= 1
    assert deskew(x[0]).shape == (784,)
    np.testing.assert_array_equal(deskew(x[0].reshape(28, 28)).reshape(784), out[0])


@pytest.mark.parametrize("shape", [(10,), (0, 784), (3, 785)])
def test_bad_shapes_say_what_was_expected(shape):
    with pytest.raises(ValueError, match=r"deskew takes images of 28x28 = 784 values; got shape"):
        deskew(np.zeros(shape))


def test_deskew_straightens_real_digits():
    """On MNIST the slants shrink: the mean |α| of 1,000 test digits drops at least fourfold."""
    from digitnet.data import load_split

    try:
        x, _ = load_split("mnist", "test", download=False)
    except ValueError:
        pytest.skip("MNIST is not on this machine")
    before, after = np.abs(slant(x[:1000])).mean(), np.abs(slant(deskew(x[:1000]))).mean()
    assert before > 0.15 and after < before / 4


# --------------------------------------------------------------------------- the model's preprocessing
def test_the_preprocessing_document_records_deskew():
    plain, deskewed = preprocessing_document(), preprocessing_document(deskew=True)
    assert plain == MNIST_PREPROCESSING and "deskew" not in plain
    assert deskewed["deskew"] is True
    assert deskewed["steps"][:-1] == MNIST_PREPROCESSING["steps"]
    assert deskewed["steps"][-1].startswith("deskew")
    assert len(MNIST_PREPROCESSING["steps"]) == 4  # the shared document was not changed in place


def test_prepare_for_applies_what_the_model_records_and_nothing_else():
    net = Network([784, 10, 10], seed=0)
    x = slanted_bar(0.4).reshape(1, 784)
    assert model_steps(net.metadata) == []
    assert prepare_for(net, x) is x  # an older model, or one trained without deskew: as given
    net.metadata = {"preprocessing": preprocessing_document(deskew=True)}
    assert model_steps(net.metadata) == ["deskew"]
    np.testing.assert_array_equal(prepare_for(net, x), deskew(x))
    np.testing.assert_array_equal(prepare_for(net.metadata, x[0]), deskew(x[0]))


def test_a_bad_deskew_entry_is_refused():
    with pytest.raises(ValueError, match=r"the model's preprocessing 'deskew' must be true or false; got 'yes'"):
        prepare_for({"preprocessing": {"deskew": "yes"}}, np.zeros(784))


def test_training_with_deskew_deskews_every_set_and_records_it():
    from digitnet import TrainConfig, Trainer, evaluate

    rng = np.random.default_rng(0)
    x = np.stack([slanted_bar(s).reshape(784) for s in rng.uniform(-0.6, 0.6, 60)])  # (60, 784)
    y = rng.integers(0, 10, 60)
    net = Network([784, 8, 10], seed=0)
    config = TrainConfig(sizes=[784, 8, 10], epochs=1, batch_size=10, deskew=True)
    trainer = Trainer(net, config, x, y, validation=(x[:20], y[:20]), test=(x[20:], y[20:]))
    np.testing.assert_array_equal(trainer.x, deskew(x))
    np.testing.assert_array_equal(trainer.validation[0], deskew(x[:20]))
    np.testing.assert_array_equal(trainer.test[0], deskew(x[20:]))
    assert net.metadata["preprocessing"]["deskew"] is True
    trainer.run()
    assert evaluate(net, x, y) == float(np.mean(net.predict(deskew(x)) == y))


def test_deskew_needs_28x28_inputs():
    from digitnet import TrainConfig, Trainer

    with pytest.raises(ValueError, match=r"deskew=True stands 28x28 digits upright; the network takes 10 inputs"):
        Trainer(Network([10, 3]), TrainConfig(sizes=[10, 3], deskew=True), np.zeros((4, 10)), np.zeros(4, dtype=int))
