"""Tests for digitnet.inspection.plots: every picture is drawn, saved at the expected size, and not blank.

Pictures come from small random networks and noise images, so no dataset is needed. Each
saved PNG is opened with Pillow: its size must be figsize × dpi and it must hold more than a
few distinct colours. Runs under filterwarnings = error and NumPy errstate raise (conftest).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("matplotlib")

from digitnet import Network  # noqa: E402
from digitnet.inspection import plots  # noqa: E402
from digitnet.training import History  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.uniform(0.0, 1.0, size=(60, 784)).astype(np.float32)  # (60, 784)
Y = RNG.integers(0, 5, size=60)
DPI = 40  # small pictures: fast tests

HISTORY = {
    "records": [
        {"epoch": e, "loss": 1.0 / e, "accuracy": 0.5 + e / 20, "val_loss": 1.2 / e, "val_accuracy": 0.5 + e / 25,
         "test_accuracy": 0.5 + e / 26, "seconds": 0.1}
        for e in range(1, 6)
    ]
}


@pytest.fixture
def net() -> Network:
    return Network([784, 8, 6, 5], seed=1)


def saved(figure, path, dpi: int = DPI) -> Image.Image:
    """Save figure to path, reopen it, and check it has the figure's size and real content."""
    plots.save_figure(figure, path, dpi=dpi)
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    width, height = figure.get_size_inches()
    expected = (width * dpi, height * dpi)  # matplotlib truncates to whole pixels
    assert all(abs(got - want) < 1 for got, want in zip(image.size, expected)), (image.size, expected)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 8, "picture looks blank"
    return image


def test_weights_figure(net, tmp_path):
    figure = plots.weights_figure(net)
    assert len([a for a in figure.axes if a.images]) == 8  # one tile per neuron
    saved(figure, tmp_path / "weights.png")


def test_weights_figure_tiles_show_the_weights(net):
    figure = plots.weights_figure(net)
    tiles = [a for a in figure.axes if a.images]
    for j, axes in enumerate(tiles):
        np.testing.assert_array_equal(np.asarray(axes.images[0].get_array()), net.layers[0].weight[j].reshape(28, 28))
        low, high = axes.images[0].get_clim()
        assert low == -high > -np.inf  # symmetric about zero: white means a zero weight
        assert axes.images[0].get_cmap().name == "RdBu"
        assert f"bias {net.layers[0].bias[j]:+.2f}" == axes.get_xlabel()


def test_weights_figure_deeper_layer_shows_weighted_pictures(net, tmp_path):
    figure = plots.weights_figure(net, layer=2, class_names=list("abcde"))
    tiles = [a for a in figure.axes if a.images]
    product = net.layers[2].weight.astype(np.float64) @ net.layers[1].weight @ net.layers[0].weight
    np.testing.assert_allclose(np.asarray(tiles[3].images[0].get_array()), product[3].reshape(28, 28), rtol=1e-5, atol=1e-6)
    assert tiles[3].get_title() == "output d"
    assert "linear approximation" in figure.get_suptitle()
    saved(figure, tmp_path / "weights2.png")


def test_weights_figure_of_all_zero_weights(tmp_path):
    # An all-zero picture must not divide by zero anywhere (errstate raises in these tests).
    zero = Network([784, 4, 3], seed=0)
    for dense in zero.layers:
        dense.weight[:] = 0.0
        dense.bias[:] = 0.0
    figure = plots.weights_figure(zero)
    plots.save_figure(figure, tmp_path / "zero.png", dpi=DPI)
    plots.activations_figure(zero, np.zeros(784, dtype=np.float32))


def test_many_neurons(tmp_path):
    wide = Network([784, 24, 10], activation="relu", output_activation="softmax", seed=0)
    saved(plots.weights_figure(wide), tmp_path / "wide.png")
    figure = plots.activations_figure(wide, X[0])
    assert "most active shown" in " ".join(t.get_text() for t in figure.axes[0].texts)
    saved(figure, tmp_path / "wide-activations.png")


def test_activations_figure(net, tmp_path):
    figure = plots.activations_figure(net, X[0], label=2)
    axes = figure.axes[0]
    np.testing.assert_array_equal(np.asarray(axes.images[0].get_array()), X[0].reshape(28, 28))
    predicted = int(net.predict(X[:1])[0])
    assert f"reads this as {predicted}" in figure.get_suptitle()
    assert "true label is 2" in figure.get_suptitle()
    texts = [t.get_text() for t in axes.texts]
    for j in range(5):  # the output labels and their activations
        assert str(j) in texts
        assert f"{net.forward(X[:1])[0, j]:.2f}" in texts
    saved(figure, tmp_path / "activations.png")


def test_activations_figure_circles_are_shaded_by_activation(net):
    from matplotlib.patches import Circle

    figure = plots.activations_figure(net, X[1])
    circles = [p for p in figure.axes[0].patches if isinstance(p, Circle)]
    assert len(circles) == 8 + 6 + 5
    trace = net.activations(X[1:2])
    shades = np.concatenate([a[0] for a in trace[1:]])  # sigmoid: grey level = activation
    np.testing.assert_allclose([c.get_facecolor()[0] for c in circles], shades, atol=1e-6)


def test_neuron_figure(net, tmp_path):
    figure = plots.neuron_figure(net, 1, 3, X[:30], X[30:], top=8)
    assert figure.get_suptitle().startswith("Neuron (layer 1, index 3)")
    saved(figure, tmp_path / "neuron.png")
    figure = plots.neuron_figure(net, 0, 0, X)  # no training images: top digits from x_test
    saved(figure, tmp_path / "neuron0.png")


def test_mistakes_figure(net, tmp_path):
    wrong = int((net.predict(X) != Y).sum())
    figure = plots.mistakes_figure(net, X, Y, count=10)
    assert f"{wrong:,} wrong of 60 images" in figure.get_suptitle()
    saved(figure, tmp_path / "mistakes.png")


def test_mistakes_figure_without_mistakes(net, tmp_path):
    figure = plots.mistakes_figure(net, X, net.predict(X), count=4)
    assert "0 wrong" in figure.get_suptitle()
    plots.save_figure(figure, tmp_path / "none.png", dpi=DPI)


def test_confusion_figure(net, tmp_path):
    figure = plots.confusion_figure(net, X, Y)
    confusion = np.zeros((5, 5), dtype=int)
    for true, predicted in zip(Y, net.predict(X)):
        confusion[true, predicted] += 1
    shown = np.asarray(figure.axes[0].images[0].get_array())
    np.testing.assert_array_equal(shown, confusion - np.diag(np.diag(confusion)))  # mistakes shaded
    saved(figure, tmp_path / "confusion.png")


@pytest.mark.parametrize("history", [HISTORY, History.from_dict(HISTORY)])
def test_training_figure(history, tmp_path):
    figure = plots.training_figure(history, title="Training of tiny", best_epoch=4)
    loss, accuracy = figure.axes[:2]
    lines = {line.get_label(): line for line in accuracy.get_lines()}
    assert {"training", "validation", "test"} <= set(lines)
    np.testing.assert_allclose(lines["validation"].get_ydata(), [100 * (0.5 + e / 25) for e in range(1, 6)])
    assert "best epoch 4" in figure.get_suptitle()
    saved(figure, tmp_path / "training.png")


def test_training_figure_with_only_training_records(tmp_path):
    figure = plots.training_figure({"records": [{"epoch": 1, "loss": 0.5, "accuracy": 0.7}, {"epoch": 2, "loss": 0.4, "accuracy": 0.8}]})
    saved(figure, tmp_path / "training.png")


@pytest.mark.parametrize("history", [{}, {"records": []}, {"records": [1, 2]}, None])
def test_training_figure_rejects_empty_history(history):
    with pytest.raises(ValueError, match="training history must be"):
        plots.training_figure(history)


def test_svg_by_extension(net, tmp_path):
    path = plots.save_figure(plots.weights_figure(net), tmp_path / "weights.SVG")
    text = path.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text


def test_png_is_a_png(net, tmp_path):
    path = plots.save_figure(plots.confusion_figure(net, X, Y), tmp_path / "c.png", dpi=DPI)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    full = plots.save_figure(plots.confusion_figure(net, X, Y), tmp_path / "full.png", dpi=DPI, compact=False)
    with Image.open(full) as image:
        assert image.mode in ("RGB", "RGBA")


def test_unknown_extension(net, tmp_path):
    with pytest.raises(ValueError, match=r"picture file must end in \.png or \.svg; got '.*weights\.jpg'"):
        plots.save_figure(plots.weights_figure(net), tmp_path / "weights.jpg")
    assert not (tmp_path / "weights.jpg").exists()


def test_bad_arguments(net):
    with pytest.raises(ValueError, match=r"layer must be in 0\.\.2"):
        plots.weights_figure(net, layer=3)
    with pytest.raises(ValueError, match=r"index must be in 0\.\.5 for layer 1"):
        plots.neuron_figure(net, 1, 6, X)
    with pytest.raises(ValueError, match="x must be one example of 784 values"):
        plots.activations_figure(net, X[:2])
    with pytest.raises(ValueError, match="not a square image"):
        plots.weights_figure(Network([10, 3, 2], seed=0))


def test_missing_matplotlib_says_how_to_install(net, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now fails
    with pytest.raises(ImportError, match=r"install digitnet\[plots\]"):
        plots.weights_figure(net)


def test_drawing_never_imports_pyplot():
    # Figures are built without pyplot: no global state, no GUI backend, safe in a server.
    code = (
        "import sys, numpy as np\n"
        "from digitnet import Network\n"
        "from digitnet.inspection import plots\n"
        "plots.activations_figure(Network([784, 3, 2], seed=0), np.zeros(784, dtype=np.float32))\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_old_name_digitnet_plots_gives_the_same_functions():
    # The README's code layout names `plots`: scripts importing digitnet.plots keep working.
    import digitnet.plots

    assert digitnet.plots.__all__ == plots.__all__
    for name in plots.__all__:
        assert getattr(digitnet.plots, name) is getattr(plots, name)
