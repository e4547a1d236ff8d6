"""Live training (digitnet.training.live) and its process form (training.live_process).

A small MNIST subset keeps each run to a fraction of a second; controls are used from another
thread, as the web app's routes use them.
"""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import pytest

from digitnet import data
from digitnet.training import TrainConfig, live_process
from digitnet.training.live import Controls, LiveTraining
from digitnet.training.presets import preset


@pytest.fixture(scope="module")
def mnist():
    x, y = data.load_split("mnist", "train", download=False)
    return x[:2000], y[:2000], x[-500:], y[-500:]


def config(epochs=2, **changes):
    # The book's rate 3.0 rather than the preset's 1.0: on these 2,000 digits it learns visibly in one epoch.
    return preset("3b1b").replace(epochs=epochs, **{"learning_rate": 3.0, **changes})


def run(mnist, controls=None, epochs=2, on_event=None, **options):
    x, y, x_val, y_val = mnist
    events = []

    def emit(event):
        events.append(event)
        if on_event:
            on_event(event, events)

    session = LiveTraining(config(epochs), x, y, (x_val, y_val), emit, controls=controls, **options)
    session.run()
    return session, events


def test_events_in_order_with_what_every_event_must_have(mnist):
    session, events = run(mnist, interval=0.0, sample_size=300)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("epoch") == 2 and set(kinds) <= {"start", "progress", "epoch", "done"}
    assert kinds.count("progress") == 2 * session.steps_per_epoch  # interval 0: after every step
    for e in events:
        assert {"epoch", "step", "loss", "accuracy", "weights", "probe"} <= set(e)
        assert e["weights"].shape == (16, 784)
        assert len(e["probe"]["activations"]) == 3
    steps = [e["step"] for e in events]
    assert steps == sorted(steps) and steps[-1] == 2 * session.steps_per_epoch == 400
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    done = events[-1]
    assert done["done"] is True and done["reason"] == "finished" and done["epoch"] == 2
    assert events[0]["accuracy"] < 0.3 < epochs[0]["accuracy"]  # it learns
    # The accuracy is on the first 300 validation images, with the network at that moment.
    x_val, y_val = mnist[2][:300], mnist[3][:300]
    assert done["accuracy"] == pytest.approx(float(np.mean(session.net.predict(x_val) == y_val)))
    assert done["val_accuracy"] == pytest.approx(float(np.mean(session.net.predict(mnist[2]) == mnist[3])))
    np.testing.assert_array_equal(done["weights"], session.net.layers[0].weight)
    for p, q in zip(done["parameters"], session.net.parameters()):
        np.testing.assert_array_equal(p, q)
    # "loss" is the mean cost of the steps since the event before: the steps' costs, re-averaged.
    per_epoch = [e for e in events if e["event"] == "progress" and e["epoch"] == 1]
    assert np.mean([e["loss"] for e in per_epoch]) == pytest.approx(epochs[0]["loss"], rel=1e-5)


def test_pause_step_resume_and_the_result_is_the_same(mnist):
    _, plain = run(mnist, epochs=1)
    controls = Controls()
    seen = []

    def drive(event, events):
        seen.append(event["event"])
        if event["event"] == "start":
            controls.pause()
        elif event["event"] == "paused":
            threading.Timer(0.05, controls.step).start()
        elif event["event"] == "step":
            if event["step"] < 3:
                threading.Timer(0.05, controls.step).start()
            else:
                threading.Timer(0.05, controls.resume).start()

    _, events = run(mnist, controls=controls, epochs=1, on_event=drive)
    assert seen[:6] == ["start", "paused", "step", "step", "step", "resumed"]
    assert [e["step"] for e in events[1:6]] == [0, 1, 2, 3, 3]
    assert all("parameters" in e for e in events[1:5])  # paused and step: the whole network, for "use this network"
    # Pausing and stepping change nothing about the training itself.
    for p, q in zip(plain[-1]["parameters"], events[-1]["parameters"]):
        np.testing.assert_array_equal(p, q)


def test_stop_ends_between_two_steps(mnist):
    controls = Controls()

    def drive(event, events):
        if event["event"] == "progress" and event["step"] >= 50:
            controls.stop()

    session, events = run(mnist, controls=controls, epochs=2, on_event=drive, interval=0.0)
    assert events[-1]["reason"] == "stopped" and events[-1]["done"] is True
    assert events[-1]["step"] == 50 and session.trainer.epoch == 0


def test_a_diverging_run_says_so(mnist):
    x, y, x_val, y_val = mnist
    events = []
    bad = TrainConfig(sizes=[784, 16, 16, 10], activation="relu", output_activation="identity", learning_rate=1e4,
                      batch_size=100, epochs=2)
    LiveTraining(bad, x, y, (x_val, y_val), events.append).run()
    done = events[-1]
    assert done["reason"] == "diverged" and "smaller learning rate" in done["message"]
    assert done["loss"] is None or np.isfinite(done["loss"])


def test_pictures_and_network_survive_the_wire():
    rng = np.random.default_rng(0)
    W = rng.normal(0, 0.3, (16, 784)).astype(np.float32)
    W[3] = 0  # an all-zero neuron keeps scale 0
    encoded = live_process.encode_pictures(W)
    assert encoded["shape"] == [16, 28, 28] and len(encoded["scale"]) == 16
    back = live_process.decode_pictures(encoded).reshape(16, 784)
    assert np.all(np.abs(back - W) <= np.array(encoded["scale"])[:, None] / 254 + 1e-7)
    W[0, 0] = np.nan
    assert live_process.encode_pictures(W) is None


def test_the_process_speaks_json_lines(monkeypatch, capsysbinary):
    monkeypatch.setattr("sys.stdin", io.StringIO("stop\n"))
    assert live_process.main([json.dumps({"preset": "3b1b", "epochs": 1, "nice": 0})]) == 0
    lines = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "done"
    assert lines[-1]["reason"] in ("stopped", "finished")
    assert "network" in lines[-2]  # the network comes just before the event it belongs to
    params = live_process.decode_network(lines[-2]["network"])
    assert [p.shape for p in params] == [(16, 784), (16,), (16, 16), (16,), (10, 16), (10,)]
    pictures = live_process.decode_pictures(lines[-1]["weights"]).reshape(16, 784)
    assert np.abs(pictures - params[0]).max() <= max(lines[-1]["weights"]["scale"]) / 254 + 1e-6


def test_the_process_reports_bad_settings_as_one_done_event(capsysbinary):
    assert live_process.main([json.dumps({"preset": "fastest"})]) == 1
    (line,) = capsysbinary.readouterr().out.splitlines()
    event = json.loads(line)
    assert event["done"] is True and event["reason"] == "error" and "unknown preset 'fastest'" in event["message"]


def test_the_process_ends_itself_at_its_lifetime_even_while_paused(monkeypatch, capsysbinary):
    import os
    import time

    read, write = os.pipe()  # stdin that stays open and says nothing after "pause"
    os.write(write, b"pause\n")
    stdin = os.fdopen(read, "r")
    monkeypatch.setattr("sys.stdin", stdin)
    began = time.monotonic()
    try:
        assert live_process.main([json.dumps({"preset": "3b1b", "epochs": 30, "nice": 0, "max_seconds": 1.0})]) == 0
    finally:
        os.close(write)  # the command reader sees the end of its input and returns
        for thread in threading.enumerate():
            if thread.name == "live-commands":
                thread.join(5)
        stdin.close()
    lines = [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]
    assert [e["event"] for e in lines if "event" in e][-2:] == ["paused", "done"]
    assert lines[-1]["reason"] == "stopped" and time.monotonic() - began < 30
