"""Pictures of the numbers in digitnet.inspection: weights, activations, neurons, mistakes.

Every function returns a matplotlib Figure built without pyplot (no display, no global state,
safe in a server) and save_figure writes it as PNG or SVG by the file's extension. matplotlib is
an optional extra, imported only when a picture is drawn: `pip install 'digitnet[plots]'`.

Conventions shared by all the pictures (the video's):
- weights: a diverging colour map symmetric about zero, blue for positive weights (ink there
  pushes the neuron's weighted sum up), red for negative (ink there pushes it down), white 0;
- activations and pixels: black 0 to white 1, as the network sees a digit (bright ink on dark);
- layers are numbered from 0 as everywhere in digitnet: layer L is net.layers[L], and its
  neurons are the activations it outputs (see digitnet.inspection).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from digitnet import inspection
from digitnet.network import Network

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "FORMATS",
    "activations_figure",
    "confusion_figure",
    "mistakes_figure",
    "neuron_figure",
    "save_figure",
    "training_figure",
    "weights_figure",
]

FORMATS = {".png": "png", ".svg": "svg"}
WEIGHT_CMAP = "RdBu"  # low (negative) red, high (positive) blue
PIXEL_CMAP = "gray"  # 0 black, 1 white: the network's view of a digit
POSITIVE = "#2166ac"  # the blue and red ends of RdBu, for lines coloured by weight sign
NEGATIVE = "#b2182b"
INSTALL_HINT = "pictures need matplotlib: install digitnet[plots] (pip install 'digitnet[plots]')"


def _figure(**options: Any) -> "Figure":
    """A new Figure with no pyplot involved; ImportError with the install hint if matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    options.setdefault("layout", "constrained")
    return Figure(**options)


def require_matplotlib() -> None:
    """ImportError with the install hint unless matplotlib can be imported."""
    _figure()


def save_figure(figure: "Figure", path: str | os.PathLike, *, dpi: int = 100, compact: bool = True) -> Path:
    """Write figure to path as PNG or SVG (chosen by the extension), atomically. Returns the path.

    compact: store a PNG with a 256-colour palette (much smaller, visually the same).
    """
    from digitnet.files import atomic_path

    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"picture file must end in {' or '.join(FORMATS)}; got {str(path)!r}")
    with atomic_path(path) as temporary:
        if kind == "png" and compact:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
            _compact_png(buffer.getvalue(), temporary)
        else:
            figure.savefig(temporary, format=kind, dpi=dpi, facecolor="white")
    return path


def _compact_png(data: bytes, path: Path) -> None:
    """Re-encode a PNG with an adaptive 256-colour palette: a third of the size, and these
    pictures (flat colours, one colour map) look the same."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(path, format="PNG", optimize=True)


def _symmetric_limit(values: np.ndarray, percentile: float = 99.5) -> float:
    """m for a colour scale [−m, +m]: a high percentile of |values| so one outlier does not wash
    out the rest (the colour bar marks values beyond it); 1.0 for an all-zero array."""
    m = float(np.percentile(np.abs(values), percentile))
    return m if m > 0 else 1.0


def _class_names(net: Network, class_names: Sequence[str] | None) -> list[str]:
    names = list(class_names or getattr(net, "metadata", {}).get("class_names") or [])
    return names if len(names) == net.num_outputs else [str(j) for j in range(net.num_outputs)]


def _natural_range(activation: str, values: np.ndarray) -> tuple[float, float]:
    """The range an activation's output lives in, for shading: [0, 1] for sigmoid and softmax,
    [−1, 1] for tanh, [0, max] for ReLU-like and identity layers (max of the shown values)."""
    if activation in ("sigmoid", "softmax"):
        return 0.0, 1.0
    if activation == "tanh":
        return -1.0, 1.0
    low = min(0.0, float(values.min()))
    high = max(float(values.max()), low + 1e-6)
    return low, high


def _threshold_note(activation: str, bias: float) -> str:
    """What the bias does: the neuron lights up once its weighted input Σ w·a passes −b."""
    where = {"sigmoid": "σ(z) > 0.5", "tanh": "tanh(z) > 0", "softmax": "its share grows"}.get(activation, "it is active")
    return f"bias b = {bias:+.2f} sets its threshold:\nit lights up ({where}) once Σ w·a > {-bias:.2f}"


def _tile(axes, image: np.ndarray, cmap: str, vmin: float, vmax: float):
    shown = axes.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([])
    return shown


# --------------------------------------------------------------------------- weights


def weights_figure(net: Network, layer: int = 0, class_names: Sequence[str] | None = None) -> "Figure":
    """Every neuron of `layer` as a 28×28 tile, its bias under it.

    Layer 0: each tile is the neuron's row of W₀ (inspection.weight_image). Deeper layers: the
    "weighted" neuron pictures, rows of W_L ⋯ W₀ (inspection.neuron_picture), with a note that
    they ignore the σ between layers. One colour scale for all tiles, symmetric about zero.
    """
    layer = inspection.check_layer(net, layer)
    inspection.image_side(net)
    dense = net.layers[layer]
    n = dense.n_out
    pictures = np.stack([inspection.neuron_picture(net, layer, j) for j in range(n)])  # (n, 28, 28)
    columns = min(n, max(4, math.ceil(math.sqrt(n))))
    rows = math.ceil(n / columns)
    tile = 1.55 if n <= 36 else 1.0
    figure = _figure(figsize=(columns * tile + 1.4, rows * (tile + 0.25) + 1.3))
    grid = figure.subplots(rows, columns, squeeze=False)
    m = _symmetric_limit(pictures)
    names = _class_names(net, class_names)
    is_output = layer == len(net.layers) - 1
    small = 8 if n <= 36 else 6
    shown = None
    for j, axes in enumerate(grid.flat):
        if j >= n:
            axes.set_axis_off()
            continue
        shown = _tile(axes, pictures[j], WEIGHT_CMAP, -m, m)
        label = f"output {names[j]}" if is_output else f"neuron {j}"
        axes.set_title(label, fontsize=small + 1, pad=2)
        axes.set_xlabel(f"bias {dense.bias[j]:+.2f}", fontsize=small, labelpad=2)
    colorbar = figure.colorbar(shown, ax=grid, shrink=0.8, extend="both", aspect=30)
    quantity = "weight" if layer == 0 else "value of the product"
    colorbar.set_label(f"{quantity}: blue +, ink here raises z;  red −, ink here lowers z", fontsize=9)
    if layer == 0:
        title = f"Layer 0: the {dense.n_in} weights of each of the {n} neurons, as a picture"
        note = "z = Σ wᵢ·pixelᵢ + b, a = σ(z): a neuron lights up for ink on its blue pixels, off its red ones"
    else:
        title = f"Layer {layer}: what each of its {n} neurons looks for (weighted pictures)"
        note = (f"each tile is a row of W{layer}" + "".join(f"·W{l}" for l in range(layer - 1, -1, -1))
                + ": a linear approximation that ignores σ between layers")
    figure.suptitle(f"{title}\n{note}", fontsize=10)
    return figure


# --------------------------------------------------------------------------- activations


def _shown_neurons(values: np.ndarray, limit: int) -> np.ndarray:
    """Which neurons of a layer to draw: all of them, or the `limit` most active (in index order)."""
    if len(values) <= limit:
        return np.arange(len(values))
    return np.sort(np.argsort(-values, kind="stable")[:limit])


def activations_figure(
    net: Network,
    x: ArrayLike,
    class_names: Sequence[str] | None = None,
    *,
    label: int | None = None,
    title: str | None = None,
    connections: int = 36,
    max_neurons: int = 20,
) -> "Figure":
    """One digit flowing through the network, as in the video.

    Left, the 28×28 input as the network saw it; then each layer as a column of circles
    shaded by activation (black 0, white 1); the `connections` strongest connections into each
    layer for this input (largest |w·a|, inspection.strongest_connections) coloured by weight
    sign; the output neurons with their labels and activations. Layers wider than max_neurons
    show their most active neurons. label: the true class, if known, for the title.
    """
    trace = inspection.activation_trace(net, x)  # [x (784,), a₁, ..., a_L]
    side = inspection.image_side(net)
    names = _class_names(net, class_names)
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Circle, Rectangle

    n_layers = len(net.layers)
    height, gap, image_size = 9.0, 2.6, 3.2
    # Figure size follows the drawing's extent (0.75 in per unit) so the equal-aspect axes fill it.
    extent_x, extent_y = image_size + gap * (n_layers - 0.2) + 1.7, height + 1.1
    figure = _figure(figsize=(round(0.75 * extent_x, 2), round(0.75 * extent_y + 0.5, 2)))
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.set_aspect("equal")
    image_bottom = (height - image_size) / 2
    axes.imshow(
        trace[0].reshape(side, side), cmap=PIXEL_CMAP, vmin=0, vmax=1, interpolation="nearest",
        extent=(0, image_size, image_bottom, image_bottom + image_size),
    )
    axes.add_patch(Rectangle((0, image_bottom), image_size, image_size, fill=False, lw=0.8, ec="0.4"))
    axes.text(image_size / 2, image_bottom - 0.25, f"input: {side}×{side} = {side * side} pixels\n(what the network sees)",
              ha="center", va="top", fontsize=8)

    # Where each drawn neuron sits: {layer number: {neuron index: (x, y)}}; -1 is the input.
    pixel = image_size / side
    positions: list[dict[int, tuple[float, float]]] = []
    radius = 0.19
    for number in range(n_layers):
        values = trace[number + 1]
        shown = _shown_neurons(values, max_neurons)
        spacing = min(0.56, (height - 0.6) / max(len(shown) - 1, 1))
        radius = min(0.23, spacing * 0.42)
        x_column = image_size + gap * (number + 0.8)
        top = height / 2 + spacing * (len(shown) - 1) / 2
        positions.append({int(j): (x_column, top - k * spacing) for k, j in enumerate(shown)})

    # Connections first, so the circles cover their ends.
    for number in range(n_layers):
        targets = positions[number]
        if number == 0:
            sources = {i: ((i % side + 0.5) * pixel, image_bottom + image_size - (i // side + 0.5) * pixel)
                       for i in range(side * side)}
        else:
            sources = positions[number - 1]
        candidates = inspection.strongest_connections(net, trace[0], number, k=net.layers[number].weight.size)
        drawn = [c for c in candidates if c["target"] in targets and c["source"] in sources][:connections]
        if not drawn:
            continue
        largest = max(abs(c["contribution"]) for c in drawn) or 1.0
        segments, colours, widths = [], [], []
        for c in drawn:
            strength = abs(c["contribution"]) / largest
            segments.append([sources[c["source"]], targets[c["target"]]])
            rgb = POSITIVE if c["weight"] > 0 else NEGATIVE
            colours.append((*_rgb(rgb), 0.2 + 0.7 * strength))
            widths.append(0.4 + 2.2 * strength)
        axes.add_collection(LineCollection(segments, colors=colours, linewidths=widths, zorder=1))

    # Neurons.
    output = trace[-1]
    predicted = int(np.argmax(output))
    for number in range(n_layers):
        values = trace[number + 1]
        low, high = _natural_range(net.layers[number].activation, values)
        is_output = number == n_layers - 1
        for j, (cx, cy) in positions[number].items():
            level = float(np.clip((values[j] - low) / (high - low), 0.0, 1.0))
            axes.add_patch(Circle((cx, cy), radius, facecolor=str(level), edgecolor="0.35", lw=0.8, zorder=2))
            if radius >= 0.18:
                axes.text(cx, cy, _short(float(values[j])),
                          ha="center", va="center", fontsize=6.5, color="black" if level > 0.55 else "white", zorder=3)
            if not is_output:
                axes.text(cx - radius - 0.06, cy + radius * 0.6, str(j), ha="right", va="bottom",
                          fontsize=5.5, color="0.45", zorder=3)
            if is_output:
                strong = j == predicted
                axes.text(cx + radius + 0.15, cy, f"{names[j]}", ha="left", va="center", zorder=3,
                          fontsize=11 if strong else 9, fontweight="bold" if strong else "normal",
                          color=POSITIVE if strong else "black")
                axes.text(cx + radius + 0.75, cy, f"{values[j]:.2f}", ha="left", va="center", fontsize=8,
                          color=POSITIVE if strong else "0.35", zorder=3)
        count = net.layers[number].n_out
        heading = f"layer {number}" + (" (output)" if is_output else "") + f"\n{count} neurons"
        if len(positions[number]) < count:
            heading += f"\n({len(positions[number])} most active shown)"
        column_x = next(iter(positions[number].values()))[0]
        axes.text(column_x, height + 0.25, heading, ha="center", va="bottom", fontsize=8)

    last_x = positions[-1][next(iter(positions[-1]))][0]
    axes.set_xlim(-0.1, last_x + 1.6)
    axes.set_ylim(-0.2, height + 0.9)
    confidence_kind = "probability" if net.output_activation == "softmax" else "activation"
    if title is None:
        title = f"The network reads this as {names[predicted]} ({confidence_kind} {output[predicted]:.2f})"
        if label is not None:
            verdict = "right" if int(label) == predicted else "wrong"
            title += f"; the true label is {names[int(label)]} ({verdict})"
    figure.suptitle(
        f"{title}\nneurons shaded by their activation a = σ(W·a + b): black 0 → white 1\n"
        f"lines: the {connections} strongest connections into each layer (largest |w·a|), blue w > 0, red w < 0",
        fontsize=9,
    )
    return figure


def _short(value: float) -> str:
    """An activation in a small circle: .87, 1.00, -.31, 12.4."""
    text = f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    value = hex_colour.lstrip("#")
    return tuple(int(value[k:k + 2], 16) / 255 for k in (0, 2, 4))  # type: ignore[return-value]


# --------------------------------------------------------------------------- one neuron


def neuron_figure(
    net: Network,
    layer: int,
    index: int,
    x_test: ArrayLike,
    x_train: ArrayLike | None = None,
    class_names: Sequence[str] | None = None,
    *,
    top: int = 16,
    seed: int = 0,
) -> "Figure":
    """Neuron (layer, index) up close.

    Its picture (weights for layer 0, the weighted picture deeper), the input that excites it
    most (inspection.maximize_activation), its bias and what that means for its threshold, the
    histogram of its activation over x_test, and the `top` digits of x_train (or x_test) that
    excite it most (inspection.top_activating).
    """
    layer, index = inspection.check_neuron(net, layer, index)
    side = inspection.image_side(net)
    X_test = np.asarray(x_test)
    X_pool = X_test if x_train is None else np.asarray(x_train)
    dense = net.layers[layer]
    bias = float(dense.bias[index])
    picture = inspection.neuron_picture(net, layer, index)
    excites = inspection.maximize_activation(net, layer, index, seed=seed).reshape(side, side)
    values = inspection.layer_outputs(net, layer, X_test)[1][:, index]  # (n_test,)
    best = inspection.top_activating(net, layer, index, X_pool, k=top)
    best_z, best_a = (array[:, index] for array in inspection.layer_outputs(net, layer, X_pool[best]))

    figure = _figure(figsize=(11.5, 7.2))
    upper, lower = figure.subfigures(2, 1, height_ratios=[1.25, 1])
    panels = upper.subplots(1, 3, width_ratios=[1, 1, 1.3])
    m = _symmetric_limit(picture, 99)
    shown = _tile(panels[0], picture, WEIGHT_CMAP, -m, m)
    bar = upper.colorbar(shown, ax=panels[0], shrink=0.85, aspect=25, extend="both")
    bar.set_label("blue +: ink here raises z · red −: lowers it", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if layer == 0:
        panels[0].set_title("its 784 weights (row of W0)", fontsize=10)
    else:
        chain = f"W{layer}" + "".join(f"·W{l}" for l in range(layer - 1, -1, -1))
        panels[0].set_title(f"what it looks for: row of {chain}\n(linear approximation)", fontsize=10)
    panels[0].set_xlabel(_threshold_note(dense.activation, bias), fontsize=8.5)

    _tile(panels[1], excites, PIXEL_CMAP, 0, 1)
    a_max = inspection.layer_outputs(net, layer, excites.reshape(1, -1))[1][0, index]
    panels[1].set_title(f"the input that excites it most\n(gradient ascent; activation {a_max:.2f})", fontsize=10)
    panels[1].set_xlabel(f"pixels in [0, 1], ‖x‖ ≤ {inspection.DEFAULT_NORM:g} like a digit", fontsize=8)

    histogram = panels[2]
    histogram.hist(values, bins=40, color=POSITIVE, alpha=0.85)
    histogram.set_title(f"its activation on {len(values):,} test images", fontsize=10)
    histogram.set_xlabel(f"activation a ({dense.activation})", fontsize=9)
    histogram.set_ylabel("images", fontsize=9)
    histogram.tick_params(labelsize=8)

    columns = min(top, 8)
    rows = math.ceil(len(best) / columns)
    cells = lower.subplots(rows, columns, squeeze=False)
    for k, axes in enumerate(cells.flat):
        if k >= len(best):
            axes.set_axis_off()
            continue
        _tile(axes, X_pool[best[k]].reshape(side, side), PIXEL_CMAP, 0, 1)
        axes.set_title(f"a = {best_a[k]:.2f}, z = {best_z[k]:.1f}", fontsize=8, pad=2)
    pool_name = "training" if x_train is not None else "test"
    lower.suptitle(f"the {len(best)} {pool_name} digits that excite it most (largest weighted sum z)", fontsize=10)
    names = _class_names(net, class_names)
    what = f"output neuron for {names[index]}" if layer == len(net.layers) - 1 else "hidden neuron"
    figure.suptitle(f"Neuron (layer {layer}, index {index}): {what}, {dense.n_in} incoming weights", fontsize=12)
    return figure


# --------------------------------------------------------------------------- mistakes and scores


def mistakes_figure(
    net: Network, x: ArrayLike, y: ArrayLike, class_names: Sequence[str] | None = None, *, count: int = 25
) -> "Figure":
    """The `count` misclassified digits the network was surest of (inspection.confident_mistakes)."""
    side = inspection.image_side(net)
    X = np.asarray(x)
    mistakes = inspection.confident_mistakes(net, X, y, k=count)
    total_wrong = int((net.predict(net.check_inputs(X, "x")) != np.asarray(y)).sum())
    rows_wrong = [index for index, *_ in mistakes]
    outputs = net.forward(net.check_inputs(X[rows_wrong], "x")) if mistakes else None  # (k, n_out)
    names = _class_names(net, class_names)
    columns = 5 if count > 6 else max(count, 1)
    rows = max(1, math.ceil(len(mistakes) / columns))
    figure = _figure(figsize=(columns * 1.55 + 0.4, rows * 1.85 + 0.9))
    cells = figure.subplots(rows, columns, squeeze=False)
    kind = "probability" if net.output_activation == "softmax" else "output"
    for k, axes in enumerate(cells.flat):
        if k >= len(mistakes):
            axes.set_axis_off()
            continue
        index, true, predicted, confidence = mistakes[k]
        _tile(axes, X[index].reshape(side, side), PIXEL_CMAP, 0, 1)
        axes.set_title(f"true {names[true]} → said {names[predicted]}", fontsize=8, pad=2)
        axes.set_xlabel(f"#{index}   {names[predicted]}: {confidence:.2f}   {names[true]}: {outputs[k, true]:.2f}",
                        fontsize=7.5, labelpad=2)
    if not mistakes:
        cells[0, 0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    figure.suptitle(
        f"The {len(mistakes)} mistakes it was surest of ({total_wrong:,} wrong of {len(X):,} images)\n"
        f"above: true label → what the network said; below: image number, then the {kind}\n"
        f"of the output neuron it chose and of the one it should have chosen",
        fontsize=10,
    )
    return figure


def confusion_figure(net: Network, x: ArrayLike, y: ArrayLike, class_names: Sequence[str] | None = None) -> "Figure":
    """The confusion matrix: rows true class, columns prediction; mistakes shaded, counts written."""
    confusion = inspection.confusion_matrix(net, x, y)
    names = _class_names(net, class_names)
    n = len(names)
    off = confusion.astype(np.float64)
    np.fill_diagonal(off, 0.0)
    figure = _figure(figsize=(max(5.5, 0.55 * n + 2.2), max(5.0, 0.5 * n + 1.8)))
    axes = figure.add_subplot()
    shown = axes.imshow(off, cmap="Reds", vmin=0, vmax=max(float(off.max()), 1.0), interpolation="nearest")
    high = max(float(off.max()), 1.0)
    for i in range(n):
        for j in range(n):
            count = int(confusion[i, j])
            if i == j:
                axes.add_patch(_square(i, "#d9ead3"))
                axes.text(j, i, f"{count}", ha="center", va="center", fontsize=7.5, fontweight="bold", color="#274e13")
            elif count:
                axes.text(j, i, f"{count}", ha="center", va="center", fontsize=7.5,
                          color="white" if off[i, j] > 0.6 * high else "black")
    long_names = max(len(name) for name in names) > 3  # Fashion-MNIST's "T-shirt/top", ...
    axes.set_xticks(range(n), names, fontsize=8, rotation=40 if long_names else 0, ha="right" if long_names else "center")
    axes.set_yticks(range(n), names, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true class")
    bar = figure.colorbar(shown, ax=axes, shrink=0.8)
    bar.set_label("mistakes (off-diagonal count)", fontsize=8)
    accuracy = float(np.trace(confusion) / max(confusion.sum(), 1))
    figure.suptitle(f"Confusion matrix: {accuracy:.2%} right ({int(np.trace(confusion)):,} of {int(confusion.sum()):,})\n"
                    "green diagonal: correct; red: true class (row) read as another (column)", fontsize=10)
    return figure


def _square(i: int, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((i - 0.5, i - 0.5), 1, 1, facecolor=colour, edgecolor="none", zorder=1)


def training_figure(history: Mapping[str, Any] | Any, title: str = "Training", best_epoch: int | None = None) -> "Figure":
    """Loss and accuracy per epoch: training vs validation vs test.

    history: {"records": [{epoch, loss, accuracy, val_loss, val_accuracy, test_accuracy, ...}]}
    (a model file's metadata["history"], a *.history.json file) or a digitnet History.
    """
    records = history.records if hasattr(history, "records") else (history or {}).get("records")
    if not isinstance(records, list) or not records or not all(isinstance(r, Mapping) for r in records):
        raise ValueError("training history must be {'records': [{'epoch': 1, 'loss': ..., ...}, ...]} with at least one epoch")
    epochs = [r.get("epoch", k + 1) for k, r in enumerate(records)]

    def column(key: str) -> list[float] | None:
        values = [r.get(key) for r in records]
        if all(v is None for v in values):
            return None
        return [math.nan if v is None else float(v) for v in values]

    figure = _figure(figsize=(10, 4.2))
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    series = [("training", "loss", "accuracy", POSITIVE), ("validation", "val_loss", "val_accuracy", "#e08214"),
              ("test", "test_loss", "test_accuracy", "#4d9221")]
    for name, loss_key, accuracy_key, colour in series:
        losses = column(loss_key)
        if losses is not None:
            loss_axes.plot(epochs, losses, marker=".", color=colour, label=name)
        accuracies = column(accuracy_key)
        if accuracies is not None:
            accuracy_axes.plot(epochs, [100 * a for a in accuracies], marker=".", color=colour, label=name)
    loss_axes.set_title("cost (loss) per epoch: lower is better", fontsize=10)
    loss_axes.set_ylabel("loss")
    accuracy_axes.set_title("accuracy per epoch: higher is better", fontsize=10)
    accuracy_axes.set_ylabel("accuracy (%)")
    for axes in (loss_axes, accuracy_axes):
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        if best_epoch is not None:
            axes.axvline(best_epoch, color="0.5", ls="--", lw=1, label=f"best epoch ({best_epoch})")
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=8)
    def summary(record: Mapping[str, Any]) -> str:
        return ", ".join(f"{name} {100 * record[key]:.2f}%" for name, key in
                         (("training", "accuracy"), ("validation", "val_accuracy"), ("test", "test_accuracy"))
                         if isinstance(record.get(key), (int, float)))

    kept = [r for r in records if r.get("epoch") == best_epoch]
    record, which = (kept[0], f"best epoch {best_epoch} (the one kept)") if kept else (records[-1], "last epoch")
    text = summary(record)
    figure.suptitle(f"{title}: {len(records)} epochs" + (f"\n{which}: {text}" if text else ""), fontsize=11)
    return figure
