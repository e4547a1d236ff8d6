"""The Learn view in real headless Chromium: train the video's network live (weight pictures change,
pause, one step, resume, done at ≥ 85%), use the freshly trained network to read a drawn digit,
learn from one digit (nudges equal to /api/backprop, a gradient step moves the outputs), and
closing the tab stops the training on the server.
"""

from __future__ import annotations

import base64
import time

import httpx
import numpy as np
import pytest

from test_page import SEVEN, bar_values, draw, open_page

pytestmark = pytest.mark.browser


def tile_sums(page) -> list[int]:
    return page.eval_on_selector_all(
        "#learn-weights canvas",
        "cs => cs.map(c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.reduce((s, v) => s + v, 0))",
    )


def learn_data(page, key: str) -> str:
    return page.get_attribute("#learn", f"data-{key}") or ""


def wait_phase(page, phase: str, timeout: float = 30_000) -> None:
    page.wait_for_function(f"() => document.getElementById('learn').dataset.phase === '{phase}'", timeout=timeout)


def pad_png(page) -> bytes:
    return base64.b64decode(page.eval_on_selector("#pad", "c => c.toDataURL('image/png')").split(",", 1)[1])


def sessions_of(server):
    return server.server.config.app.state.learning


@pytest.mark.slow
def test_train_live_pause_step_and_use_the_network(browser, app_server, tmp_path):
    page, problems = open_page(browser, app_server.url, height=1000)
    requests = []
    page.on("request", lambda r: requests.append(r.url.split(app_server.url, 1)[-1]))
    page.select_option("#learn-preset", "3b1b")
    assert page.input_value("#learn-rate") == "1"  # the preset's own rate
    # 5 epochs: long enough that the pause below lands before the end (an epoch of the video's
    # network streams in well under a second; 2 epochs left little room).
    page.fill("#learn-epochs", "5")
    page.click("#learn-train")
    page.wait_for_function("() => Number(document.getElementById('learn').dataset.step || 0) > 0", timeout=60_000)
    first, first_step = tile_sums(page), int(learn_data(page, "step"))
    assert len(first) == 16
    page.wait_for_function(f"() => Number(document.getElementById('learn').dataset.step) > {first_step + 800}", timeout=30_000)
    assert tile_sums(page) != first  # the weight pictures change as it learns

    page.click("#learn-pause")
    wait_phase(page, "paused")
    held = int(learn_data(page, "step"))
    page.wait_for_timeout(600)
    assert int(learn_data(page, "step")) == held  # paused means paused
    page.click("#learn-step")
    page.wait_for_function(f"() => Number(document.getElementById('learn').dataset.step) === {held + 1}", timeout=10_000)
    wait_phase(page, "paused")
    assert "Paused" in page.text_content("#learn-status")
    page.click("#learn-resume")
    wait_phase(page, "done", timeout=120_000)
    status = page.text_content("#learn-status")
    assert status.startswith("Done: epoch 5 of 5"), status
    assert float(learn_data(page, "accuracy")) >= 0.85
    assert "of all 10,000 validation digits" in status
    page.screenshot(path=str(tmp_path / "learn-done.png"), full_page=True)

    # "Use this network": the draw view now runs the network trained above, and only for this page.
    page.click("#learn-use")
    page.wait_for_function("() => !document.getElementById('learn-banner').hidden", timeout=10_000)
    assert "trained on this page" in page.text_content("#model-facts")
    page.locator("#pad").scroll_into_view_if_needed()
    requests.clear()
    draw(page, SEVEN)
    page.wait_for_function("() => document.getElementById('answer').textContent !== '–'", timeout=15_000)
    page.wait_for_function("() => document.getElementById('pad').dataset.predicting === 'no'")  # all answered
    asked = [url for url in requests if url.endswith("/predict-image")]
    assert asked and all(url.startswith("/api/nets/") for url in asked), asked
    mine = httpx.post(f"{app_server.url}{asked[-1]}", files={"file": ("pad.png", pad_png(page), "image/png")}).json()
    assert bar_values(page) == [f"{p:.2f}" for p in mine["outputs"]]
    assert page.text_content("#answer") == mine["label"]
    served = httpx.post(f"{app_server.url}/api/predict-image", files={"file": ("pad.png", pad_png(page), "image/png")}).json()
    assert served["outputs"] != mine["outputs"]  # really another network

    # Learn from this digit, on the user's network: the nudges shown are /api/nets/.../backprop's.
    page.locator("#lesson-labels button").nth(3).click()  # "it is a 3" (it is not)
    page.wait_for_selector("#lesson-body:not([hidden])")
    shown = page.eval_on_selector_all("#lesson-outputs .value", "vs => vs.map(v => Number(v.textContent))")
    api_base = asked[-1].rsplit("/", 1)[0]
    body = httpx.post(f"{app_server.url}{api_base}/backprop", json={"pixels": mine_input(page, app_server, asked[-1]), "label": 3}).json()
    np.testing.assert_allclose(shown, body["output_nudges"], rtol=0.06, atol=1e-12)  # shown to 2 significant digits
    page.click("#lesson-step")
    page.wait_for_selector("#lesson-moved:not([hidden])")
    note = page.text_content("#lesson-moved-note")
    before, after = [float(v) for v in note.split("cost ")[1].split(". ")[0].split(" → ")]
    assert after < before
    page.locator("#learn").screenshot(path=str(tmp_path / "learn.png"))

    page.click("#learn-served-top")
    page.wait_for_function("() => document.getElementById('learn-banner').hidden", timeout=10_000)
    requests.clear()
    page.click("#undo")
    draw(page, SEVEN)
    page.wait_for_function("() => document.getElementById('answer').textContent === '7'", timeout=15_000)
    assert any(url == "/api/predict-image" for url in requests)
    assert problems == []
    page.close()


def mine_input(page, app_server, path: str) -> list:
    """The 28×28 input the server made of the pad (the page sends it to /backprop as is)."""
    return httpx.post(f"{app_server.url}{path}", files={"file": ("pad.png", pad_png(page), "image/png")}).json()["input"]


def test_closing_the_tab_stops_its_training(browser, app_server):
    page, problems = open_page(browser, app_server.url)
    page.select_option("#learn-preset", "modern")
    assert page.input_value("#learn-rate") == "0.002"
    page.fill("#learn-epochs", "30")
    page.click("#learn-train")
    page.wait_for_function("() => Number(document.getElementById('learn').dataset.step || 0) > 0", timeout=60_000)
    sessions = sessions_of(app_server)
    (session,) = sessions.running()
    assert session.process.poll() is None
    page.close()
    closed = time.monotonic()
    while session.process.poll() is None and time.monotonic() - closed < 1.5:
        time.sleep(0.02)
    assert session.process.poll() is not None, "the training went on after its tab was closed"
    assert sessions.running() == []
    assert problems == []


def test_a_second_session_beyond_the_cap_is_refused_in_the_page(browser, app_server):
    from digitnet.web.sessions import SessionLimits

    sessions = sessions_of(app_server)
    sessions.limits = SessionLimits(max_sessions=0)
    try:
        page, problems = open_page(browser, app_server.url)
        page.click("#learn-train")
        page.wait_for_function("() => document.getElementById('learn-status').textContent.startsWith('Could not start')")
        assert "too many learning sessions" in page.text_content("#learn-status")
        wait_phase(page, "idle")
        assert not page.is_disabled("#learn-train")
        page.close()
    finally:
        sessions.limits = SessionLimits()
    assert [p for p in problems if "429" not in p] == []
