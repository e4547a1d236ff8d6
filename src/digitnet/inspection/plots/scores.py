"""Pictures of scores: the confident mistakes, the confusion matrix, the training curves.

confusion[i, j] counts the test digits of true class i read as class j (inspection.confusion_matrix):
the diagonal is right, everything off it a mistake. The training curves plot, per epoch, the cost
C (loss) and the accuracy on the training, validation and test sets from a History's records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from digitnet import inspection
from digitnet.inspection.plots.canvas import PIXEL_CMAP, POSITIVE, new_figure, output_names, tile
from digitnet.network import Network

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

__all__ = ["confusion_figure", "mistakes_figure", "training_figure"]


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
    names = output_names(net, class_names)
    columns = 5 if count > 6 else max(count, 1)
    rows = max(1, math.ceil(len(mistakes) / columns))
    figure = new_figure(figsize=(columns * 1.55 + 0.4, rows * 1.85 + 0.9))
    cells = figure.subplots(rows, columns, squeeze=False)
    kind = "probability" if net.output_activation == "softmax" else "output"
    for k, axes in enumerate(cells.flat):
        if k >= len(mistakes):
            axes.set_axis_off()
            continue
        index, true, predicted, confidence = mistakes[k]
        tile(axes, X[index].reshape(side, side), PIXEL_CMAP, 0, 1)
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
    names = output_names(net, class_names)
    n = len(names)
    off = confusion.astype(np.float64)
    np.fill_diagonal(off, 0.0)
    figure = new_figure(figsize=(max(5.5, 0.55 * n + 2.2), max(5.0, 0.5 * n + 1.8)))
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


def _square(i: int, colour: str) -> "Rectangle":
    """The diagonal cell (i, i) of the matrix, filled with colour."""
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

    figure = new_figure(figsize=(10, 4.2))
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
