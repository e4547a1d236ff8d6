"""`digitnet predict` through digitnet.cli.main, on image files the tests draw with Pillow:
JSON output, folders, --show-input, per-file errors, and the acceptance test — real MNIST
test digits re-drawn large, off-centre and in four colour schemes are read as the network
reads the clean 28×28 digit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import digitnet
from digitnet import cli
from digitnet.data import load_split
from digitnet.data.preprocess import to_mnist

MODEL = Path(digitnet.__file__).parent / "pretrained" / "3b1b.safetensors"
SCHEMES = ("white-on-black", "black-on-white", "transparent", "coloured")
INK_COLOUR = np.array([20, 30, 140], dtype=np.float32)  # dark blue ...
PAPER_COLOUR = np.array([250, 240, 180], dtype=np.float32)  # ... on light yellow


@pytest.fixture(scope="module")
def mnist_test():
    return load_split("mnist", "test")  # x (10000, 784) float32 in [0, 1], y (10000,) int64


@pytest.fixture(scope="module")
def net():
    return digitnet.load(MODEL)


def draw(pixels: np.ndarray, scheme: str, *, scale: int = 10, canvas=(400, 360), offset=(60, 40)) -> Image.Image:
    """An MNIST digit (784 values in [0, 1]) drawn large: upscaled ×scale (bicubic), pasted at
    offset (x, y) on a canvas (width, height), in a colour scheme."""
    digit = Image.fromarray(np.round(pixels.reshape(28, 28) * 255).astype(np.uint8), mode="L")
    large = digit.resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    ink_layer = Image.new("L", canvas, 0)
    ink_layer.paste(large, offset)
    ink = np.asarray(ink_layer)  # (height, width) uint8, 255 = full ink
    if scheme == "white-on-black":
        return Image.fromarray(ink, mode="L")
    if scheme == "black-on-white":
        return Image.fromarray(255 - ink, mode="L")
    if scheme == "transparent":  # a canvas export: black strokes, ink only in alpha
        rgba = np.zeros(ink.shape + (4,), dtype=np.uint8)
        rgba[..., 3] = ink
        return Image.fromarray(rgba, mode="RGBA")
    if scheme == "coloured":
        t = (ink[..., None] / 255.0).astype(np.float32)
        return Image.fromarray(np.round(PAPER_COLOUR * (1 - t) + INK_COLOUR * t).astype(np.uint8), mode="RGB")
    raise AssertionError(scheme)


def predict_json(capsys, *argv: str) -> tuple[int, list, str]:
    code = cli.main(["predict", str(MODEL), *argv, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


@pytest.fixture
def three_digits(tmp_path, mnist_test) -> list[Path]:
    x, _ = mnist_test
    paths = []
    for index, scheme in zip(range(3), SCHEMES):
        path = tmp_path / f"digit-{index}.png"
        draw(x[index], scheme).save(path)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- output
def test_json_lists_file_digit_and_ten_probabilities(capsys, three_digits, net):
    code, results, err = predict_json(capsys, *map(str, three_digits))
    assert code == 0 and err == ""
    assert [result["file"] for result in results] == [str(path) for path in three_digits]
    for result, path in zip(results, three_digits):
        assert set(result) >= {"file", "digit", "label", "probabilities"}
        assert "error" not in result
        probabilities = np.array(result["probabilities"])
        assert probabilities.shape == (10,)
        assert (probabilities >= 0).all() and abs(probabilities.sum() - 1) < 1e-4
        assert isinstance(result["digit"], int) and result["digit"] == int(np.argmax(probabilities))
        assert result["label"] == str(result["digit"])
        # The CLI reads what the library reads from the same file.
        seen = to_mnist(path).reshape(1, 784)
        assert result["digit"] == int(net.predict(seen)[0])
        np.testing.assert_allclose(probabilities, net.probabilities(seen)[0], atol=1e-6)


def test_json_predictions_are_the_digits(capsys, three_digits, mnist_test):
    _, y = mnist_test
    _, results, _ = predict_json(capsys, *map(str, three_digits))
    assert [result["digit"] for result in results] == list(y[:3])  # 7, 2, 1: easy ones


def test_plain_output_one_line_per_image(capsys, three_digits):
    assert cli.main(["predict", str(MODEL), *map(str, three_digits)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 3 and captured.err == ""
    for line, path in zip(lines, three_digits):
        assert line.startswith(f"{path}: ")
        assert line.count("%") == 3  # --top 3 probabilities


def test_folder_input_reads_every_image_in_it_sorted(capsys, tmp_path, mnist_test):
    x, y = mnist_test
    folder = tmp_path / "drawings"
    folder.mkdir()
    for index, name in [(2, "c.png"), (0, "a.PNG"), (1, "b.jpg")]:
        draw(x[index], "black-on-white").convert("RGB").save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    code, results, err = predict_json(capsys, str(folder))
    assert code == 0 and err == ""
    assert [Path(result["file"]).name for result in results] == ["a.PNG", "b.jpg", "c.png"]
    assert [result["digit"] for result in results] == list(y[:3])


def test_folder_and_files_together(capsys, tmp_path, three_digits):
    folder = tmp_path / "more"
    folder.mkdir()
    with Image.open(three_digits[0]) as image:
        image.save(folder / "x.png")
    code, results, _ = predict_json(capsys, str(three_digits[1]), str(folder))
    assert code == 0
    assert [Path(result["file"]).name for result in results] == ["digit-1.png", "x.png"]


def test_empty_folder_is_an_error(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    assert cli.main(["predict", str(MODEL), str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("digitnet: error: ") and "holds no image files" in err[0]


def test_show_input_writes_the_28x28_network_input(capsys, tmp_path, three_digits):
    out_dir = tmp_path / "seen"
    code, results, _ = predict_json(capsys, *map(str, three_digits), "--show-input", str(out_dir))
    assert code == 0
    for result, path in zip(results, three_digits):
        written = out_dir / f"{path.stem}-input.png"
        assert result["input_image"] == str(written)
        with Image.open(written) as image:
            assert image.size == (28, 28) and image.mode == "L"
            pixels = np.asarray(image)
        np.testing.assert_array_equal(pixels, np.round(to_mnist(path) * 255).astype(np.uint8))


def test_show_input_to_a_png_file_for_one_image(capsys, tmp_path, three_digits):
    target = tmp_path / "what-it-saw.png"
    code, results, _ = predict_json(capsys, str(three_digits[0]), "--show-input", str(target))
    assert code == 0
    assert results[0]["input_image"] == str(target)
    with Image.open(target) as image:
        assert image.size == (28, 28)


# --------------------------------------------------------------------------- bad files
@pytest.fixture
def mixed(tmp_path, mnist_test) -> dict[str, Path]:
    x, _ = mnist_test
    folder = tmp_path / "mixed"
    folder.mkdir()
    files = {
        "good-1": folder / "1-good.png",
        "blank": folder / "2-blank.png",
        "empty": folder / "3-empty.png",
        "text": folder / "4-text.png",
        "good-2": folder / "5-good.png",
        "truncated": folder / "6-truncated.png",
    }
    draw(x[0], "white-on-black").save(files["good-1"])
    Image.new("L", (300, 200), 255).save(files["blank"])  # plain white paper: no ink
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not a PNG\n")
    draw(x[1], "coloured").save(files["good-2"])
    whole = (folder / "whole.bin")
    draw(x[2], "black-on-white").save(whole, format="PNG")
    files["truncated"].write_bytes(whole.read_bytes()[:300])
    whole.unlink()
    return files


def test_bad_files_get_per_file_errors_and_the_rest_are_predicted(capsys, mixed, mnist_test):
    _, y = mnist_test
    missing = mixed["good-1"].parent / "7-missing.png"
    code, results, err = predict_json(capsys, *map(str, mixed.values()), str(missing))
    assert code == 1
    assert [result["file"] for result in results] == [str(p) for p in mixed.values()] + [str(missing)]
    by_name = {Path(result["file"]).name: result for result in results}
    assert by_name["1-good.png"]["digit"] == y[0]
    assert by_name["5-good.png"]["digit"] == y[1]
    # Blank paper is not an error: there is simply no digit on it.
    assert by_name["2-blank.png"] == {"file": str(mixed["blank"]), "digit": None, "label": None,
                                      "probabilities": None, "unsure": False, "note": "no ink found"}
    expected_errors = {
        "3-empty.png": "cannot read",
        "4-text.png": "cannot read",
        "6-truncated.png": "truncated or corrupt",
        "7-missing.png": "no such file",
    }
    for name, message in expected_errors.items():
        result = by_name[name]
        assert set(result) == {"file", "error"}, result
        assert message in result["error"] and "\n" not in result["error"]
    assert err.splitlines() == ["digitnet: 4 of 7 image(s) could not be read"]


def test_bad_files_in_plain_output(capsys, mixed):
    code = cli.main(["predict", str(MODEL), str(mixed["good-1"].parent)])
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.out.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(mixed[k]) for k in ("good-1", "blank", "good-2")]
    assert lines[1] == f"{mixed['blank']}: no digit here (no ink found)"
    errors = captured.err.splitlines()
    assert len(errors) == 4
    for line, name in zip(errors, ["3-empty.png", "4-text.png", "6-truncated.png"]):
        assert line.startswith(f"digitnet: error: {mixed['good-1'].parent / name}: ")
    assert errors[-1] == "digitnet: 3 of 6 image(s) could not be read"
    assert "Traceback" not in captured.err


def test_top_must_be_positive(capsys, three_digits):
    assert cli.main(["predict", str(MODEL), str(three_digits[0]), "--top", "0"]) == 1
    assert capsys.readouterr().err.startswith("digitnet: error: --top must be at least 1")


# --------------------------------------------------------------------------- acceptance
N_ACCEPTANCE = 300


def test_acceptance_redrawn_digits_agree_with_the_clean_prediction(capsys, tmp_path, mnist_test, net):
    """On digits the tests re-draw large, off-centre and in each colour scheme, `predict`
    agrees with the clean 28×28 prediction at least 97% of the time.

    The first 300 MNIST test digits, each upscaled ×8..12 (bicubic; 224..336 px) and pasted at a
    random place on a 400×360 canvas (seeded), saved as PNG in four schemes, read back by
    `digitnet predict FOLDER --json` — the real path, file to prediction.
    """
    x, _ = mnist_test
    digits = x[:N_ACCEPTANCE]
    clean = net.predict(digits)  # what the network says on the raw 28×28 digits
    rng = np.random.default_rng(20240917)
    canvas = (400, 360)
    for scheme in SCHEMES:
        (tmp_path / scheme).mkdir()
    for index, pixels in enumerate(digits):
        scale = int(rng.integers(8, 13))
        side = 28 * scale
        offset = (int(rng.integers(0, canvas[0] - side + 1)), int(rng.integers(0, canvas[1] - side + 1)))
        for scheme in SCHEMES:
            image = draw(pixels, scheme, scale=scale, canvas=canvas, offset=offset)
            image.save(tmp_path / scheme / f"{index:04d}.png", compress_level=1)

    agreement = {}
    for scheme in SCHEMES:
        code, results, err = predict_json(capsys, str(tmp_path / scheme))
        assert code == 0, err
        assert [Path(r["file"]).name for r in results] == [f"{i:04d}.png" for i in range(N_ACCEPTANCE)]
        predicted = np.array([result["digit"] for result in results])
        agreement[scheme] = float(np.mean(predicted == clean))
    overall = float(np.mean(list(agreement.values())))
    report = ", ".join(f"{scheme} {value:.1%}" for scheme, value in agreement.items()) + f"; overall {overall:.1%}"
    print(f"\npredict agreement with the clean 28x28 prediction ({N_ACCEPTANCE} digits): {report}")
    for scheme, value in agreement.items():
        assert value >= 0.97, f"{scheme}: {report}"
    assert overall >= 0.97, report
