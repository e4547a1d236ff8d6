"""Tests for model files (digitnet.modelfile): save → load round trips, and every kind of broken
file refused with one ModelFileError, through the library and through the CLI.

Broken files are made the way they happen: cut short, overwritten, written by another program
(safetensors.numpy.save_file with other tensors or metadata), or edited by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

import digitnet as dn
import digitnet
from digitnet import cli, modelfile
from digitnet.modelfile import ModelFileError

ARCHITECTURES = [
    # sizes, activation, output_activation, init, dtype
    ([784, 16, 16, 10], "sigmoid", None, None, "float32"),  # the video's network
    ([784, 30, 10], "relu", "softmax", "he", "float64"),
    ([784, 10], "tanh", "softmax", "xavier", "float32"),
    ([5, 4, 3, 2], "leaky_relu", "identity", "standard-normal", "float64"),
]

METADATA = {
    "training": {"layers": [784, 16, 16, 10], "learning_rate": 3.0, "batch_size": 10, "seed": 0},
    "metrics": {"test_accuracy": 0.9402, "epochs_run": 30},
    "class_names": [str(digit) for digit in range(10)],
    "dataset": "mnist",
}


def make_net(sizes=(784, 16, 16, 10), activation="sigmoid", output=None, init=None, dtype="float32", seed=0):
    return digitnet.Network(list(sizes), activation=activation, output_activation=output, init=init, seed=seed, dtype=dtype)


def tensors_of(path: Path) -> dict[str, np.ndarray]:
    with safe_open(str(path), framework="np") as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}


def document_of(path: Path) -> dict:
    with safe_open(str(path), framework="np") as handle:
        return json.loads(handle.metadata()["digitnet"])


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("sizes, activation, output, init, dtype", ARCHITECTURES)
def test_save_load_round_trip_is_identical(tmp_path, sizes, activation, output, init, dtype):
    net = make_net(sizes, activation, output, init, dtype, seed=7)
    path = tmp_path / "model.safetensors"
    metadata = {**METADATA, "class_names": [f"class {i}" for i in range(sizes[-1])]}
    dn.save(net, path, **metadata)

    loaded = digitnet.load(path)

    assert loaded.sizes == net.sizes
    assert loaded.activation == net.activation
    assert loaded.output_activation == net.output_activation
    assert loaded.init == net.init
    assert loaded.dtype == np.dtype(dtype)
    assert [layer.activation for layer in loaded.layers] == [layer.activation for layer in net.layers]
    for original, copy in zip(net.layers, loaded.layers):
        assert copy.weight.dtype == original.weight.dtype == np.dtype(dtype)
        assert copy.bias.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(copy.weight, original.weight)
        np.testing.assert_array_equal(copy.bias, original.bias)
    for key, value in metadata.items():
        assert loaded.metadata[key] == value
    X = np.random.default_rng(1).random((6, sizes[0])).astype(dtype)
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))


def test_loaded_network_owns_writable_arrays(tmp_path):
    net = make_net()
    dn.save(net, tmp_path / "m.safetensors")
    loaded = digitnet.load(tmp_path / "m.safetensors")
    loaded.layers[0].weight[0, 0] += 1.0  # editing a weight (the web app does) must work
    assert loaded.layers[0].weight[0, 0] == net.layers[0].weight[0, 0] + 1.0


def test_saving_a_loaded_model_keeps_tensors_and_metadata(tmp_path):
    net = make_net([784, 30, 10], "relu", "softmax", dtype="float64")
    first, second = tmp_path / "first.safetensors", tmp_path / "second.safetensors"
    dn.save(net, first, **METADATA)
    digitnet.save(digitnet.load(first), second)

    assert document_of(second) == document_of(first)
    a, b = tensors_of(first), tensors_of(second)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype
        np.testing.assert_array_equal(a[name], b[name])


def test_file_layout_tensor_names_shapes_and_metadata(tmp_path):
    """The documented contract: layers.{i}.weight (n_out, n_in), layers.{i}.bias (n_out,), and a
    JSON document with format, version, architecture, activations, preprocessing, training,
    metrics and the digitnet version."""
    net = make_net([784, 16, 16, 10])
    path = tmp_path / "video.safetensors"
    dn.save(net, path, **METADATA)

    tensors = tensors_of(path)
    assert {name: array.shape for name, array in tensors.items()} == {
        "layers.0.weight": (16, 784), "layers.0.bias": (16,),
        "layers.1.weight": (16, 16), "layers.1.bias": (16,),
        "layers.2.weight": (10, 16), "layers.2.bias": (10,),
    }
    assert all(array.dtype == np.float32 for array in tensors.values())
    assert sum(array.size for array in tensors.values()) == 13_002

    document = document_of(path)
    assert document["format"] == "digitnet-model"
    assert document["format_version"] == 1
    assert document["digitnet_version"] == digitnet.__version__
    assert document["architecture"] == {
        "sizes": [784, 16, 16, 10], "activation": "sigmoid", "output_activation": "sigmoid",
        "init": "nielsen", "dtype": "float32",
    }
    assert document["activations"] == ["sigmoid", "sigmoid", "sigmoid"]
    assert document["preprocessing"]["input_shape"] == [28, 28]
    assert document["training"] == METADATA["training"]
    assert document["metrics"] == METADATA["metrics"]
    assert document["num_parameters"] == 13_002


def test_save_writes_atomically_and_leaves_no_temporary_files(tmp_path):
    net = make_net([784, 10], "sigmoid")
    path = tmp_path / "deep" / "folder" / "m.safetensors"
    dn.save(net, path)
    dn.save(net, path)  # overwriting an existing model
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.safetensors"]
    digitnet.load(path)


# --------------------------------------------------------------------------- broken files
@pytest.fixture
def good(tmp_path) -> Path:
    """A valid model file: 784-16-10 sigmoid, float32."""
    path = tmp_path / "good.safetensors"
    dn.save(make_net([784, 16, 10], seed=3), path, **METADATA)
    return path


def assert_refused(path, match: str) -> ModelFileError:
    with pytest.raises(ModelFileError, match=match) as caught:
        digitnet.load(path)
    assert isinstance(caught.value, ValueError)
    assert "\n" not in str(caught.value)
    return caught.value


def rewrite(good: Path, path: Path, *, tensors=None, document=None, metadata="keep") -> Path:
    """Write a safetensors file like good, with tensors and/or the digitnet document replaced.
    metadata: "keep" (the edited document), None (no metadata at all) or a raw dict."""
    tensors = dict(tensors_of(good)) if tensors is None else tensors
    if metadata == "keep":
        metadata = {"digitnet": json.dumps(document if document is not None else document_of(good))}
    save_file(tensors, str(path), metadata=metadata)
    return path


def header_end(path: Path) -> int:
    data = path.read_bytes()
    return 8 + int.from_bytes(data[:8], "little")


@pytest.mark.parametrize("cut", ["1", "7", "8", "9", "100", "header-1", "header", "header+1", "middle", "end-1"])
def test_truncated_file_is_refused(good, tmp_path, cut):
    data = good.read_bytes()
    end = header_end(good)
    position = {
        "header-1": end - 1, "header": end, "header+1": end + 1,
        "middle": (end + len(data)) // 2, "end-1": len(data) - 1,
    }.get(cut) or int(cut)
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[:position])
    error = assert_refused(path, "not a readable safetensors model file")
    assert str(path) in str(error)


def test_zero_byte_file_is_refused(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    assert_refused(path, "empty.safetensors is not a readable safetensors model file")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes_are_refused(tmp_path, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path / "noise.safetensors"
    path.write_bytes(rng.bytes(int(rng.integers(1, 20_000))))
    assert_refused(path, "not a readable safetensors model file")


def test_random_bytes_after_a_plausible_header_length_are_refused(tmp_path):
    path = tmp_path / "noise.safetensors"
    path.write_bytes((200).to_bytes(8, "little") + np.random.default_rng(0).bytes(5000))
    assert_refused(path, "not a readable safetensors model file")


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_text("layers.0.weight = [[0.1, 0.2], ...]\nthis is not a model\n" * 10)
    assert_refused(path, "not a readable safetensors model file")


def test_png_file_is_refused(tmp_path):
    from PIL import Image

    path = tmp_path / "digit.safetensors"
    Image.new("L", (28, 28), 0).save(path, format="PNG")
    assert_refused(path, "not a readable safetensors model file")


@pytest.mark.parametrize("metadata", [None, {}, {"format": "pt"}], ids=["no-metadata", "empty", "other-metadata"])
def test_safetensors_file_without_digitnet_metadata_is_refused(good, tmp_path, metadata):
    path = rewrite(good, tmp_path / "foreign.safetensors", metadata=metadata)
    assert_refused(path, "has no digitnet metadata")


@pytest.mark.parametrize("text", ["{not json", "", "nan]", '{"format": "digitnet-model"'])
def test_metadata_that_is_not_json_is_refused(good, tmp_path, text):
    path = rewrite(good, tmp_path / "m.safetensors", metadata={"digitnet": text})
    assert_refused(path, "unreadable metadata")


@pytest.mark.parametrize("text", ["[1, 2]", '"digitnet-model"', "null", "3"])
def test_metadata_that_is_not_an_object_is_refused(good, tmp_path, text):
    path = rewrite(good, tmp_path / "m.safetensors", metadata={"digitnet": text})
    assert_refused(path, "is not a digitnet model")


@pytest.mark.parametrize("value", ["digitnet-checkpoint-v0", "keras", None, 1])
def test_wrong_format_string_is_refused(good, tmp_path, value):
    document = {**document_of(good), "format": value}
    assert_refused(rewrite(good, tmp_path / "m.safetensors", document=document), "is not a digitnet model")


def test_missing_format_string_is_refused(good, tmp_path):
    document = {key: value for key, value in document_of(good).items() if key != "format"}
    assert_refused(rewrite(good, tmp_path / "m.safetensors", document=document), "is not a digitnet model")


@pytest.mark.parametrize("version", [2, 99])
def test_future_format_version_is_refused(good, tmp_path, version):
    document = {**document_of(good), "format_version": version}
    error = assert_refused(rewrite(good, tmp_path / "m.safetensors", document=document),
                           f"format version {version}, newer than this digitnet")
    assert "upgrade digitnet" in str(error)


@pytest.mark.parametrize("version", [0, -1, "1", 1.5, None])
def test_invalid_format_version_is_refused(good, tmp_path, version):
    document = {**document_of(good), "format_version": version}
    assert_refused(rewrite(good, tmp_path / "m.safetensors", document=document), "invalid format_version")


def test_missing_architecture_is_refused(good, tmp_path):
    document = {key: value for key, value in document_of(good).items() if key != "architecture"}
    assert_refused(rewrite(good, tmp_path / "m.safetensors", document=document), "metadata has no 'architecture'")


@pytest.mark.parametrize("name", ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"])
def test_missing_tensor_is_refused(good, tmp_path, name):
    tensors = {key: value for key, value in tensors_of(good).items() if key != name}
    assert_refused(rewrite(good, tmp_path / "m.safetensors", tensors=tensors), f"missing tensor\\(s\\) {name}")


@pytest.mark.parametrize("name, shape", [
    ("layers.0.weight", (784, 16)),  # transposed: (n_in, n_out) instead of (n_out, n_in)
    ("layers.0.weight", (16, 783)),
    ("layers.1.weight", (10, 16, 1)),
    ("layers.0.bias", (16, 1)),
    ("layers.1.bias", (9,)),
])
def test_wrong_shape_is_refused(good, tmp_path, name, shape):
    tensors = tensors_of(good)
    tensors[name] = np.zeros(shape, dtype=np.float32)
    path = rewrite(good, tmp_path / "m.safetensors", tensors=tensors)
    assert_refused(path, f"tensor {name} must have shape .*; got \\({', '.join(map(str, shape))},?\\)")


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.uint8])
def test_wrong_dtype_is_refused(good, tmp_path, dtype):
    tensors = tensors_of(good)
    tensors["layers.1.weight"] = tensors["layers.1.weight"].astype(dtype)
    path = rewrite(good, tmp_path / "m.safetensors", tensors=tensors)
    assert_refused(path, f"tensor layers.1.weight must be float32; got {np.dtype(dtype).name}")


def test_sizes_that_disagree_with_the_tensors_are_refused(good, tmp_path):
    document = document_of(good)
    document["architecture"]["sizes"] = [784, 30, 10]
    assert_refused(rewrite(good, tmp_path / "m.safetensors", document=document),
                   r"tensor layers.0.weight must have shape \(30, 784\)")


@pytest.mark.parametrize("name, index, value", [
    ("layers.0.weight", (3, 400), np.nan),
    ("layers.1.weight", (9, 15), np.inf),
    ("layers.0.bias", (0,), -np.inf),
    ("layers.1.bias", (5,), np.nan),
])
def test_nan_and_inf_are_refused(good, tmp_path, name, index, value):
    tensors = tensors_of(good)
    tensors[name] = tensors[name].copy()
    tensors[name][index] = value
    assert_refused(rewrite(good, tmp_path / "m.safetensors", tensors=tensors), f"tensor {name} holds NaN or infinite")


@pytest.mark.parametrize("field, value, match", [
    ("activation", "swish", "unknown activation 'swish'"),
    ("activation", None, "unknown activation None"),
    ("activation", "softmax", "'softmax' is for the output layer only"),
    ("output_activation", "Sigmoid", "unknown activation 'Sigmoid'"),
    ("init", "glorot", "unknown init 'glorot'"),
    ("dtype", "float16", "dtype must be one of float32, float64"),
    ("dtype", 123, "dtype must be one of float32, float64; got 123"),
    ("dtype", ["float32"], r"dtype must be one of float32, float64; got \['float32'\]"),
    ("sizes", 784, "sizes must be a list"),
    ("sizes", [784], "sizes needs at least an input and an output"),
    ("sizes", [784, 0, 10], "sizes must be positive integers"),
    ("sizes", [784, 16.0, 10], "sizes must be positive integers"),
])
def test_bad_architecture_is_refused(good, tmp_path, field, value, match):
    document = document_of(good)
    document["architecture"][field] = value
    assert_refused(rewrite(good, tmp_path / "m.safetensors", document=document), f"bad architecture in metadata: .*{match}")


@pytest.mark.parametrize("class_names, match", [
    (["a", "b"], r"class_names must be a list of 10 names, one per output; got \['a', 'b'\]"),
    ([str(d) for d in range(11)], r"class_names must be a list of 10 names"),
    (5, r"class_names must be a list of 10 names, one per output; got 5"),
    ("0123456789", r"class_names must be a list of 10 names"),
    ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], r"class_names must be a list of 10 names"),
])
def test_class_names_that_do_not_fit_the_outputs_are_refused(good, tmp_path, class_names, match):
    document = {**document_of(good), "class_names": class_names}
    assert_refused(rewrite(good, tmp_path / "m.safetensors", document=document), match)


def test_saving_class_names_that_do_not_fit_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"class_names must be a list of 10 names"):
        dn.save(make_net([784, 16, 10]), tmp_path / "m.safetensors", class_names=["a", "b"])
    assert not (tmp_path / "m.safetensors").exists()


def test_model_without_class_names_loads(good, tmp_path):
    document = {key: value for key, value in document_of(good).items() if key != "class_names"}
    assert "class_names" not in digitnet.load(rewrite(good, tmp_path / "m.safetensors", document=document)).metadata


def test_missing_file_is_refused(tmp_path):
    assert_refused(tmp_path / "nowhere.safetensors", "no model file at .*nowhere.safetensors")


def test_folder_is_refused(tmp_path):
    assert_refused(tmp_path, "no model file at")


def test_error_names_the_file(good, tmp_path):
    tensors = tensors_of(good)
    del tensors["layers.1.bias"]
    path = rewrite(good, tmp_path / "named-model.safetensors", tensors=tensors)
    assert str(path) in str(assert_refused(path, "missing tensor"))


# --------------------------------------------------------------------------- through the CLI
def broken_files(good: Path, folder: Path) -> dict[str, Path]:
    files = {}
    data = good.read_bytes()
    files["truncated"] = folder / "truncated.safetensors"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["zero-bytes"] = folder / "zero.safetensors"
    files["zero-bytes"].write_bytes(b"")
    files["text"] = folder / "text.safetensors"
    files["text"].write_text("hello\n")
    files["future-version"] = rewrite(good, folder / "future.safetensors", document={**document_of(good), "format_version": 2})
    tensors = tensors_of(good)
    tensors["layers.0.weight"] = tensors["layers.0.weight"].copy()
    tensors["layers.0.weight"][0, 0] = np.nan
    files["nan"] = rewrite(good, folder / "nan.safetensors", tensors=tensors)
    files["no-metadata"] = rewrite(good, folder / "foreign.safetensors", metadata=None)
    document = document_of(good)
    document["architecture"]["dtype"] = 5
    files["dtype-not-a-name"] = rewrite(good, folder / "dtype.safetensors", document=document)
    files["class-names"] = rewrite(good, folder / "names.safetensors", document={**document_of(good), "class_names": ["a", "b"]})
    files["missing"] = folder / "missing.safetensors"
    return files


CLI_CASES = ["truncated", "zero-bytes", "text", "future-version", "nan", "no-metadata", "dtype-not-a-name",
             "class-names", "missing"]


@pytest.mark.parametrize("kind", CLI_CASES)
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_cli_refuses_a_broken_model_with_one_line(good, tmp_path, capsys, kind, command):
    path = broken_files(good, tmp_path)[kind]
    if command == "evaluate":
        argv = ["evaluate", str(path), "--json"]
    else:
        from PIL import Image

        image = tmp_path / "seven.png"
        Image.new("L", (40, 40), 0).save(image)
        argv = ["predict", str(path), str(image)]

    code = cli.main(argv)

    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("digitnet: error: ")
    assert str(path) in lines[0]
    assert "Traceback" not in captured.err
