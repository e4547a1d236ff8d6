"""The web app through its real entry points: create_app served by uvicorn on 127.0.0.1, called
with httpx (and raw sockets where a test must control the bytes on the wire).

Every answer is compared with the library's own numbers (Network, preprocess, inspection):
the web layer must only translate. Bad input of every kind must get a 4xx with a JSON message,
and the server must keep answering afterwards.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import select
import socket
import struct
import sys
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

import digitnet as dn
from digitnet import cli, inspection
from digitnet.data import DatasetError, check, load_split, preprocess
from digitnet.inspection import calibration
from digitnet.modelfile import load
from digitnet.network import Network
from digitnet.web import choose_model, create_app, pretrained_path
from digitnet.web.limits import IMAGE_LIMIT, JSON_LIMIT
from digitnet.web.server import BackgroundServer

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "src" / "digitnet" / "web" / "static"


# --------------------------------------------------------------------------- fixtures


def make_net(seed: int = 0) -> Network:
    net = Network([784, 16, 16, 10], seed=seed)
    net.metadata = {
        "class_names": [str(k) for k in range(10)],
        "dataset": "mnist",
        "metrics": {"test_accuracy": 0.5},
    }
    return net


@pytest.fixture(scope="module")
def net() -> Network:
    return make_net()


@pytest.fixture(scope="module")
def server(net):
    with BackgroundServer(create_app(net)) as running:
        yield running


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def digit_png(mode: str = "RGBA", size: int = 280) -> bytes:
    """A '7' drawn like the page draws it: white ink on a transparent canvas (or dark on white)."""
    if mode == "RGBA":
        image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        ink = (255, 255, 255, 255)
    else:
        image = Image.new("RGB", (size, size), "white")
        ink = (0, 0, 0)
    draw = ImageDraw.Draw(image)
    scale = size / 280
    draw.line([(70 * scale, 60 * scale), (210 * scale, 60 * scale), (120 * scale, 230 * scale)],
              fill=ink, width=int(20 * scale), joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def pixels_of_a_one() -> list[float]:
    grid = np.zeros((28, 28), dtype=np.float32)
    grid[4:24, 13:15] = 1.0
    return grid.ravel().tolist()


def assert_prediction_matches(body: dict, net: Network, x: np.ndarray) -> None:
    """The response holds exactly the library's numbers for input x."""
    X = np.asarray(x, dtype=np.float32).reshape(1, 784)
    activations = net.activations(X)  # [X, A₀, A₁, output]
    assert body["digit"] == int(net.predict(X)[0])
    assert body["label"] == str(body["digit"])
    np.testing.assert_array_equal(np.float32(body["outputs"]), activations[-1][0])
    np.testing.assert_array_equal(np.float32(body["probabilities"]), net.probabilities(X)[0])
    assert sum(body["probabilities"]) == pytest.approx(1.0, abs=1e-6)
    assert len(body["activations"]) == len(net.layers)
    for got, expected in zip(body["activations"], activations[1:]):
        np.testing.assert_array_equal(np.float32(got), expected[0])
    confidence = float(calibration.calibrated_probabilities(net, X)[0].max())
    assert body["confidence"] == pytest.approx(confidence, rel=1e-6)
    assert body["unsure"] == (confidence < calibration.unsure_below(net)) and body["note"] is None


def assert_json_error(response: httpx.Response, status: int | tuple[int, ...], match: str = "") -> str:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    assert re.search(match, detail, re.IGNORECASE), detail
    return detail


# --------------------------------------------------------------------------- the model and predictions


def test_model_describes_the_network(http, net):
    body = http.get("/api/model").json()
    assert body["sizes"] == [784, 16, 16, 10]
    assert body["num_parameters"] == 13_002 == net.num_parameters
    assert [layer["total"] for layer in body["layers"]] == [12_560, 272, 170]
    assert [layer["shape"] for layer in body["layers"]] == [[16, 784], [16, 16], [10, 16]]
    assert body["activation"] == body["output_activation"] == "sigmoid"
    assert body["metrics"] == {"test_accuracy": 0.5}
    assert body["class_names"] == [str(k) for k in range(10)]


@pytest.mark.parametrize("shape", ["flat", "grid"])
def test_predict_returns_the_library_numbers(http, net, shape):
    pixels = pixels_of_a_one()
    sent = pixels if shape == "flat" else np.reshape(pixels, (28, 28)).tolist()
    response = http.post("/api/predict", json={"pixels": sent})
    assert response.status_code == 200, response.text
    assert_prediction_matches(response.json(), net, np.float32(pixels))


@pytest.mark.parametrize("mode", ["RGBA", "RGB"])
def test_predict_image_shows_the_library_preprocessing(http, net, mode):
    data = digit_png(mode)
    response = http.post("/api/predict-image", files={"file": ("pad.png", data, "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    expected, info = preprocess.to_mnist(preprocess.load_image(data), return_info=True)
    np.testing.assert_array_equal(np.float32(body["input"]), expected)
    assert np.shape(body["input"]) == (28, 28)
    assert body["preprocessing"]["polarity"] == info["polarity"]
    assert body["preprocessing"]["bounding_box"] == list(info["bounding_box"])
    assert_prediction_matches(body, net, expected)


def test_predict_edited_applies_edits_to_a_copy_only(http, net):
    pixels = pixels_of_a_one()
    before = [array.copy() for array in net.parameters()]
    original = http.post("/api/predict", json={"pixels": pixels}).json()
    edits = [
        {"layer": 2, "index": 3, "bias": 12.0},
        {"layer": 0, "index": 5, "weight_scale": -1.5},
        {"layer": 1, "index": 0, "bias": -4.0, "weight_scale": 2.0},
    ]
    response = http.post("/api/predict-edited", json={"pixels": pixels, "edits": edits})
    assert response.status_code == 200, response.text
    edited = response.json()

    expected = net.copy()
    expected.layers[2].bias[3] = 12.0
    expected.layers[0].weight[5] *= np.float32(-1.5)
    expected.layers[1].bias[0] = -4.0
    expected.layers[1].weight[0] *= np.float32(2.0)
    assert_prediction_matches(edited, expected, np.float32(pixels))
    assert edited["outputs"] != original["outputs"]
    assert edited["outputs"][3] > 0.99  # output neuron 3's bias of 12 lights it up

    # The served model is untouched: same arrays, same answer for the next user.
    for array, saved in zip(net.parameters(), before):
        np.testing.assert_array_equal(array, saved)
    assert http.post("/api/predict", json={"pixels": pixels}).json() == original
    without = http.post("/api/predict-edited", json={"pixels": pixels, "edits": []}).json()
    assert without == original


def test_neuron_layer_0_shows_its_weights(http, net):
    body = http.get("/api/neuron/0/5").json()
    np.testing.assert_array_equal(np.float32(body["picture"]), inspection.weight_image(net, 5))
    assert body["bias"] == pytest.approx(float(net.layers[0].bias[5]))
    assert body["activation"] == "sigmoid"
    row = net.layers[0].weight[5]
    strongest = [c["neuron"] for c in body["incoming"]]
    assert strongest == list(np.argsort(-np.abs(row), kind="stable")[: len(strongest)])
    assert [c["weight"] for c in body["incoming"]] == pytest.approx([float(row[i]) for i in strongest])
    assert body["weight_range"] == pytest.approx([float(row.min()), float(row.max())])
    outgoing = {c["neuron"]: c["weight"] for c in body["outgoing"]}
    assert len(outgoing) == 16
    assert outgoing[3] == pytest.approx(float(net.layers[1].weight[3, 5]))


@pytest.mark.parametrize("method", ["weighted", "maximize"])
def test_neuron_deeper_layers_show_what_they_look_for(http, net, method):
    body = http.get(f"/api/neuron/2/7?method={method}").json()
    expected = inspection.neuron_picture(net, 2, 7, method=method)
    np.testing.assert_allclose(np.float64(body["picture"]), expected, rtol=1e-6, atol=1e-9)
    assert body["picture_method"] == method
    assert body["outgoing"] == []  # the output layer feeds nothing
    assert len(body["incoming"]) == 16


@pytest.mark.parametrize(
    "path, status, match",
    [
        ("/api/neuron/3/0", 404, r"layer must be in 0\.\.2"),
        ("/api/neuron/0/16", 404, r"index must be in 0\.\.15 for layer 0"),
        ("/api/neuron/2/10", 404, r"index must be in 0\.\.9"),
        ("/api/neuron/-1/0", 404, r"layer must be in 0\.\.2"),
        ("/api/neuron/a/0", 422, r"layer"),
        ("/api/neuron/0/1.5", 422, r"index"),
        ("/api/neuron/0/0?method=guess", 422, r"method"),
    ],
)
def test_neuron_bad_addresses(http, path, status, match):
    assert_json_error(http.get(path), status, match)


# --------------------------------------------------------------------------- bad input never hurts


@pytest.mark.parametrize(
    "body, match",
    [
        ({"pixels": [0.0] * 783}, r"784 numbers.*got shape \(783,\)"),
        ({"pixels": [0.0] * 785}, r"got shape \(785,\)"),
        ({"pixels": [[0.0] * 28] * 27}, r"got shape \(27, 28\)"),
        ({"pixels": [[0.0] * 27] * 28 + [[0.0]]}, r"784|pixels"),
        ({"pixels": []}, r"got shape \(0,\)"),
        ({"pixels": [0.5] * 783 + [1.5]}, r"must be in \[0, 1\]"),
        ({"pixels": [-0.1] + [0.0] * 783}, r"must be in \[0, 1\]"),
        ({"pixels": [255] * 784}, r"divide 0\.\.255"),
        ({"pixels": ["0.5"] * 784}, r"got strings"),
        ({"pixels": [True] * 784}, r"got booleans"),
        ({"pixels": [None] * 784}, r"got null"),
        ({"pixels": [{"a": 1}] * 784}, r"got objects"),
        ({"pixels": "0.5"}, r"JSON array"),
        ({"pixels": 0.5}, r"JSON array"),
        ({"pixels": None}, r"JSON array"),
        ({"pixel": [0.0] * 784}, r"pixels"),
        ({"pixels": [0.0] * 784, "extra": 1}, r"extra"),
        ({}, r"pixels: Field required"),
        ([0.0] * 784, r"JSON object"),
    ],
)
def test_predict_rejects_bad_json_bodies(http, body, match):
    assert_json_error(http.post("/api/predict", json=body), 422, match)


@pytest.mark.parametrize(
    "raw, match",
    [
        (b'{"pixels": [NaN' + b", 0" * 783 + b"]}", r"finite"),
        (b'{"pixels": [Infinity' + b", 0" * 783 + b"]}", r"finite"),
        (b'{"pixels": [-Infinity' + b", 0" * 783 + b"]}", r"finite"),
        (b'{"pixels": [1e400' + b", 0" * 783 + b"]}", r"finite"),
        (b'{"pixels": [' + b"1" + b"0" * 400 + b", 0" * 783 + b"]}", r"pixels"),
        (b"{not json", r"not valid JSON"),
        (b"", r"Field required|body"),
        (b'{"pixels": [0, 0', r"not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, r"."),
        ("{\"pixels\": \"\u00e9\"}".encode("latin-1"), r"."),
    ],
    ids=["NaN", "Infinity", "-Infinity", "1e400", "huge-int", "not-json", "empty", "cut-short", "deeply-nested", "latin-1"],
)
def test_predict_rejects_bad_raw_bodies(http, raw, match):
    response = http.post("/api/predict", content=raw, headers={"content-type": "application/json"})
    assert_json_error(response, (400, 422), match)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_predict_needs_json(http, content_type):
    headers = {"content-type": content_type} if content_type else {}
    body = json.dumps({"pixels": [0.0] * 784}).encode()
    response = http.post("/api/predict", content=body, headers=headers)
    assert_json_error(response, (400, 415, 422), r".")


@pytest.mark.parametrize(
    "edits, match",
    [
        ([{"layer": 3, "index": 0, "bias": 1.0}], r"edits\[0\]: layer must be in 0\.\.2"),
        ([{"layer": 0, "index": 16, "bias": 1.0}], r"edits\[0\]: index must be in 0\.\.15"),
        ([{"layer": -1, "index": 0, "bias": 1.0}], r"edits\[0\]\.layer"),
        ([{"layer": 0, "index": 0}], r"edits\[0\]: give bias, weight_scale or both"),
        ([{"layer": 0, "index": 0, "bias": 1e9}], r"edits\[0\]\.bias"),
        ([{"layer": 0, "index": 0, "weight_scale": -1e9}], r"edits\[0\]\.weight_scale"),
        ([{"layer": 0, "index": 0, "bias": "big"}], r"edits\[0\]\.bias"),
        ([{"layer": 0.5, "index": 0, "bias": 1}], r"edits\[0\]\.layer"),
        ([{"layer": 0, "index": 0, "bias": 1, "weight": 3}], r"edits\[0\]\.weight"),
        ([{"layer": 0, "index": j % 16, "bias": 1} for j in range(257)], r"edits"),
        ("all", r"edits"),
    ],
)
def test_predict_edited_rejects_bad_edits(http, edits, match):
    body = {"pixels": pixels_of_a_one(), "edits": edits}
    assert_json_error(http.post("/api/predict-edited", json=body), 422, match)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_predict_edited_rejects_non_finite_edits(http, literal):
    raw = json.dumps({"pixels": pixels_of_a_one(), "edits": [{"layer": 0, "index": 0, "bias": 0}]}).encode()
    raw = raw.replace(b'"bias": 0', b'"bias": ' + literal)
    response = http.post("/api/predict-edited", content=raw, headers={"content-type": "application/json"})
    assert_json_error(response, 422, r"edits\[0\]\.bias")


def png_with_header_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height but whose data is tiny: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (280, 280), (0, 0, 0, 0)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data, match",
    [
        (b"this is not an image", r"expected an image file"),
        (digit_png()[:200], r"truncated or corrupt|cannot"),
        (png_with_header_size(8_000, 8_000), r"64\.0 megapixels; the web app decodes at most 16 megapixels"),
        (png_with_header_size(100_000, 100_000), r"larger than 16 megapixels, the most the web app decodes"),
        (png_with_header_size(0, 10), r"empty|cannot|corrupt"),
        (b"", r"."),
        (b"GIF89a" + b"\xff" * 20, r"."),
    ],
    ids=["text", "truncated", "64-megapixel-header", "10-gigapixel-header", "zero-width", "empty", "bad-gif"],
)
def test_predict_image_rejects_bad_images(http, data, match):
    response = http.post("/api/predict-image", files={"file": ("x.png", data, "image/png")})
    assert_json_error(response, 422, match)


def tap_png() -> bytes:
    """One tap of the page's 20 px brush: a dot, not a digit."""
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((130, 130, 150, 150), fill=(255, 255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(("data", "note"), [(blank_png(), "no ink found"), (tap_png(), "too little ink to be a digit")],
                         ids=["blank", "one-tap"])
def test_predict_image_with_no_digit_says_so(http, data, note):
    response = http.post("/api/predict-image", files={"file": ("pad.png", data, "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["digit"] is None and body["label"] is None and body["probabilities"] is None
    assert body["note"] == note and body["unsure"] is False and body["preprocessing"] is None
    assert np.shape(body["input"]) == (28, 28) and not np.any(body["input"])


def test_predict_pixels_with_no_ink_is_no_digit(http):
    body = http.post("/api/predict", json={"pixels": [0.0] * 784}).json()
    assert body["digit"] is None and body["note"] == "no ink found"
    edited = http.post("/api/predict-edited", json={"pixels": [0.0] * 784, "edits": [{"layer": 2, "index": 1, "bias": 3.0}]})
    assert edited.status_code == 200 and edited.json()["digit"] is None


def test_calibrated_model_marks_unsure_answers():
    net = make_net(seed=1)
    X = np.float32(pixels_of_a_one()).reshape(1, 784)
    top = float(calibration.calibrated_probabilities(net, X)[0].max())
    net.metadata["calibration"] = {"temperature": 1.0, "unsure_below": min(1.0, top + 0.01)}
    with BackgroundServer(create_app(net)) as running:
        body = httpx.post(f"{running.url}/api/predict", json={"pixels": pixels_of_a_one()}, timeout=30).json()
    assert body["unsure"] is True and body["confidence"] == pytest.approx(top, rel=1e-6)


def test_predict_image_rejects_bad_forms(http):
    assert_json_error(http.post("/api/predict-image", files={"image": ("x.png", digit_png(), "image/png")}), 422, r"file")
    assert_json_error(http.post("/api/predict-image", data={"file": "not a file"}), 422, r"file")
    assert_json_error(http.post("/api/predict-image", json={"file": "x"}), (400, 422), r".")
    assert_json_error(http.post("/api/predict-image", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"}), (400, 422), r".")


# --------------------------------------------------------------------------- size limits, on the wire


def raw_exchange(url: str, path: str, headers: dict[str, str], chunks=(), chunked: bool = False) -> tuple[int, dict, bytes]:
    """Send a request byte by byte over a socket; stop sending as soon as a response arrives."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        sock.sendall(head.encode())
        answered = False
        try:
            for chunk in chunks:
                if select.select([sock], [], [], 0)[0]:
                    answered = True
                    break
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            if chunked and not answered:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = b""
        while b"\r\n\r\n" not in response:
            part = sock.recv(65536)
            if not part:
                break
            response += part
        head, _, rest = response.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(fields.get("content-length", len(rest)))
        while len(rest) < length:
            part = sock.recv(65536)
            if not part:
                break
            rest += part
        return status, fields, rest


@pytest.mark.parametrize("path, limit", [("/api/predict", JSON_LIMIT), ("/api/predict-edited", JSON_LIMIT), ("/api/predict-image", IMAGE_LIMIT)])
def test_declared_length_over_the_limit_is_refused_unread(server, path, limit):
    # Only the headers are sent: a 413 proves the server answered without waiting for the body.
    status, headers, body = raw_exchange(server.url, path, {"content-type": "application/json", "content-length": str(limit + 1)})
    assert status == 413
    assert "too large" in json.loads(body)["detail"]
    assert f"{limit // (1024 * 1024)} MB" in json.loads(body)["detail"]


MULTIPART_START = (
    b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
    b"Content-Type: image/png\r\n\r\n"
)


@pytest.mark.parametrize(
    "path, limit, content_type, first",
    [
        ("/api/predict", JSON_LIMIT, "application/json", b'{"pixels": ['),
        ("/api/predict-image", IMAGE_LIMIT, "multipart/form-data; boundary=x", MULTIPART_START),
    ],
)
def test_chunked_body_over_the_limit_is_cut_off(server, path, limit, content_type, first):
    chunk = b" " * 65536
    count = limit // len(chunk) + 40  # well past the limit, if the server kept reading
    chunks = [first, *(chunk for _ in range(count))]
    status, _, body = raw_exchange(
        server.url, path, {"content-type": content_type, "transfer-encoding": "chunked"},
        chunks=iter(chunks), chunked=True,
    )
    assert status == 413
    assert "too large" in json.loads(body)["detail"]


def test_bodies_under_the_limit_pass(http, net):
    # JSON padded with whitespace to just under 1 MB is read and answered.
    body = json.dumps({"pixels": pixels_of_a_one()}).encode()
    padded = body[:-1] + b" " * (JSON_LIMIT - len(body) - 10) + b"}"
    response = http.post("/api/predict", content=padded, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    # An image of about 2 MB (over the JSON limit, under the image limit) is decoded.
    noise = np.random.default_rng(0).integers(0, 256, (820, 820, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG")
    assert JSON_LIMIT < len(buffer.getvalue()) < IMAGE_LIMIT
    response = http.post("/api/predict-image", files={"file": ("noise.png", buffer.getvalue(), "image/png")})
    assert response.status_code in (200, 422), response.text


def test_server_keeps_answering_after_bad_input(http, net):
    for _ in range(3):
        http.post("/api/predict", content=b"\x00\xff" * 1000, headers={"content-type": "application/json"})
        http.post("/api/predict-image", files={"file": ("x.png", b"\x89PNG garbage", "image/png")})
    response = http.post("/api/predict", json={"pixels": pixels_of_a_one()})
    assert response.status_code == 200
    assert_prediction_matches(response.json(), net, np.float32(pixels_of_a_one()))


def test_a_bug_is_a_json_500_and_the_server_lives_on(net, monkeypatch):
    app = create_app(net.copy())
    with BackgroundServer(app) as running, httpx.Client(base_url=running.url) as client:
        def broken(*args, **kwargs):
            raise RuntimeError("secret internals")

        monkeypatch.setattr(app.state.served, "predict", broken)
        # uvicorn closes a connection whose request raised; don't let the client reuse it.
        response = client.post("/api/predict", json={"pixels": pixels_of_a_one()}, headers={"connection": "close"})
        assert_json_error(response, 500, r"internal server error")
        assert "secret" not in response.text  # no internals in the answer
        monkeypatch.undo()
        assert client.post("/api/predict", json={"pixels": pixels_of_a_one()}).status_code == 200


# --------------------------------------------------------------------------- samples


def mnist_available() -> bool:
    try:
        return all(status.ok for status in check("mnist"))
    except ValueError:
        return False


@pytest.mark.skipif(not mnist_available(), reason="the MNIST files are not on this machine (digitnet data fetch mnist)")
def test_samples_are_test_digits_with_the_model_verdict(http, net):
    body = http.get("/api/samples", params={"count": 10, "mistakes": 4, "seed": 3}).json()
    assert body["available"] is True and body["dataset"] == "mnist"
    samples = body["samples"]
    assert len(samples) == 10
    assert sum(not s["correct"] for s in samples) >= 4
    x = np.float32([s["pixels"] for s in samples]).reshape(10, 784)
    predicted = net.predict(x)
    outputs = net.forward(x)
    for sample, p, row in zip(samples, predicted, outputs):
        assert sample["predicted"] == int(p)
        assert sample["correct"] == (sample["label"] == int(p))
        assert sample["confidence"] == pytest.approx(float(row[p]))
        assert 0 <= sample["index"] < 10_000
    again = http.get("/api/samples", params={"count": 10, "mistakes": 4, "seed": 3}).json()
    assert again == body  # the same seed, the same digits
    other = http.get("/api/samples", params={"count": 10, "mistakes": 4, "seed": 4}).json()
    assert [s["index"] for s in other["samples"]] != [s["index"] for s in samples]


def test_samples_when_mnist_is_missing(tmp_path, monkeypatch, net):
    # An empty data folder and an empty cache: nothing on this machine, and no download either.
    monkeypatch.setenv("DIGITNET_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("DIGITNET_MIRRORS", "http://127.0.0.1:9/never-asked/")
    with BackgroundServer(create_app(net.copy())) as running, httpx.Client(base_url=running.url) as client:
        body = client.get("/api/samples").json()
        assert body["available"] is False
        assert "digitnet data fetch mnist" in body["message"]
        assert body["samples"] == []
        assert client.post("/api/predict", json={"pixels": pixels_of_a_one()}).status_code == 200


@pytest.mark.parametrize("query", ["count=0", "count=49", "count=x", "mistakes=-1", "seed=-1"])
def test_samples_bad_queries(http, query):
    assert_json_error(http.get(f"/api/samples?{query}"), 422, r".")


# --------------------------------------------------------------------------- page, schema, headers


def test_page_and_assets_are_served_locally(http):
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    references = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert references and all(ref.startswith(("/", "data:")) for ref in references), references
    for ref in references:
        if ref.startswith("/static/") or ref == "/openapi.json":
            assert http.get(ref).status_code == 200, ref
    # No file of the page loads anything from another host (the SVG namespace is a name, not a load).
    files = [path for path in STATIC.rglob("*") if path.is_file()]
    assert len(files) > 3, files
    for path in files:
        urls = set(re.findall(r"https?://[^\s\"')]+", path.read_text()))
        assert urls <= {"http://www.w3.org/2000/svg"}, (path.name, urls)


JS_IMPORT = re.compile(r'^import .* from "\./([\w-]+\.js)";$', re.MULTILINE)
SHARED_MODULES = {"state.js", "api.js", "dom.js", "predict.js"}  # what views may import


def test_page_modules_are_javascript_and_all_reachable(http):
    """The page is native ES modules: index.html loads js/main.js as a module, every module is served
    with a JavaScript MIME type (browsers refuse a module script otherwise), every relative import
    resolves, every file in js/ is reached from main.js, and views import only the shared modules."""
    page = http.get("/").text
    entries = re.findall(r'<script type="module" src="/static/js/([\w-]+\.js)"></script>', page)
    assert entries == ["main.js"], re.findall(r"<script[^>]*>", page)
    on_disk = {path.name for path in (STATIC / "js").glob("*.js")}
    reached, queue = set(), ["main.js"]
    while queue:
        name = queue.pop()
        if name in reached:
            continue
        reached.add(name)
        response = http.get(f"/static/js/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].split(";")[0] in {"text/javascript", "application/javascript"}, (name, response.headers["content-type"])
        assert response.headers["x-content-type-options"] == "nosniff"
        imports = JS_IMPORT.findall(response.text)
        assert set(imports) <= on_disk, (name, imports)
        if name != "main.js":
            assert set(imports) <= SHARED_MODULES, f"{name} imports a view: {imports}"
        queue.extend(imports)
    assert reached == on_disk, f"modules main.js never reaches: {sorted(on_disk - reached)}"
    for name in on_disk:  # each says what it shows and what it talks to, in a header comment
        assert (STATIC / "js" / name).read_text().startswith("// "), name


def test_openapi_schema_lists_the_api(http):
    schema = http.get("/openapi.json").json()
    for path in ["/api/predict", "/api/predict-image", "/api/predict-edited", "/api/model", "/api/neuron/{layer}/{index}", "/api/samples"]:
        assert path in schema["paths"], path
    components = schema["components"]["schemas"]
    assert {"Prediction", "ImagePrediction", "EditedRequest", "Edit", "ModelInfo", "NeuronInfo"} <= set(components)
    assert http.get("/docs").status_code == 404  # Swagger UI would load from a CDN


def test_create_app_takes_a_path(tmp_path, net):
    path = tmp_path / "model.safetensors"
    dn.save(net, path, class_names=[str(k) for k in range(10)])
    app = create_app(path)
    assert app.state.served.source == "the model file model.safetensors"  # no server path
    with pytest.raises(ValueError, match="no model file"):
        create_app(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="square digit images"):
        create_app(Network([10, 3]))


# --------------------------------------------------------------------------- which model to serve


def test_choose_model_prefers_the_given_then_the_last_trained_then_the_pretrained(tmp_path, monkeypatch, net):
    from digitnet.training.run import remember_last_model

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path, why = choose_model()
    assert path == pretrained_path() and "pretrained 3b1b" in why
    trained = tmp_path / "mine.safetensors"
    dn.save(net, trained)
    remember_last_model(trained)
    path, why = choose_model()
    assert path == trained.resolve() and "trained most recently" in why
    path, why = choose_model(tmp_path / "other.safetensors")
    assert path == tmp_path / "other.safetensors"


def test_pretrained_model_is_shipped_and_loads():
    path = pretrained_path()
    assert path.is_file(), f"the package must ship {path}"
    net = load(path)
    assert net.sizes == [784, 16, 16, 10]
    assert 0.9 < net.metadata["metrics"]["test_accuracy"] <= 1.0


@pytest.mark.slow
def test_pretrained_model_scores_its_recorded_accuracy_on_mnist():
    net = load(pretrained_path())
    try:
        x_test, y_test = load_split("mnist", "test")
    except DatasetError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"MNIST is not available here: {error}")
    accuracy = float(np.mean(net.predict(x_test) == y_test))
    # Exactly the recorded number, up to one test image of floating-point leeway across BLAS builds.
    assert accuracy == pytest.approx(net.metadata["metrics"]["test_accuracy"], abs=1e-4)


# --------------------------------------------------------------------------- the serve command


@pytest.mark.parametrize("port, match", [("99999", r"must be in 0\.\.65535"), ("-1", r"must be in 0\.\.65535"), ("web", r"whole number")])
def test_serve_rejects_bad_ports(capsys, port, match):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--port", port])
    assert exit_info.value.code == 2
    assert re.search(match, capsys.readouterr().err)


def test_serve_reports_a_missing_or_bad_model(tmp_path, capsys):
    assert cli.main(["serve", str(tmp_path / "missing.safetensors")]) == 1
    assert "no model file" in capsys.readouterr().err
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    assert cli.main(["serve", str(junk)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("digitnet: error:") and "Traceback" not in error


def test_serve_reports_a_port_in_use(tmp_path, capsys, net):
    model = tmp_path / "model.safetensors"
    dn.save(net, model)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", str(model), "--port", str(port)]) == 1
    assert re.search(rf"cannot listen on 127\.0\.0\.1:{port}", capsys.readouterr().err)


# --------------------------------------------------------------------------- load benchmark (smoke only)


@pytest.mark.slow
def test_load_benchmark_runs_without_errors(tmp_path, net, capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("load_benchmark", ROOT / "benchmarks" / "load.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    model = tmp_path / "model.safetensors"
    dn.save(net, model)
    summary = module.main(["--clients", "2", "--seconds", "1", "--model", str(model), "--json"])
    assert summary["errors"] == 0
    assert summary["ok"] > 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["errors"] == 0
    with pytest.raises(SystemExit):
        module.main(["--url", "http://example.com:80"])
