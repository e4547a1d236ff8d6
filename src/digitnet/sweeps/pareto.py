"""DIR/pareto.png: validation accuracy against parameter count and against training time.

A trial is on the Pareto front when no other trial is at least as accurate with at most as many
parameters (or seconds) and better in one of the two: the front answers "the most accuracy for
this size (or time)". Every trial with a result is a grey dot; the front's trials are joined by
a line and labelled; the presets' parameter counts (3b1b, modern, best) are marked as dotted
lines for reference. Trials far below the front (runs that never learned) are counted, not drawn. The x axes are logarithmic: sizes and times in a sweep span decades.
"""

from __future__ import annotations

from pathlib import Path

from digitnet.inspection.plots.canvas import new_figure, save_figure
from digitnet.training.presets import PRESETS

FRONT = "#2166ac"


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points (cost, accuracy) that no other point beats: lower or equal cost and
    higher or equal accuracy, one strictly. Returned by increasing cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def preset_parameters() -> dict[str, int]:
    """Each preset's parameter count: Σ n_out·n_in + n_out over its layers."""
    return {name: sum(n_out * n_in + n_out for n_in, n_out in zip(c.sizes[:-1], c.sizes[1:]))
            for name, c in PRESETS.items()}


def pareto_figure(rows: list[dict[str, str]], title: str = "Sweep results"):
    """The two panels (parameters, seconds) from results rows (digitnet.sweeps.results)."""
    scored = [r for r in rows if r.get("val_accuracy") and r.get("parameters")]
    figure = new_figure(figsize=(11, 4.6))
    panels = figure.subplots(1, 2, sharey=True)
    accuracies = [float(r["val_accuracy"]) for r in scored]
    floor, labels = None, []
    for axes, column, label in ((panels[0], "parameters", "parameters (weights and biases)"),
                                (panels[1], "seconds", "training time (s)")):
        points = [(max(float(r[column]), 1e-3), float(r["val_accuracy"])) for r in scored]
        if points:
            xs, ys = zip(*points)
            axes.scatter(xs, ys, s=18, color="0.6", label="trial", zorder=2)
            front = pareto_front(points)
            axes.plot([points[i][0] for i in front], [points[i][1] for i in front], "-o", color=FRONT,
                      markersize=6, label="Pareto front", zorder=3)
            labels.append((axes, [(scored[i]["trial"], points[i]) for i in front]))
            lowest_on_front = min(points[i][1] for i in front)
            floor = lowest_on_front if floor is None else min(floor, lowest_on_front)
        if column == "parameters":
            _mark_presets(axes)
        axes.set_xscale("log")
        axes.margins(x=0.08)  # room for the labels at the ends
        axes.xaxis.set_major_formatter(_plain_numbers())
        low, high = axes.get_xlim()
        if high < 10 * low:  # within a decade the 2, 3, 5 ticks are the only ones: label them too
            axes.xaxis.set_minor_formatter(_plain_numbers())
        axes.set_xlabel(label)
        axes.grid(True, which="both", alpha=0.25)
    if floor is not None:  # trials far below the front (a run that never learned) would flatten it
        bottom = floor - max(0.01, 0.1 * (max(accuracies) - floor))
        below = sum(a < bottom for a in accuracies)
        panels[0].set_ylim(bottom, min(1.0, max(accuracies) + 0.25 * (max(accuracies) - bottom)))
        if below:
            panels[1].annotate(f"{below} trial{'s' if below > 1 else ''} below {bottom:.1%}, not shown",
                               (0.98, 0.02), xycoords="axes fraction", ha="right", fontsize=8, color="0.3")
    for axes, named_points in labels:  # once the limits are final: labels are spaced on the page
        _label(axes, named_points)
    panels[0].set_ylabel("validation accuracy")
    panels[0].yaxis.set_major_formatter(_percent())
    panels[0].legend(loc="lower right", fontsize=8)
    figure.suptitle(f"{title}: {len(scored)} trials with a result", fontsize=11)
    return figure


def _label(axes, named_points: list[tuple[str, tuple[float, float]]]) -> None:
    """Label the front's trials, best first, skipping one that would sit on the previous label."""
    last = None
    for name, point in reversed(named_points):
        x, y = axes.transData.transform(point)  # pixels
        if last is not None and abs(x - last[0]) < 22 and abs(y - last[1]) < 12:
            continue
        axes.annotate(name, point, textcoords="offset points", xytext=(4, -10), fontsize=7)
        last = (x, y)


def _mark_presets(axes) -> None:
    """A dotted line at each preset's parameter count (presets of the same size share one)."""
    by_count: dict[int, list[str]] = {}
    for name, count in preset_parameters().items():
        by_count.setdefault(count, []).append(name)
    for count, names in by_count.items():
        axes.axvline(count, color="0.3", linestyle=":", linewidth=1, zorder=1)
        axes.annotate(f"{', '.join(names)} ({count:,})", (count, 0.97), xycoords=("data", "axes fraction"),
                      rotation=90, fontsize=7, color="0.3", ha="right", va="top", xytext=(-2, 0),
                      textcoords="offset points")


def _plain_numbers():
    """Log-axis ticks as 20 and 50 000, not 2×10¹ and 5×10⁴ (thin spaces between thousands)."""
    from matplotlib.ticker import FuncFormatter

    def text(value, _position):
        digits = int(value) if value >= 1 else value
        return f"{digits:,}".replace(",", "\u2009") if value >= 1 else f"{value:g}"

    return FuncFormatter(text)


def _percent():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=1)


def save_pareto(rows: list[dict[str, str]], path: str | Path, title: str = "Sweep results") -> Path:
    return save_figure(pareto_figure(rows, title), path, dpi=110)
