"""The Learn view's API through its real entry points: create_app served by uvicorn on 127.0.0.1,
called with httpx. /api/backprop and /api/backprop/step against net.gradients; /api/learn's event
stream (order, done, accuracy), pause/resume/step/stop, "use this network", the caps, and a
viewer who leaves: its training process must be gone within a second.
"""

from __future__ import annotations

import json
import os
import time

import httpx
import numpy as np
import pytest

from digitnet import inspection
from digitnet.modelfile import load
from digitnet.training.live_process import decode_network, decode_pictures
from digitnet.web import create_app, pretrained_path
from digitnet.web.server import BackgroundServer
from digitnet.web.sessions import SessionLimits

RELATIVE = 1e-4


def relative_error(ours, reference) -> float:
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    return float(np.linalg.norm(ours - reference) / max(np.linalg.norm(reference), 1e-30))


@pytest.fixture(scope="module")
def net():
    return load(pretrained_path())


@pytest.fixture(scope="module")
def server(net):
    app = create_app(net)
    with BackgroundServer(app) as running:
        running.app = app
        yield running
        app.state.learning.close_all()


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture
def limits(server):
    """Each test starts with the default caps and no running session."""
    sessions = server.app.state.learning
    sessions.limits = SessionLimits()
    yield sessions
    sessions.close_all()
    sessions.limits = SessionLimits()


@pytest.fixture(scope="module")
def digit(net):
    x, y = load_test_digit()
    return x, y


def load_test_digit():
    from digitnet.data import load_split

    x, y = load_split("mnist", "test", download=False)
    return x[18], int(y[18])  # a 3


def events(response):
    """The JSON objects of a text/event-stream response, as they arrive."""
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield json.loads(line[6:])


# --------------------------------------------------------------------------- backpropagation


def test_backprop_is_net_gradients(http, net, digit):
    x, _ = digit
    for label in (3, 8):
        answer = http.post("/api/backprop", json={"pixels": x.tolist(), "label": label})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        grads = net.gradients(x[None], [label], "quadratic")
        assert body["loss"] == "quadratic" and body["label"] == label
        assert body["cost"] == pytest.approx(net.loss(x[None], [label]), rel=1e-5)
        for layer, (dW, db) in zip(body["layers"], grads):
            assert relative_error(layer["weight_gradient"], dW) < RELATIVE
            assert relative_error(layer["bias_gradient"], db) < RELATIVE
        np.testing.assert_allclose(body["output_nudges"], np.eye(10)[label] - net.forward(x[None])[0], rtol=1e-5, atol=1e-7)
        # ∂C/∂a of a hidden layer: Wᵀ of the next layer times its ∂C/∂z; the wishes sum to minus it.
        assert relative_error(body["layers"][0]["activation_gradient"], grads[1][1] @ net.layers[1].weight) < RELATIVE
        assert body["wishes"][0] is None
        assert relative_error(np.sum(body["wishes"][2], axis=0), -(grads[2][1] @ net.layers[2].weight)) < RELATIVE


def test_backprop_step_moves_the_outputs_and_never_the_served_model(http, net, digit):
    x, _ = digit
    before = [p.copy() for p in net.parameters()]
    body = http.post("/api/backprop/step", json={"pixels": x.tolist(), "label": 3.0, "steps": 2, "learning_rate": 1.5}).json()
    expected = inspection.gradient_step(net, x, 3, 1.5, steps=2)
    np.testing.assert_allclose(body["output_after"], expected["output_after"], rtol=1e-5, atol=1e-7)
    assert body["cost_after"] == pytest.approx(expected["cost_after"], rel=1e-5)
    assert body["cost_after"] < body["cost_before"] and body["steps"] == 2 and body["learning_rate"] == 1.5
    for p, kept in zip(net.parameters(), before):
        np.testing.assert_array_equal(p, kept)
    # Without one, the step takes the served model's own SGD rate (the 3b1b preset's 1.0).
    assert net.metadata["training"]["optimizer"] == "sgd"
    default = http.post("/api/backprop/step", json={"pixels": x.tolist(), "label": 3}).json()["learning_rate"]
    assert default == net.metadata["training"]["learning_rate"] == 1.0


@pytest.mark.parametrize("body, needle", [
    ({"label": 3}, "pixels"),
    ({"pixels": [0.5] * 784, "label": 10}, "label"),
    ({"pixels": [0.5] * 784, "label": -1}, "label"),
    ({"pixels": [0.5] * 784, "label": 2.5}, "label"),
    ({"pixels": [0.5] * 784, "label": 1, "loss": "quadratic"}, "loss"),  # the model's own cost only
    ({"pixels": [2.0] * 784, "label": 1}, "[0, 1]"),
    ({"pixels": [0.5] * 784, "label": "3"}, "label"),
    ({"pixels": [0.5] * 784, "label": True}, "label"),
])
def test_backprop_bad_input_is_a_422_with_a_message(http, body, needle):
    answer = http.post("/api/backprop", json=body)
    assert answer.status_code == 422 and needle in answer.json()["detail"], answer.text


def test_the_schema_states_the_labels_of_the_served_network(http):
    schema = http.get("/openapi.json").json()["components"]["schemas"]
    label = schema["BackpropRequest"]["properties"]["label"]
    assert (label["minimum"], label["maximum"]) == (0, 9)
    assert schema["LearnRequest"]["properties"]["epochs"]["anyOf"][0]["maximum"] == 30


# --------------------------------------------------------------------------- live training


@pytest.mark.slow
def test_3b1b_two_epochs_streams_to_done_with_accuracy_over_85_percent(http, limits):
    with http.stream("POST", "/api/learn", json={"preset": "3b1b", "epochs": 2}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        received = list(events(response))
    first, last = received[0], received[-1]
    assert first["event"] == "start" and first["epoch"] == 0 and first["step"] == 0
    assert len({e["session"] for e in received}) == 1
    assert all({"epoch", "step", "loss"} <= set(e) for e in received)
    assert [e["event"] for e in received].count("done") == 1 and last["done"] is True and last["reason"] == "finished"
    steps = [e["step"] for e in received]
    assert steps == sorted(steps) and last["step"] == 2 * 5000  # 50,000 images in batches of 10, twice
    epochs = [e for e in received if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert first["accuracy"] < 0.3 < epochs[0]["accuracy"] <= max(e["accuracy"] for e in received)
    assert epochs[1]["val_accuracy"] >= epochs[0]["val_accuracy"] - 0.01  # rising (or level, within noise)
    assert last["accuracy"] >= 0.85 and last["val_accuracy"] >= 0.85 and last["test_accuracy"] >= 0.85
    pictures = [decode_pictures(e["weights"]) for e in received if e["event"] in ("start", "progress", "epoch")]
    assert pictures[0].shape == (16, 28, 28)
    assert np.abs(pictures[-1] - pictures[0]).max() > 0.1  # the weight pictures change as it learns
    # Progress comes several times a second, between epochs too (two epochs take under a second on a quiet machine).
    assert sum(e["event"] == "progress" for e in received) >= 1


def test_pause_step_use_the_network_resume_and_stop(http, limits, digit):
    x, _ = digit
    # 20 epochs, not 1: an epoch of the video's network takes well under a second, and a one-epoch
    # session could finish before the pause below reached it (a fresh clone's make test saw a 409).
    with http.stream("POST", "/api/learn", json={"preset": "3b1b", "epochs": 20, "learning_rate": 2.0}) as response:
        stream = events(response)
        start = next(stream)
        session = start["session"]
        assert http.post(f"/api/learn/{session}/network").status_code == 409  # still running
        assert http.post(f"/api/learn/{session}/pause").json()["command"] == "pause"
        paused = next(e for e in stream if e["event"] == "paused")
        steps = []
        for _ in range(3):
            assert http.post(f"/api/learn/{session}/step").status_code == 200
            steps.append(next(stream))
        assert [e["event"] for e in steps] == ["step"] * 3
        assert [e["step"] for e in steps] == [paused["step"] + 1, paused["step"] + 2, paused["step"] + 3]
        time.sleep(0.5)
        assert limits.sessions[session].state == "paused"  # no step runs unasked

        used = http.post(f"/api/learn/{session}/network").json()
        model = http.get(f"{used['api']}/model").json()
        assert "trained on this page" in model["source"] and model["sizes"] == [784, 16, 16, 10]
        assert model["training"]["learning_rate"] == 2.0
        answer = http.post(f"{used['api']}/predict", json={"pixels": x.tolist()}).json()
        from digitnet.web.learn import network_from

        mine = network_from(limits.sessions[session].network)
        np.testing.assert_allclose(answer["outputs"], mine.forward(x[None])[0], rtol=1e-5, atol=1e-7)
        params = decode_network(limits.sessions[session].network)
        assert relative_error(decode_pictures(steps[-1]["weights"]).reshape(16, 784), params[0]) < 0.01
        grads = mine.gradients(x[None], [3])
        body = http.post(f"{used['api']}/backprop", json={"pixels": x.tolist(), "label": 3}).json()
        assert relative_error(body["layers"][0]["weight_gradient"], grads[0][0]) < RELATIVE
        assert http.get(f"{used['api']}/samples").status_code == 404  # not per user

        assert http.post(f"/api/learn/{session}/resume").status_code == 200
        assert next(stream)["event"] == "resumed"
        progress = next(stream)
        assert progress["event"] in ("progress", "epoch", "done") and progress["step"] > steps[-1]["step"]
        assert http.post(f"/api/learn/{session}/stop").status_code == 200
        done = [e for e in stream][-1]
    assert done["done"] is True and done["reason"] in ("stopped", "finished")
    assert http.post(f"/api/learn/{session}/resume").status_code == 409
    assert http.post(f"/api/learn/{session}/network").status_code == 200  # an ended session's network stays usable
    missing = http.post("/api/learn/no-such-session/pause")
    assert missing.status_code == 404 and "process that runs it" in missing.json()["detail"]
    assert http.post(f"/api/learn/{session}/jump").status_code == 422
    assert http.get("/api/nets/nothing-here/model").status_code == 404


def test_closing_the_stream_stops_the_training_process_within_a_second(server, limits):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        with client.stream("POST", "/api/learn", json={"preset": "modern", "epochs": 30}) as response:
            stream = events(response)
            start = next(stream)
            next(e for e in stream if e["event"] == "progress")  # it is training
            process = limits.sessions[start["session"]].process
            assert process.poll() is None
            cpu_before = child_cpu_seconds(process.pid)
            time.sleep(0.3)
            assert child_cpu_seconds(process.pid) > cpu_before  # burning CPU while watched
    closed = time.monotonic()
    while process.poll() is None and time.monotonic() - closed < 1.0:
        time.sleep(0.02)
    assert process.poll() is not None, "the training process outlived its viewer by a second"
    time.sleep(0.1)
    assert not os.path.exists(f"/proc/{process.pid}") or "Z" not in open(f"/proc/{process.pid}/stat").read().split()[2]
    assert limits.running() == []
    assert limits.sessions[start["session"]].reason == "disconnected"


def child_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_caps_answer_429_and_422_with_a_message(http, limits):
    limits.limits = SessionLimits(max_sessions=1, max_epochs=5)
    too_long = http.post("/api/learn", json={"epochs": 6})
    assert too_long.status_code == 422 and "at most 5" in too_long.json()["detail"]
    with http.stream("POST", "/api/learn", json={"epochs": 5}) as response:  # (long enough to be paused)
        stream = events(response)
        session = next(stream)["session"]
        http.post(f"/api/learn/{session}/pause")
        second = http.post("/api/learn", json={"epochs": 1})
        assert second.status_code == 429
        assert "too many learning sessions" in second.json()["detail"] and second.headers["retry-after"]
        http.post(f"/api/learn/{session}/stop")
        assert [e for e in stream][-1]["reason"] == "stopped"
    with http.stream("POST", "/api/learn", json={"epochs": 1}) as response:  # the slot is free again
        assert response.status_code == 200
    for bad, needle in [({"preset": "best"}, "preset"), ({"learning_rate": 0}, "learning_rate"),
                        ({"epochs": 0}, "epochs"), ({"epochs": 31}, "epochs"), ({"epochs": "2"}, "epochs"),
                        ({"speed": 3}, "speed")]:
        answer = http.post("/api/learn", json=bad)
        assert answer.status_code == 422 and needle in answer.json()["detail"], answer.text


def test_a_session_ends_at_its_time_limit(http, limits):
    limits.limits = SessionLimits(max_seconds=3.0)
    began = time.monotonic()
    with http.stream("POST", "/api/learn", json={"epochs": 20}) as response:  # (outlasts the limit unpaused too)
        stream = events(response)
        session = next(stream)["session"]
        http.post(f"/api/learn/{session}/pause")  # paused sessions count too
        done = [e for e in stream][-1]
    assert done["reason"] == "time limit" and "3 s" in done["message"], done
    assert time.monotonic() - began < 3.0 + 2.5


def test_a_training_process_that_dies_ends_the_stream_with_an_error(http, limits):
    with http.stream("POST", "/api/learn", json={"epochs": 20}) as response:  # (cannot finish before the kill)
        stream = events(response)
        session = next(stream)["session"]
        limits.sessions[session].process.kill()  # as if it crashed
        done = [e for e in stream][-1]
    assert done["done"] is True and done["reason"] == "error"
    assert "ended unexpectedly" in done["message"]
    assert limits.running() == []


def test_stopping_the_server_ends_open_streams_at_once(net):
    import threading

    server = BackgroundServer(create_app(net)).__enter__()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            with client.stream("POST", "/api/learn", json={"epochs": 20}) as response:
                stream = events(response)
                session = next(stream)["session"]
                process = server.server.config.app.state.learning.sessions[session].process
                # Paused, a session cannot finish on its own before the stop (an epoch of the video's
                # network takes 0.05 s: one epoch, unpaused, sometimes ended first and said "finished").
                client.post(f"/api/learn/{session}/pause")
                stopping = threading.Thread(target=server.stop)
                began = time.monotonic()
                stopping.start()
                done = [e for e in stream][-1]
        stopping.join(10)
        assert done["reason"] == "stopped" and done["message"] == "the server is shutting down"
        assert not server.thread.is_alive() and time.monotonic() - began < 3.0  # no open stream holds it
        assert process.poll() is not None
    finally:
        server.stop()


def test_a_session_whose_stream_never_begins_is_reaped(monkeypatch):
    import asyncio

    from digitnet.web import sessions as sessions_module

    monkeypatch.setattr(sessions_module, "UNWATCHED", 0.2)

    async def open_and_walk_away():
        sessions = sessions_module.Sessions()
        session = await sessions.open({"preset": "3b1b", "epochs": 1})
        assert sessions.running() == [session]
        await asyncio.sleep(0.4)
        return sessions, session

    sessions, session = asyncio.run(open_and_walk_away())
    assert sessions.running() == [] and session.reason == "unwatched"
    session.process.wait(5)
