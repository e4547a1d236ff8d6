"""The backpropagation picture (plots.backprop_figure) and `digitnet show backprop`.

The numbers drawn are read back out of the figure's artists (bar heights, arrow ends, image
arrays) and compared with what net.gradients gives, computed here independently: the picture
must show the gradients, not merely look plausible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytest.importorskip("matplotlib")

import digitnet as dn  # noqa: E402
from digitnet import cli  # noqa: E402
from digitnet.inspection import plots  # noqa: E402
from digitnet.network import Network  # noqa: E402

RELATIVE = 1e-4


def relative_error(ours, reference) -> float:
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    return float(np.linalg.norm(ours - reference) / max(np.linalg.norm(reference), 1e-30))


@pytest.fixture(scope="module")
def net() -> Network:
    net = Network([784, 16, 16, 10], seed=11)
    return net


@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    rng = np.random.default_rng(1)
    x = np.zeros((28, 28), np.float32)
    x[6:22, 12:16] = 1.0  # a thick "1"
    x[6:9, 9:16] = rng.uniform(0.5, 1.0, (3, 7))
    return x.reshape(-1)


def axes_titled(figure, start: str):
    found = [axes for axes in figure.axes if axes.get_title().startswith(start)]
    assert found, [axes.get_title() for axes in figure.axes]
    return found


def test_every_number_in_the_picture_is_the_gradient(net, digit):
    label, eta = 4, 3.0
    figure = plots.backprop_figure(net, digit, label, neurons=3, learning_rate=eta)
    grads = net.gradients(digit[None], [label])  # [(dW₀, db₀), (dW₁, db₁), (dW₂, db₂)]
    activations = [a[0] for a in net.activations(digit[None])[1:]]

    # Output layer: grey bars are a_L; each arrow runs from a_k by −∂C/∂a_k = y_k − a_k (quadratic).
    outputs = axes_titled(figure, "output layer")[0]
    bars = [patch.get_width() for patch in outputs.patches]
    np.testing.assert_allclose(bars, activations[-1], rtol=1e-6)
    nudges = np.eye(10)[label] - activations[-1]
    arrows = {round(a.xyann[1]): a.xy[0] - a.xyann[0] for a in outputs.texts if hasattr(a, "xyann")}
    assert arrows, "no nudge arrows drawn"
    for k, length in arrows.items():
        assert length == pytest.approx(nudges[k], rel=1e-5, abs=1e-7)

    # Layer 0's bars: −∂C/∂a₀ = −W₁ᵀ ∂C/∂z₁ (the wishes of layer 1, summed); dots: −∂C/∂z₀.
    layer0 = axes_titled(figure, "layer 0: nudges")[0]
    heights = [patch.get_height() for patch in layer0.patches]
    assert relative_error(heights, -(grads[1][1] @ net.layers[1].weight)) < RELATIVE
    assert relative_error(layer0.lines[-1].get_ydata(), -grads[0][1]) < RELATIVE

    # The heat map: each output neuron's wish −∂C/∂z_k · w_kj; the bars under it, their sums.
    heat = axes_titled(figure, "wishes of the outputs")[0]
    expected = -grads[2][1][:, None] * net.layers[2].weight
    assert relative_error(heat.images[0].get_array(), expected) < RELATIVE
    sums = [axes for axes in figure.axes if axes.get_xlabel().startswith("layer 1 neuron j")][0]
    assert relative_error([p.get_height() for p in sums.patches], -(grads[2][1] @ net.layers[2].weight)) < RELATIVE

    # Weight-change pictures: −∂C/∂W₀[j] for the neurons with the largest |∂C/∂z₀|.
    chosen = np.argsort(-np.abs(grads[0][1]), kind="stable")[:3]
    changes = axes_titled(figure, "weight change")
    assert len(changes) == 3
    for axes, j in zip(changes, chosen):
        assert f"W₀[{j}]" in axes.get_title()
        assert relative_error(axes.images[0].get_array(), -grads[0][0][j].reshape(28, 28)) < RELATIVE

    # The step: outputs of W − η∂C/∂W, computed here by hand.
    stepped = net.copy()
    for p, g in zip(stepped.parameters(), [g for pair in grads for g in pair]):
        p -= np.float32(eta) * g
    after = stepped.forward(digit[None])[0]
    step = axes_titled(figure, "outputs after one gradient step")[0]
    widths = np.array([patch.get_width() for patch in step.patches[10:20]])
    assert relative_error(widths, after) < RELATIVE
    cost_after = stepped.loss(digit[None], [label])
    assert f"→ {cost_after:.4g}" in step.get_title()


def test_other_losses_and_deeper_networks_draw(digit, tmp_path):
    modern = Network([784, 20, 12, 8, 10], activation="relu", output_activation="softmax", seed=0)
    figure = plots.backprop_figure(modern, digit, 7, neurons=2)
    assert "cross-entropy" in figure._suptitle.get_text()
    assert len(axes_titled(figure, "layer 1: nudges")) == 1  # every earlier hidden layer gets its bars
    plots.save_figure(figure, tmp_path / "modern.png", dpi=30)
    with pytest.raises(ValueError, match="needs a hidden layer"):
        plots.backprop_figure(Network([784, 10]), digit, 1)
    with pytest.raises(ValueError, match="label must be an integer in 0..9"):
        plots.backprop_figure(modern, digit, 10)


# --------------------------------------------------------------------------- the command


@pytest.fixture
def files(tmp_path, net) -> tuple[Path, Path]:
    model = tmp_path / "net.safetensors"
    dn.save(net, model)
    image = Image.new("L", (200, 200), "white")
    ImageDraw.Draw(image).line([(60, 40), (150, 40), (90, 170)], fill="black", width=18)  # a "7"
    path = tmp_path / "seven.png"
    image.save(path)
    return model, path


def test_show_backprop_writes_the_picture_of_these_numbers(files, tmp_path, capsys, monkeypatch):
    model, image = files
    out = tmp_path / "bp.png"
    assert cli.main(["show", "backprop", str(model), str(image), "--label", "7", "-o", str(out), "--dpi", "40"]) == 0
    assert "Wrote" in capsys.readouterr().out
    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.size == (600, 400)
        assert len(picture.convert("RGB").getcolors(1 << 20)) > 8
    # The command draws exactly backprop_figure of the prepared image.
    from digitnet.data.preprocess import to_mnist

    drawn = {}
    real = plots.backprop_figure

    def spy(net, x, label, **options):
        drawn.update(x=np.array(x), label=label, options=options)
        return real(net, x, label, **options)

    monkeypatch.setattr(plots, "backprop_figure", spy)
    assert cli.main(["show", "backprop", str(model), str(image), "--label", "7", "--lr", "0.5", "--neurons", "2", "-o", str(out)]) == 0
    np.testing.assert_array_equal(drawn["x"], to_mnist(str(image)).reshape(-1))
    assert drawn["label"] == 7 and drawn["options"] == {"loss": None, "neurons": 2, "learning_rate": 0.5}


@pytest.mark.parametrize("extra, needle", [
    (["--label", "12"], "label must be an integer in 0..9"),
    (["--label", "3", "--loss", "cross-entropy"], "needs a softmax output"),
    (["--label", "3", "--lr", "-1"], "learning_rate"),
    (["--label", "3", "--neurons", "0"], "neurons"),
])
def test_show_backprop_mistakes_are_one_line(files, tmp_path, capsys, extra, needle):
    model, image = files
    assert cli.main(["show", "backprop", str(model), str(image), "-o", str(tmp_path / "x.png"), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err
