"""The canvas every picture of digitnet.inspection is drawn on: a Figure, its colours, saving it.

Every picture function returns a matplotlib Figure built without pyplot (no display, no global
state, safe in a server) and save_figure writes it as PNG or SVG by the file's extension,
atomically (digitnet.files). matplotlib is an optional extra, imported only when a picture is
drawn: `pip install 'digitnet[plots]'`.

Conventions shared by all the pictures (the video's):
- weights: a diverging colour map symmetric about zero, [−m, +m], blue for positive weights (ink
  there pushes the neuron's weighted sum z up), red for negative (ink there pushes it down), white 0;
- activations and pixels: black 0 to white 1, as the network sees a digit (bright ink on dark);
- layers are numbered from 0 as everywhere in digitnet: layer L is net.layers[L], and its
  neurons are the activations it outputs (see digitnet.inspection.numbering).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from digitnet.files import atomic_path
from digitnet.network import Network

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

__all__ = [
    "FORMATS",
    "INSTALL_HINT",
    "NEGATIVE",
    "PIXEL_CMAP",
    "POSITIVE",
    "WEIGHT_CMAP",
    "new_figure",
    "output_names",
    "require_matplotlib",
    "save_figure",
    "symmetric_limit",
    "tile",
]

FORMATS = {".png": "png", ".svg": "svg"}
WEIGHT_CMAP = "RdBu"  # low (negative) red, high (positive) blue
PIXEL_CMAP = "gray"  # 0 black, 1 white: the network's view of a digit
POSITIVE = "#2166ac"  # the blue and red ends of RdBu, for lines coloured by weight sign
NEGATIVE = "#b2182b"
INSTALL_HINT = "pictures need matplotlib: install digitnet[plots] (pip install 'digitnet[plots]')"


def new_figure(**options: Any) -> "Figure":
    """A new Figure with no pyplot involved; ImportError with the install hint if matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    options.setdefault("layout", "constrained")
    return Figure(**options)


def require_matplotlib() -> None:
    """ImportError with the install hint unless matplotlib can be imported."""
    new_figure()


def save_figure(figure: "Figure", path: str | os.PathLike, *, dpi: int = 100, compact: bool = True) -> Path:
    """Write figure to path as PNG or SVG (chosen by the extension), atomically. Returns the path.

    compact: store a PNG with a 256-colour palette (much smaller, visually the same).
    """
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


def symmetric_limit(values: np.ndarray, percentile: float = 99.5) -> float:
    """m for a colour scale [−m, +m]: a high percentile of |values| so one outlier does not wash
    out the rest (the colour bar marks values beyond it); 1.0 for an all-zero array."""
    m = float(np.percentile(np.abs(values), percentile))
    return m if m > 0 else 1.0


def output_names(net: Network, class_names: Sequence[str] | None) -> list[str]:
    """A name per output neuron: class_names, else the model's metadata["class_names"], else "0", "1", ...."""
    names = list(class_names or getattr(net, "metadata", {}).get("class_names") or [])
    return names if len(names) == net.num_outputs else [str(j) for j in range(net.num_outputs)]


def tile(axes: "Axes", image: np.ndarray, cmap: str, vmin: float, vmax: float) -> "AxesImage":
    """image (side, side) drawn into axes on the colour scale [vmin, vmax], without ticks."""
    shown = axes.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([])
    return shown
