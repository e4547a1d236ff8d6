"""Run the guided tour (notebooks/tour.ipynb) headless and save two of its pictures for the README.

    python scripts/make-tour-pictures.py [--executed OUT.ipynb]

Needs the notebook extra (pip install -e '.[notebook]', or make tour) and MNIST in the cache.
The notebook runs top to bottom in a kernel on this interpreter, with the digitnet this
interpreter imports on the kernel's path; nothing is written into the committed notebook.
Each picture is the first PNG output of the code cell whose tags name it (cell metadata
"tags": ["picture", "readme:tour-learning"] becomes docs/tour-learning.png), written to a
temporary name and renamed. tests/test_tour.py uses execute_tour from here too.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "tour.ipynb"
DOCS = ROOT / "docs"
KERNEL = "digitnet-tour"
README_TAG = "readme:"  # a cell tagged readme:NAME gives docs/NAME.png


def kernel_environment(extra_paths: list[str] | None = None) -> dict[str, str]:
    """os.environ with the digitnet this interpreter imports (and extra_paths first) on PYTHONPATH."""
    import digitnet

    source = str(Path(digitnet.__file__).resolve().parents[1])
    paths = [*(extra_paths or []), source, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def execute_tour(notebook, workdir: str | os.PathLike, env: dict[str, str] | None = None, timeout: int = 600) -> float:
    """Execute an nbformat notebook in place, top to bottom, in a kernel on sys.executable.

    workdir: the kernel's working directory. env: the kernel's environment (default
    kernel_environment()). Raises nbclient's CellExecutionError at the first failing cell.
    Returns the seconds taken, kernel start included.
    """
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="tour-kernel-") as kernels:
        write_kernel_spec(Path(kernels) / KERNEL)  # argv: this interpreter -m ipykernel_launcher
        # Talk to the kernel over Unix sockets in the temporary folder: no TCP port is opened.
        manager = KernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernels]),
                                transport="ipc", ip=str(Path(kernels) / "ipc"))
        client = NotebookClient(notebook, km=manager, timeout=timeout, startup_timeout=120,
                                resources={"metadata": {"path": str(workdir)}})
        started = time.perf_counter()
        # The client does not own a kernel manager it was handed: cleanup_kc=True shuts the kernel
        # down and closes its sockets all the same.
        client.execute(cleanup_kc=True, env=kernel_environment() if env is None else env)
        return time.perf_counter() - started


def pictures(notebook) -> dict[str, bytes]:
    """{NAME: PNG bytes} for each code cell tagged readme:NAME: its first image/png output."""
    found = {}
    for cell in notebook.cells:
        for tag in cell.get("metadata", {}).get("tags", []):
            if not tag.startswith(README_TAG):
                continue
            images = [output["data"]["image/png"] for output in cell.get("outputs", [])
                      if "image/png" in output.get("data", {})]
            if not images:
                raise SystemExit(f"make-tour-pictures: the cell tagged {tag} produced no picture")
            found[tag[len(README_TAG):]] = base64.b64decode(images[0])
    return found


def compact(png: bytes) -> bytes:
    """The PNG re-encoded with a 256-colour palette, as digitnet.inspection.plots.save_figure stores its
    pictures: a fraction of the size, and these flat-coloured pictures look the same."""
    from PIL import Image

    buffer = io.BytesIO()
    with Image.open(io.BytesIO(png)) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executed", type=Path, help="also write the executed notebook here (with outputs)")
    arguments = parser.parse_args()

    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with tempfile.TemporaryDirectory(prefix="tour-run-") as workdir:
        seconds = execute_tour(notebook, workdir)
    found = pictures(notebook)
    if not found:
        raise SystemExit(f"make-tour-pictures: no cell of {NOTEBOOK} is tagged {README_TAG}NAME")
    DOCS.mkdir(exist_ok=True)
    for name, png in found.items():
        path = DOCS / f"{name}.png"
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_bytes(compact(png))
        os.replace(temporary, path)
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size:,} bytes")
    if arguments.executed:
        nbformat.write(notebook, arguments.executed)
    print(f"executed {NOTEBOOK.relative_to(ROOT)} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
