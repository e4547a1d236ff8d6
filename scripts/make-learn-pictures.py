"""The README's pictures of learning: docs/backprop.png and docs/learn.png.

    python scripts/make-learn-pictures.py

docs/backprop.png: `digitnet show backprop` of the pretrained 3b1b network on MNIST test digit 18
(a 3 it reads as an 8), told that it is a 3. docs/learn.png: the page's Learn view in headless
Chromium (/usr/bin/chromium) after training the 3b1b recipe for 2 epochs live, with a test digit the
served network gets wrong, its true label given, and one gradient step taken on it. Needs MNIST in the cache, the web and
plots extras and playwright; each picture is written to a temporary name and renamed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def backprop_picture(folder: Path) -> None:
    import numpy as np
    from PIL import Image

    from digitnet import data
    from digitnet.web import pretrained_path

    x, y = data.load_split("mnist", "test", download=False)
    image = folder / "digit.png"
    Image.fromarray((x[18].reshape(28, 28) * 255).round().astype(np.uint8)).save(image)
    out = folder / "backprop.png"
    subprocess.run([sys.executable, "-m", "digitnet", "show", "backprop", str(pretrained_path()), str(image),
                    "--label", str(int(y[18])), "-o", str(out), "--dpi", "80"], check=True)
    os.replace(out, DOCS / "backprop.png")


def learn_picture(folder: Path) -> None:
    from playwright.sync_api import sync_playwright

    from digitnet.web import create_app, pretrained_path
    from digitnet.web.server import BackgroundServer

    with BackgroundServer(create_app(pretrained_path())) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url)
        page.wait_for_selector("#net .hit")
        page.fill("#learn-epochs", "2")
        page.click("#learn-train")
        page.wait_for_function("() => document.getElementById('learn').dataset.phase === 'done'", timeout=180_000)
        wrong = page.locator("#samples .sample.wrong").first  # a test digit the served network gets wrong
        wrong.wait_for(timeout=30_000)
        label = int(wrong.get_attribute("title").split("labelled ")[1].split(",")[0])
        wrong.click()
        page.wait_for_function("() => document.getElementById('answer').textContent !== '–'", timeout=15_000)
        page.locator("#lesson-labels button").nth(label).click()  # its true label
        page.wait_for_selector("#lesson-body:not([hidden])")
        page.click("#lesson-step")
        page.wait_for_selector("#lesson-moved:not([hidden])")
        page.wait_for_timeout(300)
        out = folder / "learn.png"
        page.locator("#learn").screenshot(path=str(out))
        browser.close()
    os.replace(out, DOCS / "learn.png")


def main() -> int:
    with tempfile.TemporaryDirectory(dir=DOCS) as folder:  # same file system: the renames are atomic
        backprop_picture(Path(folder))
        learn_picture(Path(folder))
    for name in ("backprop.png", "learn.png"):
        print(f"Wrote {DOCS / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
