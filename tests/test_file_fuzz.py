"""Fuzzing the two readers of untrusted files: model files (digitnet.load, checkpoints) and IDX
files (digitnet.data.idx.read_idx). Whatever the bytes, the reader returns a checked result or
raises its one error type — ModelFileError, DatasetError — never another exception (issue 13:
RecursionError on deep JSON, AttributeError from NumPy on F8_E4M3 tensors).

The files are made here: random bytes, valid files with mutated headers (flipped bytes, other
dtypes, shapes and offsets), every safetensors dtype, random JSON documents, JSON nested deeply
and JSON of many megabytes.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import digitnet as dn
from digitnet.data import DatasetError, read_idx, write_idx
from digitnet.modelfile import ModelFileError
from digitnet.training.checkpoints import load_checkpoint

# Every dtype the safetensors format names (0.8), with its size in bits.
SAFETENSORS_DTYPES = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64,
    "U64": 64, "C64": 64,
}

FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def good(folder) -> Path:
    path = folder / "good.safetensors"
    dn.save(dn.Network([784, 8, 10], seed=0), path, class_names=[str(d) for d in range(10)])
    return path


def split(path: Path) -> tuple[dict, bytes]:
    """A safetensors file as (its header JSON, its data bytes)."""
    data = path.read_bytes()
    length = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8: 8 + length]), data[8 + length:]


def join(header: dict | bytes, body: bytes) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def load_only_model_file_errors(path: Path) -> None:
    """digitnet.load either succeeds with a finite network or raises ModelFileError."""
    try:
        net = dn.load(path)
    except ModelFileError as error:
        assert "\n" not in str(error) and str(error)
        return
    assert all(np.isfinite(p).all() for p in net.parameters())


# --------------------------------------------------------------------------- model files
@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_are_a_model_file_error(folder, data):
    path = folder / "random.safetensors"
    path.write_bytes(data)
    load_only_model_file_errors(path)


@FUZZ
@given(st.data())
def test_flipped_bytes_anywhere_in_a_model_file(folder, good, data):
    raw = bytearray(good.read_bytes())
    header_end = 8 + struct.unpack("<Q", raw[:8])[0]
    for _ in range(data.draw(st.integers(1, 8))):
        # Mostly in the header (where a flip changes meaning), sometimes in the length or the data.
        where = data.draw(st.one_of(st.integers(8, header_end - 1), st.integers(0, len(raw) - 1)))
        raw[where] = data.draw(st.integers(0, 255))
    path = folder / "flipped.safetensors"
    path.write_bytes(bytes(raw))
    load_only_model_file_errors(path)


TENSOR_EDITS = st.fixed_dictionaries({
    "dtype": st.sampled_from(sorted(SAFETENSORS_DTYPES) + ["F128", "", "f32"]),
    "shape": st.lists(st.integers(0, 2**40), max_size=4),
    "offsets": st.lists(st.integers(-1, 2**63), min_size=0, max_size=3),
})


@FUZZ
@given(name=st.sampled_from(["layers.0.weight", "layers.0.bias", "layers.1.bias", "best.0", "foo"]),
       edit=TENSOR_EDITS, keep=st.sets(st.sampled_from(["dtype", "shape", "offsets"]), max_size=2),
       consistent=st.booleans())
def test_mutated_tensor_headers(folder, good, name, edit, keep, consistent):
    header, body = split(good)
    entry = dict(header.get(name) or header["layers.1.bias"])
    if "dtype" not in keep:
        entry["dtype"] = edit["dtype"]
    if consistent and entry["dtype"] in SAFETENSORS_DTYPES:
        # A shape that fits the bytes exactly, so safetensors accepts the header and the dtype
        # itself is what the reader meets (F8_E4M3 made NumPy raise AttributeError).
        start, end = entry["data_offsets"]
        entry["shape"] = [(end - start) * 8 // SAFETENSORS_DTYPES[entry["dtype"]]]
    else:
        if "shape" not in keep:
            entry["shape"] = edit["shape"]
        if "offsets" not in keep:
            entry["data_offsets"] = edit["offsets"]
    header[name] = entry
    path = folder / "mutated.safetensors"
    path.write_bytes(join(header, body))
    load_only_model_file_errors(path)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)


@FUZZ
@given(key=st.sampled_from(["format", "format_version", "architecture", "class_names", "kind", "training", "metrics"]),
       value=JSON)
def test_random_json_in_the_document(folder, good, key, value):
    header, body = split(good)
    document = json.loads(header["__metadata__"]["digitnet"])
    document[key] = value
    header["__metadata__"]["digitnet"] = json.dumps(document)
    path = folder / "document.safetensors"
    path.write_bytes(join(header, body))
    load_only_model_file_errors(path)


@FUZZ
@given(field=st.sampled_from(["sizes", "activation", "output_activation", "init", "dtype"]), value=JSON)
def test_random_json_in_the_architecture(folder, good, field, value):
    header, body = split(good)
    document = json.loads(header["__metadata__"]["digitnet"])
    document["architecture"][field] = value
    header["__metadata__"]["digitnet"] = json.dumps(document)
    path = folder / "architecture.safetensors"
    path.write_bytes(join(header, body))
    load_only_model_file_errors(path)


@pytest.mark.parametrize("dtype", sorted(SAFETENSORS_DTYPES))
@pytest.mark.parametrize("role", ["replacing a layer tensor", "as an extra tensor"])
def test_every_safetensors_dtype_is_read_or_refused_cleanly(folder, good, dtype, role):
    """F8_E4M3, F8_E5M2, F8_E8M0 and F4 made NumPy raise AttributeError (issue 13)."""
    header, body = split(good)
    count = 16  # elements: whole bytes for the 4- and 6-bit types too
    size = count * SAFETENSORS_DTYPES[dtype] // 8
    if role.startswith("replacing"):  # the tensor stored last: cut its bytes off, append the new ones
        name = max((key for key in header if key != "__metadata__"), key=lambda key: header[key]["data_offsets"][1])
        body = body[: header[name]["data_offsets"][0]]
    else:
        name = "extra"
    header[name] = {"dtype": dtype, "shape": [count], "data_offsets": [len(body), len(body) + size]}
    path = folder / f"{dtype}.safetensors"
    path.write_bytes(join(header, body + bytes(range(size))))
    with pytest.raises(ModelFileError, match=rf"{path.name}"):
        dn.load(path)


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize("where", ["document", "architecture"])
def test_json_nested_deeply_is_a_model_file_error(folder, good, depth, where):
    header, body = split(good)
    text = header["__metadata__"]["digitnet"]
    deep = "[" * depth + "]" * depth
    if where == "document":
        text = text[:-1] + f', "deep": {deep}}}'
    else:
        text = text.replace('"architecture": {', f'"architecture": {{"deep": {deep}, ', 1)
    header["__metadata__"]["digitnet"] = text
    path = folder / "deep.safetensors"
    path.write_bytes(join(header, body))
    with pytest.raises(ModelFileError, match="nested too deeply|unexpected|architecture"):
        dn.load(path)


def test_huge_json_is_read_or_refused_without_another_error(folder, good):
    header, body = split(good)
    document = json.loads(header["__metadata__"]["digitnet"])
    document["notes"] = ["x" * 1000] * 20_000  # 20 MB of metadata: readable, and ignored
    header["__metadata__"]["digitnet"] = json.dumps(document)
    path = folder / "huge.safetensors"
    path.write_bytes(join(header, body))
    assert dn.load(path).metadata["notes"][0] == "x" * 1000
    # A header beyond safetensors' own limit (100 MB) is refused by it, as a ModelFileError.
    path.write_bytes(join(b'{"__metadata__": {"digitnet": "' + b"x" * 100_000_001 + b'"}}', body))
    with pytest.raises(ModelFileError, match="not a readable safetensors model file"):
        dn.load(path)


@FUZZ
@given(key=st.sampled_from(["epoch", "rng", "history", "best_score", "best_epoch", "epochs_without_improvement"]),
       value=JSON)
def test_random_checkpoint_state_is_a_model_file_error(folder, checkpoint, key, value):
    header, body = split(checkpoint)
    document = json.loads(header["__metadata__"]["digitnet"])
    document["checkpoint"][key] = value
    header["__metadata__"]["digitnet"] = json.dumps(document)
    path = folder / "state.checkpoint.safetensors"
    path.write_bytes(join(header, body))
    try:
        load_checkpoint(path)
    except ModelFileError as error:
        assert "\n" not in str(error)


@FUZZ
@given(edit=TENSOR_EDITS, name=st.sampled_from(["optimizer.t", "optimizer.m.0", "best.1", "best.9", "optimizer.x.0"]))
def test_mutated_checkpoint_tensors_are_a_model_file_error(folder, checkpoint, edit, name):
    header, body = split(checkpoint)
    header[name] = {"dtype": edit["dtype"], "shape": edit["shape"], "data_offsets": edit["offsets"]}
    path = folder / "tensors.checkpoint.safetensors"
    path.write_bytes(join(header, body))
    with pytest.raises(ModelFileError):
        load_checkpoint(path)


@pytest.fixture(scope="module")
def checkpoint(folder) -> Path:
    """A real checkpoint of a short Adam run on learnable synthetic images."""
    from digitnet.training import TrainConfig
    from digitnet.training.checkpoints import checkpoint_path
    from digitnet.training.run import run_training
    from synthetic_data import learnable_dataset

    config = TrainConfig(sizes=[784, 8, 10], activation="relu", output_activation="softmax", loss="cross-entropy",
                         optimizer="adam", learning_rate=1e-2, epochs=2, batch_size=50, validation_size=100)
    out = folder / "run.safetensors"
    run_training(config, learnable_dataset(600, 200), out, say=lambda line: None)
    return checkpoint_path(out)


# --------------------------------------------------------------------------- IDX files
def read_only_dataset_errors(path: Path) -> None:
    try:
        array = read_idx(path, max_bytes=1 << 20)
    except DatasetError as error:
        assert "\n" not in str(error)
        return
    assert isinstance(array, np.ndarray)


@FUZZ
@given(st.binary(max_size=2048), st.booleans())
def test_random_bytes_are_a_dataset_error(folder, data, compressed):
    path = folder / "random-idx"
    path.write_bytes(gzip.compress(data) if compressed else data)
    read_only_dataset_errors(path)


@FUZZ
@given(st.binary(min_size=4, max_size=4), st.lists(st.integers(0, 2**32 - 1), max_size=6), st.binary(max_size=512),
       st.booleans())
def test_random_headers_are_a_dataset_error(folder, magic, dims, payload, compressed):
    data = bytes([0, 0]) + magic[2:] + b"".join(d.to_bytes(4, "big") for d in dims) + payload
    path = folder / "header-idx"
    path.write_bytes(gzip.compress(data) if compressed else data)
    read_only_dataset_errors(path)


@FUZZ
@given(st.data(), st.booleans())
def test_flipped_bytes_in_an_idx_file(folder, data, compressed):
    path = folder / ("images-idx.gz" if compressed else "images-idx")
    write_idx(path, np.arange(2 * 5 * 4, dtype=np.uint8).reshape(2, 5, 4))
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    path.write_bytes(bytes(raw))
    read_only_dataset_errors(path)
