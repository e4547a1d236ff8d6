"""The guided tour, notebooks/tour.ipynb, runs from top to bottom headless and draws its pictures.

The notebook is committed without outputs. Here nbclient executes it in a kernel on this
interpreter, with the digitnet under test on the kernel's path (scripts/make-tour-pictures.py's
execute_tour), so a change to the library that breaks the tour fails the suite. Every code cell
tagged "picture" must produce a PNG; the cell tagged "slider" shows an ipywidgets slider when
ipywidgets is installed and falls back to a plain picture when it is not.

The full run takes about a minute here (it trains three 13,002-parameter networks); the issue
asks for under three minutes on this machine, which the report of each run measures rather than
a timed assert.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "tour.ipynb"
MIN_IMAGES = 8
WIDGET = "application/vnd.jupyter.widget-view+json"


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def images(cell) -> int:
    return sum("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


def load_runner():
    """scripts/make-tour-pictures.py as a module (its name has hyphens, so not importable by name)."""
    pytest.importorskip("nbclient")
    spec = importlib.util.spec_from_file_location("make_tour_pictures", ROOT / "scripts" / "make-tour-pictures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_notebook_has_no_outputs_and_tags_its_pictures():
    document = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [cell for cell in document["cells"] if cell["cell_type"] == "code"]
    with_outputs = [number for number, cell in enumerate(document["cells"])
                    if cell["cell_type"] == "code" and (cell["outputs"] or cell["execution_count"] is not None)]
    assert not with_outputs, (
        f"cells {with_outputs} of {NOTEBOOK.name} hold outputs: clear them "
        "(Edit → Clear Outputs of All Cells) before committing"
    )
    assert sum("picture" in tags(cell) for cell in code) >= MIN_IMAGES
    assert sum("slider" in tags(cell) for cell in code) == 1
    readme = {tag for cell in code for tag in tags(cell) if tag.startswith("readme:")}
    for tag in readme:  # the README shows the pictures these cells make
        assert (ROOT / "docs" / f"{tag.removeprefix('readme:')}.png").is_file()
        assert f"docs/{tag.removeprefix('readme:')}.png" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme) == 2


@pytest.mark.slow
def test_tour_runs_top_to_bottom_with_its_pictures(tmp_path):
    runner = load_runner()
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    seconds = runner.execute_tour(notebook, tmp_path)  # raises at the first cell that fails

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code)
    errors = [output for cell in code for output in cell.outputs if output.output_type == "error"]
    assert not errors
    warnings = [output.text for cell in code for output in cell.outputs
                if output.output_type == "stream" and output.name == "stderr"]
    assert not warnings, f"the tour wrote to stderr: {warnings}"
    without = [cell.source.splitlines()[0] for cell in code if "picture" in tags(cell) and not images(cell)]
    assert not without, f"picture cells without a picture: {without}"
    total = sum(images(cell) for cell in code)
    assert total >= MIN_IMAGES
    slider = next(cell for cell in code if "slider" in tags(cell))
    if importlib.util.find_spec("ipywidgets") is not None:
        assert any(WIDGET in output.get("data", {}) for output in slider.outputs)
    assert runner.pictures(notebook).keys() == {"tour-learning", "tour-backprop"}
    print(f"\ntour: {len(code)} code cells, {total} pictures, {seconds:.1f} s")


@pytest.mark.slow
def test_slider_cell_draws_a_plain_picture_without_ipywidgets(tmp_path):
    runner = load_runner()
    import nbformat

    # A package that fails to import stands in for ipywidgets not being installed.
    hidden = tmp_path / "hidden" / "ipywidgets"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('ipywidgets hidden by test_tour')\n")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    last = next(number for number, cell in enumerate(notebook.cells) if "slider" in tags(cell))
    notebook.cells = notebook.cells[: last + 1]  # the tour up to the slider: no training needed
    runner.execute_tour(notebook, tmp_path, env=runner.kernel_environment([str(hidden.parent)]))

    slider = notebook.cells[last]
    assert images(slider) == 1
    assert not any(WIDGET in output.get("data", {}) for output in slider.outputs)
