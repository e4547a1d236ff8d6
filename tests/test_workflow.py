"""The training workflow behind `digitnet train`: presets, config files and flags (one
TrainConfig behind all three), and workflow.run_training on a small slice of real MNIST — the
files it writes, resume, divergence, early stopping and Ctrl-C.

The subprocess tests (SIGKILL at random moments, SIGINT) are in test_kill_resume.py.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

import digitnet
from digitnet import cli, data, training
from digitnet.training import presets
from digitnet.training import run as workflow
from digitnet.commands import train as train_command
from digitnet.training import TrainConfig, TrainingDiverged


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    """The last-model record goes to a temporary state folder; relative paths land in tmp."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


# --------------------------------------------------------------------------- presets
def test_3b1b_preset_is_the_videos_network_as_the_book_trains_it():
    assert presets.preset("3b1b") == TrainConfig(
        sizes=[784, 16, 16, 10],
        activation="sigmoid",
        output_activation=None,
        loss="quadratic",
        init="nielsen",
        optimizer="sgd",
        learning_rate=1.0,  # not the book's 3.0, tuned for its 784-30-10: see presets
        momentum=0.9,
        nesterov=False,
        schedule="constant",
        batch_size=10,
        epochs=30,
        weight_decay=0.0,
        dropout=0.0,
        patience=None,
        validation_size=10_000,
        dataset="mnist",
        seed=0,
        dtype="float32",
        augment=None,  # the book's images as they are: no augmentation, no deskewing
        deskew=False,
    )
    net = presets.preset("3b1b").make_network()
    assert net.sizes == [784, 16, 16, 10]
    assert net.output_activation == "sigmoid"
    assert net.num_parameters == 13_002


def test_modern_preset_has_the_same_parameters_with_todays_choices():
    config = presets.preset("modern")
    assert config.layers == [784, 16, 16, 10]
    assert (config.activation, config.output_activation, config.loss) == ("relu", "softmax", "cross-entropy")
    assert (config.optimizer, config.schedule, config.init) == ("adamw", "cosine", "he")
    assert config.weight_decay > 0
    assert config.make_network().num_parameters == 13_002
    assert config.deskew and config.augment == "marker+closing"  # deskewing helps it; of the augmentations only the marker ones


def test_best_preset_is_a_larger_regularised_mlp():
    config = presets.preset("best")
    assert config.layers[0] == 784 and config.layers[-1] == 10
    assert len(config.layers) >= 3 and min(config.layers[1:-1]) > 16
    assert (config.activation, config.output_activation, config.loss) == ("relu", "softmax", "cross-entropy")
    assert config.dropout > 0
    assert "elastic" in config.augment.split("+")  # Simard's elastic-distortion MLP


@pytest.mark.parametrize("name", ["3b1b", "modern", "best"])
def test_every_preset_is_valid_and_a_fresh_copy(name):
    import dataclasses

    config = presets.preset(name)
    assert TrainConfig.from_dict(config.to_dict()) == config  # checked at creation, so valid
    config.layers.append(99)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.learning_rate = 123.0  # a setting is checked once, at creation: no changing it after
    again = presets.preset(name)
    assert again.layers[-1] == 10


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ValueError, match=r"unknown preset 'nielsen'; expected one of 3b1b, modern, best"):
        presets.preset("nielsen")


# --------------------------------------------------------------------------- flags, TOML
def config_for(*argv: str) -> TrainConfig:
    args = cli.build_parser().parse_args(["train", *argv])
    config, _ = train_command.config_from_args(args)
    return config


def write_toml(tmp_path: Path, text: str, name: str = "run.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_no_flags_gives_the_3b1b_preset():
    assert config_for() == presets.preset("3b1b")


@pytest.mark.parametrize("flags, changed", [
    (["--layers", "784,30,10"], {"sizes": [784, 30, 10]}),
    (["--activation", "tanh"], {"activation": "tanh"}),
    (["--output", "softmax", "--loss", "cross-entropy"], {"output_activation": "softmax", "loss": "cross-entropy"}),
    (["--output", "sigmoid", "--loss", "binary-cross-entropy"], {"output_activation": "sigmoid", "loss": "binary-cross-entropy"}),
    (["--init", "xavier"], {"init": "xavier"}),
    (["--optimizer", "adamw"], {"optimizer": "adamw"}),
    (["--lr", "0.5"], {"learning_rate": 0.5}),
    (["--optimizer", "momentum", "--momentum", "0.5"], {"optimizer": "momentum", "momentum": 0.5}),
    (["--optimizer", "momentum", "--nesterov"], {"optimizer": "momentum", "nesterov": True}),
    (["--schedule", "step"], {"schedule": "step"}),
    (["--batch-size", "32"], {"batch_size": 32}),
    (["--epochs", "3"], {"epochs": 3}),
    (["--l2", "0.0001"], {"weight_decay": 0.0001}),
    (["--dropout", "0.25"], {"dropout": 0.25}),
    (["--patience", "4"], {"patience": 4}),
    (["--validation-size", "5000"], {"validation_size": 5000}),
    (["--seed", "42"], {"seed": 42}),
    (["--dataset", "fashion-mnist"], {"dataset": "fashion-mnist"}),
    (["--augment", "shift"], {"augment": "shift"}),
    (["--augment", "elastic+thickness"], {"augment": "elastic+thickness"}),
    (["--augment", "none"], {"augment": None}),
    (["--deskew"], {"deskew": True}),
    (["--no-deskew"], {"deskew": False}),
])
@pytest.mark.parametrize("preset", ["3b1b", "modern", "best"])
def test_each_flag_overrides_its_setting_in_every_preset(preset, flags, changed):
    config = config_for("--preset", preset, *flags)
    assert config.to_dict() == {**presets.preset(preset).to_dict(), **changed}


def test_toml_keys_short_and_long_names(tmp_path):
    path = write_toml(tmp_path, """
        lr = 0.25
        l2 = 5e-5
        batch-size = 20
        layers = "784,30,10"
        output = "softmax"
        loss = "cross-entropy"
        epochs = 7
        validation_size = 2000
        seed = 3
    """)
    config = config_for("--config", path)
    assert config.learning_rate == 0.25
    assert config.weight_decay == 5e-5
    assert config.batch_size == 20
    assert config.layers == [784, 30, 10]
    assert config.output_activation == "softmax"
    assert config.loss == "cross-entropy"
    assert (config.epochs, config.validation_size, config.seed) == (7, 2000, 3)
    assert config.activation == "sigmoid"  # the rest from the default preset


@pytest.mark.parametrize("line, field, value", [
    ("batch_size = 20", "batch_size", 20),
    ("batch-size = 20", "batch_size", 20),
    ("learning_rate = 0.1", "learning_rate", 0.1),
    ("learning-rate = 0.1", "learning_rate", 0.1),
    ("weight_decay = 0.001", "weight_decay", 0.001),
    ("output_activation = 'softmax'\nloss = 'cross-entropy'", "output_activation", "softmax"),
    ("layers = [784, 30, 10]", "layers", [784, 30, 10]),
    ("layers = '784,30,10'", "layers", [784, 30, 10]),
])
def test_toml_spellings(tmp_path, line, field, value):
    assert getattr(config_for("--config", write_toml(tmp_path, line)), field) == value


@pytest.mark.parametrize("value, expected", [("shift", "shift"), ("affine+elastic", "affine+elastic"), ("none", None)])
def test_toml_augment_takes_the_flags_values(tmp_path, value, expected):
    """--augment takes names joined by + or none; TOML has no null, so "none" must turn augmentation off there too."""
    assert config_for("--config", write_toml(tmp_path, f'augment = "{value}"\n')).augment == expected
    assert config_for("--augment", value).augment == expected


def test_toml_preset_key_picks_the_preset(tmp_path):
    config = config_for("--config", write_toml(tmp_path, 'preset = "modern"\nepochs = 2\n'))
    assert config == TrainConfig(**{**presets.preset("modern").to_dict(), "epochs": 2})


def test_preset_flag_wins_over_the_files_preset(tmp_path):
    config = config_for("--preset", "best", "--config", write_toml(tmp_path, 'preset = "modern"\n'))
    assert config == presets.preset("best")


def test_precedence_preset_then_config_then_flags(tmp_path):
    path = write_toml(tmp_path, 'preset = "modern"\nlr = 0.01\nbatch-size = 64\nepochs = 5\n')
    config = config_for("--config", path, "--lr", "0.02", "--epochs", "6")
    modern = presets.preset("modern")
    assert config.learning_rate == 0.02  # flag over file
    assert config.epochs == 6  # flag over file
    assert config.batch_size == 64  # file over preset
    assert config.optimizer == modern.optimizer == "adamw"  # preset where nobody else spoke
    assert config.schedule == "cosine"


@pytest.mark.parametrize("text, match", [
    ("learning_rat = 0.1", "unknown key 'learning_rat'"),
    ("[train]\nlr = 0.1", "unknown key 'train'"),
    ("lr = 0.1\nbatchsize = 10", "unknown key 'batchsize'"),
])
def test_toml_unknown_keys_are_rejected_with_the_valid_ones(tmp_path, text, match):
    path = write_toml(tmp_path, text)
    with pytest.raises(ValueError, match=f"--config .*run.toml: {match}; expected any of .*batch-size.*lr") as caught:
        config_for("--config", path)
    assert "\n" not in str(caught.value)


def test_toml_that_does_not_parse_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"--config .*run.toml is not valid TOML"):
        config_for("--config", write_toml(tmp_path, "lr = [0.1,\n"))


@pytest.mark.parametrize("text, match", [
    ("layers = 784", "layers"),
    ("layers = [784, 'a', 10]", "layers"),
    ("layers = '784,abc'", "784,abc"),
    ("seed = 'x'", "seed"),
    ("lr = 'fast'", "learning_rate|lr"),
    ("optimizer = 'momentum'\nmomentum = 'x'", "momentum"),
    ("epochs = 2.5", "epochs"),
    ("nesterov = 'yes'", "nesterov"),
    ("activation = 3", "activation"),
    ("batch-size = true", "batch"),
])
def test_toml_values_of_the_wrong_type_are_rejected(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        config_for("--config", write_toml(tmp_path, text))


@pytest.mark.parametrize("changes, field", [
    ({"layers": 784}, "layers|sizes"),
    ({"layers": [784, 0, 10]}, "layers|sizes"),
    ({"seed": -1}, "seed"),
    ({"seed": "x"}, "seed"),
    ({"dtype": "float16"}, "dtype"),
    ({"init": "bogus"}, "init"),
    ({"dataset": "cifar"}, "dataset"),
    ({"nesterov": "yes"}, "nesterov"),
])
def test_train_config_validate_checks_every_field(changes, field):
    with pytest.raises(ValueError, match=field):
        TrainConfig.from_dict(changes)


def test_one_config_for_cli_file_and_api(tmp_path):
    """The same settings from flags, from a TOML file and from the API give one TrainConfig."""
    from_flags = config_for("--preset", "modern", "--layers", "784,30,10", "--lr", "0.01", "--batch-size", "50",
                            "--l2", "0.001", "--dropout", "0.1", "--seed", "9", "--epochs", "4")
    from_file = config_for("--config", write_toml(tmp_path, """
        preset = "modern"
        layers = [784, 30, 10]
        lr = 0.01
        batch-size = 50
        l2 = 0.001
        dropout = 0.1
        seed = 9
        epochs = 4
    """))
    from_api = TrainConfig(**{**presets.preset("modern").to_dict(), "sizes": [784, 30, 10], "learning_rate": 0.01,
                              "batch_size": 50, "weight_decay": 0.001, "dropout": 0.1, "seed": 9, "epochs": 4})
    assert from_flags == from_file == from_api


# --------------------------------------------------------------------------- real training
@dataclass(frozen=True)
class Slice:
    """A Dataset-like slice of MNIST: name, x_train, y_train, x_test, y_test, class_names."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple


@pytest.fixture(scope="module")
def mnist():
    return data.load("mnist")


@pytest.fixture(scope="module")
def small(mnist) -> Slice:
    """2,000 training images (the last 400 become validation) and 1,000 test images."""
    return Slice("mnist", mnist.x_train[:2000], mnist.y_train[:2000], mnist.x_test[:1000], mnist.y_test[:1000],
                 mnist.class_names)


def small_config(**changes) -> TrainConfig:
    values = dict(sizes=[784, 16, 10], epochs=3, batch_size=10, learning_rate=3.0, validation_size=400, seed=5)
    values.update(changes)
    return TrainConfig(**values)


def quiet(_message: str) -> None:
    pass


def model_tensors(path: Path) -> dict[str, np.ndarray]:
    with safe_open(str(path), framework="np") as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}


def assert_same_tensors(a: Path, b: Path) -> None:
    ta, tb = model_tensors(a), model_tensors(b)
    assert ta.keys() == tb.keys()
    for name in ta:
        assert ta[name].dtype == tb[name].dtype
        assert np.array_equal(ta[name], tb[name]), f"{name} differs"


def without_seconds(records: list[dict]) -> list[dict]:
    return [{key: value for key, value in record.items() if not key.endswith("seconds")} for record in records]


def test_checkpoint_and_history_paths_sit_next_to_the_model():
    from digitnet.training.checkpoints import checkpoint_path, history_paths

    assert checkpoint_path("models/x.safetensors") == Path("models/x.checkpoint.safetensors")
    assert history_paths("models/x.safetensors") == (Path("models/x.history.json"), Path("models/x.history.csv"))
    assert checkpoint_path("/a/b/3b1b.safetensors") == Path("/a/b/3b1b.checkpoint.safetensors")


@pytest.mark.parametrize("out, match", [
    ("model.pt", "--out must name a .safetensors file; got '.*model.pt'"),
    ("model", "--out must name a .safetensors file"),
])
def test_out_must_be_a_safetensors_file(small, tmp_path, out, match):
    with pytest.raises(ValueError, match=match):
        workflow.run_training(small_config(), small, tmp_path / out, say=quiet)


def test_out_that_is_a_folder_is_refused(small, tmp_path):
    (tmp_path / "folder.safetensors").mkdir()
    with pytest.raises(ValueError, match="--out must be a file path"):
        workflow.run_training(small_config(), small, tmp_path / "folder.safetensors", say=quiet)


@pytest.mark.parametrize("layers", [[100, 16, 10], [784, 16, 9]])
def test_layers_must_fit_the_dataset(small, tmp_path, layers):
    with pytest.raises(ValueError, match=r"layers must start with 784 inputs and end with 10 outputs for mnist"):
        workflow.run_training(small_config(sizes=layers), small, tmp_path / "m.safetensors", say=quiet)


@pytest.mark.parametrize("layers", [784, None, [784, "16", 10], [784, 16.5, 10]])
def test_layers_that_are_not_a_list_of_sizes_are_refused(small, tmp_path, layers):
    with pytest.raises(ValueError, match="sizes"):
        workflow.run_training(small_config(sizes=layers), small, tmp_path / "m.safetensors", say=quiet)


def test_validation_size_must_leave_training_images(small, tmp_path):
    with pytest.raises(ValueError, match="validation_size must be smaller than the 2000 training images; got 2000"):
        workflow.run_training(small_config(validation_size=2000), small, tmp_path / "m.safetensors", say=quiet)


@pytest.fixture(scope="module")
def finished_run(small, tmp_path_factory):
    """One complete run: 3 epochs of 784-16-10 on the slice."""
    folder = tmp_path_factory.mktemp("run")
    epochs_seen = []
    result = workflow.run_training(small_config(), small, folder / "m.safetensors", say=quiet,
                                   on_epoch=epochs_seen.append)
    return result, folder, epochs_seen


def test_run_writes_model_checkpoint_and_history(finished_run):
    result, folder, _ = finished_run
    assert sorted(p.name for p in folder.iterdir()) == [
        "m.checkpoint.safetensors", "m.history.csv", "m.history.json", "m.safetensors",
    ]
    assert result.out == folder / "m.safetensors"
    assert result.resumed_from_epoch == 0


def test_run_records_every_epoch(finished_run):
    result, folder, epochs_seen = finished_run
    records = json.loads((folder / "m.history.json").read_text())["records"]
    assert [record["epoch"] for record in records] == [1, 2, 3]
    assert records == epochs_seen == result.trainer.history.records
    for record in records:
        assert {"loss", "accuracy", "val_accuracy", "val_loss", "test_accuracy", "seconds", "learning_rate"} <= set(record)
        assert math.isfinite(record["loss"]) and record["seconds"] >= 0
        assert 0.5 < record["val_accuracy"] <= 1 and 0.5 < record["test_accuracy"] <= 1

    lines = (folder / "m.history.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert {"epoch", "loss", "val_accuracy", "test_accuracy", "seconds"} <= set(header)
    assert len(lines) == 4
    for line, record in zip(lines[1:], records):
        row = dict(zip(header, line.split(",")))
        assert int(row["epoch"]) == record["epoch"]
        assert float(row["loss"]) == record["loss"]
        assert float(row["test_accuracy"]) == record["test_accuracy"]


def test_model_holds_its_metrics_and_scores_them_again(finished_run, small):
    result, folder, _ = finished_run
    net = digitnet.load(folder / "m.safetensors")
    metadata = net.metadata
    assert metadata["training"] == small_config().to_dict()
    assert metadata["dataset"] == "mnist"
    assert metadata["class_names"] == list(small.class_names)
    metrics = metadata["metrics"]
    assert metrics == result.metrics
    assert metrics["epochs_run"] == 3
    assert 1 <= metrics["best_epoch"] <= 3
    assert metrics["test_accuracy"] == float(np.mean(net.predict(small.x_test) == small.y_test))
    assert metrics["test_accuracy"] > 0.8
    x_val, y_val = small.x_train[-400:], small.y_train[-400:]
    assert metrics["val_accuracy"] == float(np.mean(net.predict(x_val) == y_val))
    history = metadata["history"]["records"]
    best = history[metrics["best_epoch"] - 1]
    assert metrics["val_accuracy"] == best["val_accuracy"] == max(r["val_accuracy"] for r in history)
    assert metrics["test_accuracy"] == best["test_accuracy"]


def test_checkpoint_holds_weights_optimizer_rng_epoch_and_history(finished_run):
    result, folder, _ = finished_run
    net, tensors, document = workflow.load_checkpoint(folder / "m.checkpoint.safetensors")
    state = document["checkpoint"]
    assert state["epoch"] == 3
    assert state["history"] == result.trainer.history.to_dict()
    assert state["rng"]["bit_generator"] == "PCG64"
    assert document["training"] == small_config().to_dict()
    assert any(name.startswith("optimizer.") for name in tensors)
    assert net.sizes == [784, 16, 10]


def test_run_remembers_the_last_model(finished_run, small, tmp_path):
    workflow.run_training(small_config(epochs=1), small, tmp_path / "last.safetensors", say=quiet)
    assert workflow.last_model() == (tmp_path / "last.safetensors").resolve()


def test_same_seed_same_model(finished_run, small, tmp_path):
    _, folder, _ = finished_run
    workflow.run_training(small_config(), small, tmp_path / "again.safetensors", say=quiet)
    assert_same_tensors(folder / "m.safetensors", tmp_path / "again.safetensors")


def test_resume_after_completion_changes_nothing(finished_run, small, tmp_path):
    _, folder, _ = finished_run
    copy = tmp_path / "m.safetensors"
    for name in ("m.safetensors", "m.checkpoint.safetensors"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    said = []
    result = workflow.run_training(small_config(), small, copy, resume=True, say=said.append)
    assert result.resumed_from_epoch == 3
    assert any("Resuming from" in line and "after epoch 3 of 3" in line for line in said), said
    assert_same_tensors(copy, folder / "m.safetensors")
    assert result.metrics["test_accuracy"] == digitnet.load(folder / "m.safetensors").metadata["metrics"]["test_accuracy"]


@pytest.mark.parametrize("change", [
    {"learning_rate": 1.0}, {"epochs": 4}, {"batch_size": 20}, {"seed": 6}, {"sizes": [784, 17, 10]},
])
def test_resume_with_different_settings_is_refused(finished_run, small, tmp_path, change):
    _, folder, _ = finished_run
    (tmp_path / "m.checkpoint.safetensors").write_bytes((folder / "m.checkpoint.safetensors").read_bytes())
    with pytest.raises(ValueError, match=r"m.checkpoint.safetensors was made with different settings; resume with the same arguments"):
        workflow.run_training(small_config(**change), small, tmp_path / "m.safetensors", resume=True, say=quiet)


def test_resume_without_checkpoint_starts_from_the_beginning_and_says_so(finished_run, small, tmp_path):
    _, folder, _ = finished_run
    said = []
    result = workflow.run_training(small_config(), small, tmp_path / "m.safetensors", resume=True, say=said.append)
    assert f"No checkpoint at {tmp_path / 'm.checkpoint.safetensors'}: starting from the beginning." in said
    assert result.resumed_from_epoch == 0
    assert_same_tensors(tmp_path / "m.safetensors", folder / "m.safetensors")


def test_resume_from_a_broken_checkpoint_is_refused(small, tmp_path):
    (tmp_path / "m.checkpoint.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(digitnet.ModelFileError, match="m.checkpoint.safetensors is not a readable safetensors"):
        workflow.run_training(small_config(), small, tmp_path / "m.safetensors", resume=True, say=quiet)


def test_a_model_file_is_not_a_checkpoint(finished_run, small, tmp_path):
    _, folder, _ = finished_run
    (tmp_path / "m.checkpoint.safetensors").write_bytes((folder / "m.safetensors").read_bytes())
    with pytest.raises(digitnet.ModelFileError, match="is not a digitnet training checkpoint"):
        workflow.run_training(small_config(), small, tmp_path / "m.safetensors", resume=True, say=quiet)


RESUME_CONFIGS = {
    "3b1b-like": dict(),
    "adam-dropout-cosine": dict(activation="relu", output_activation="softmax", loss="cross-entropy", init="he",
                                optimizer="adam", learning_rate=3e-3, schedule="cosine", batch_size=32, dropout=0.2),
    "nesterov-l2-step-patience": dict(sizes=[784, 20, 10], activation="tanh", output_activation="softmax",
                                      loss="cross-entropy", optimizer="momentum", nesterov=True, learning_rate=0.05,
                                      weight_decay=1e-4, schedule="step", patience=3),
    "float64": dict(dtype="float64", batch_size=25),
    "no-validation": dict(validation_size=0),
    "marker-drawings": dict(augment="marker+closing"),  # the drawings are made again, the same, on resuming
}


class StopAfter:
    """on_epoch callback: Ctrl-C (KeyboardInterrupt) right after epoch `epoch` is checkpointed."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, record: dict) -> None:
        if record["epoch"] == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("name", list(RESUME_CONFIGS))
def test_interrupted_and_resumed_run_is_bit_identical(small, tmp_path, name):
    config = small_config(epochs=4, **RESUME_CONFIGS[name])
    reference = workflow.run_training(config, small, tmp_path / "ref" / "m.safetensors", say=quiet)

    out = tmp_path / "cut" / "m.safetensors"
    said = []
    with pytest.raises(KeyboardInterrupt):
        workflow.run_training(config, small, out, say=said.append, on_epoch=StopAfter(2))
    said = [line for line in said if not line.startswith(("Drawing ", "Drew "))]  # (the marker drawings' news)
    assert said == [f"Interrupted: the checkpoint after epoch 2 is in {out.parent / 'm.checkpoint.safetensors'}; "
                    "run the same command with --resume to continue."]
    assert not out.exists()
    _, _, document = workflow.load_checkpoint(out.parent / "m.checkpoint.safetensors")
    assert document["checkpoint"]["epoch"] == 2

    resumed = workflow.run_training(config, small, out, resume=True, say=quiet)
    assert resumed.resumed_from_epoch == 2
    assert_same_tensors(out, tmp_path / "ref" / "m.safetensors")
    assert without_seconds(resumed.trainer.history.records) == without_seconds(reference.trainer.history.records)
    assert {k: v for k, v in resumed.metrics.items() if not k.endswith("_seconds")} == \
        {k: v for k, v in reference.metrics.items() if not k.endswith("_seconds")}
    history = json.loads((out.parent / "m.history.json").read_text())["records"]
    assert [record["epoch"] for record in history] == [1, 2, 3, 4]


def test_ctrl_c_before_the_first_checkpoint_does_not_claim_one(small, tmp_path):
    def interrupt(done, total, loss):
        raise KeyboardInterrupt

    said = []
    with pytest.raises(KeyboardInterrupt):
        workflow.run_training(small_config(), small, tmp_path / "m.safetensors", say=said.append, on_batch=interrupt)
    assert not (tmp_path / "m.checkpoint.safetensors").exists()
    assert len(said) == 1
    assert "checkpoint after" not in said[0]
    assert said[0].startswith("Interrupted before this run saved any checkpoint")


def test_ctrl_c_while_a_checkpoint_is_written_keeps_the_previous_one(small, tmp_path, monkeypatch):
    """An interrupt inside the checkpoint write: the file on disk stays the complete one of the
    epoch before, the message names that epoch, and resuming from it ends identically."""
    import safetensors.numpy

    config = small_config(epochs=4)
    workflow.run_training(config, small, tmp_path / "ref" / "m.safetensors", say=quiet)

    real_save_file = safetensors.numpy.save_file
    calls = []

    def save_file_interrupted_on_the_third(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) == 3:
            real_save_file(tensors, filename, metadata=metadata)
            Path(filename).write_bytes(Path(filename).read_bytes()[:1000])  # half written ...
            raise KeyboardInterrupt  # ... when Ctrl-C arrives
        return real_save_file(tensors, filename, metadata=metadata)

    monkeypatch.setattr(safetensors.numpy, "save_file", save_file_interrupted_on_the_third)
    out = tmp_path / "cut" / "m.safetensors"
    said = []
    with pytest.raises(KeyboardInterrupt):
        workflow.run_training(config, small, out, say=said.append)
    monkeypatch.setattr(safetensors.numpy, "save_file", real_save_file)

    checkpoint = out.parent / "m.checkpoint.safetensors"
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.checkpoint.safetensors", "m.history.csv", "m.history.json"]
    _, _, document = workflow.load_checkpoint(checkpoint)
    assert document["checkpoint"]["epoch"] == 2
    said = [line for line in said if not line.startswith(("Drawing ", "Drew "))]  # (the marker drawings' news)
    assert said == [f"Interrupted: the checkpoint after epoch 2 is in {checkpoint}; "
                    "run the same command with --resume to continue."]

    workflow.run_training(config, small, out, resume=True, say=quiet)
    assert_same_tensors(out, tmp_path / "ref" / "m.safetensors")


# --------------------------------------------------------------------------- divergence
def diverging_config(**changes) -> TrainConfig:
    return small_config(activation="relu", output_activation="identity", learning_rate=1e4, **changes)


def test_huge_learning_rate_diverges_in_epoch_1_and_writes_no_model(small, tmp_path):
    with pytest.raises(TrainingDiverged, match=r"training diverged in epoch 1\b.*try a smaller learning rate \(learning_rate, now 10000\)"):
        workflow.run_training(diverging_config(), small, tmp_path / "m.safetensors", say=quiet)
    assert not (tmp_path / "m.safetensors").exists()
    assert not (tmp_path / "m.checkpoint.safetensors").exists()


def test_divergence_is_quiet_under_default_numpy_settings(small, tmp_path):
    # What a user sees: NumPy's default errstate is "warn", and filterwarnings=error would turn
    # a RuntimeWarning into a failure here. Only TrainingDiverged may come out.
    with np.errstate(all="warn", under="ignore"):
        with pytest.raises(TrainingDiverged, match=r"epoch 1\b"):
            workflow.run_training(diverging_config(), small, tmp_path / "m.safetensors", say=quiet)


def test_divergence_in_a_later_epoch_keeps_the_last_good_checkpoint(small, tmp_path, monkeypatch):
    """The learning rate explodes from epoch 3 on: the error names epoch 3 and the checkpoint of
    epoch 2 stays, complete and finite, ready for a resume with a smaller learning rate."""
    real_run_epoch = training.Trainer.run_epoch

    def run_epoch(self, on_batch=None):
        if self.epoch == 2:
            self.base_learning_rate = 1e4
        return real_run_epoch(self, on_batch)

    monkeypatch.setattr(training.Trainer, "run_epoch", run_epoch)
    config = small_config(activation="relu", output_activation="identity", learning_rate=0.01, epochs=5)
    with pytest.raises(TrainingDiverged, match=r"training diverged in epoch 3\b.*smaller learning rate"):
        workflow.run_training(config, small, tmp_path / "m.safetensors", say=quiet)

    assert not (tmp_path / "m.safetensors").exists()
    net, _, document = workflow.load_checkpoint(tmp_path / "m.checkpoint.safetensors")
    assert document["checkpoint"]["epoch"] == 2
    assert all(np.isfinite(p).all() for p in net.parameters())
    history = json.loads((tmp_path / "m.history.json").read_text())["records"]
    assert [record["epoch"] for record in history] == [1, 2]


# --------------------------------------------------------------------------- early stopping
def test_early_stopping_stops_and_keeps_the_weights_best_on_validation(small, tmp_path):
    config = small_config(epochs=25, patience=2, validation_size=200)
    result = workflow.run_training(config, small, tmp_path / "early.safetensors", say=quiet)

    history = result.trainer.history.records
    val = [record["val_accuracy"] for record in history]
    best_epoch = int(np.argmax(val)) + 1  # the first epoch with the best score
    assert len(history) < 25, "expected early stopping with patience 2"
    assert len(history) == best_epoch + 2
    assert result.metrics["epochs_run"] == len(history)
    assert result.metrics["best_epoch"] == best_epoch
    net = digitnet.load(tmp_path / "early.safetensors")
    x_val, y_val = small.x_train[-200:], small.y_train[-200:]
    assert float(np.mean(net.predict(x_val) == y_val)) == max(val)

    # The kept weights are those after epoch best_epoch: train exactly that long (same seed,
    # constant learning rate, so the same trajectory) and compare.
    short = small_config(epochs=best_epoch, validation_size=200)
    workflow.run_training(short, small, tmp_path / "short.safetensors", say=quiet)
    assert_same_tensors(tmp_path / "early.safetensors", tmp_path / "short.safetensors")


def test_early_stopped_run_resumed_after_completion_stays_stopped(small, tmp_path):
    config = small_config(epochs=25, patience=2, validation_size=200)
    first = workflow.run_training(config, small, tmp_path / "m.safetensors", say=quiet)
    (tmp_path / "first.safetensors").write_bytes((tmp_path / "m.safetensors").read_bytes())
    again = workflow.run_training(config, small, tmp_path / "m.safetensors", resume=True, say=quiet)
    assert again.resumed_from_epoch == first.metrics["epochs_run"] < 25
    assert_same_tensors(tmp_path / "m.safetensors", tmp_path / "first.safetensors")
