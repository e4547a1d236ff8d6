"""A sweep file: fixed training settings, a search space, and the trials drawn from it.

    # sweeps/example.toml
    preset = "modern"            # any key of `digitnet train --config`: the settings every trial shares
    epochs = 10
    trials = 12                  # default: every combination when [space] holds only lists, else 16
    metric = "val_accuracy"      # or val_loss: what the search maximises (minimises)
    [space]                      # the searched settings
    learning_rate = {low = 3e-4, high = 1e-2, log = true}   # a range: uniform, or log-uniform
    batch_size = [16, 32, 64]                                # a list: one of these values
    [scheduler]                  # ASHA early stopping; the default when epochs > 3
    grace_period = 1             # epochs before a trial may be stopped
    reduction_factor = 4         # keep about 1 in 4 trials at each rung

Sweep-only keys besides those: train_images / test_images (train and score on the first N images
of each split, for quick sweeps), data_dir (a folder with the IDX files, else each worker's cache),
cpus_per_trial (default 1; BLAS is limited to them), search_seed (default 0).

The trials are drawn here, once, with a seeded generator: every engine (Ray Tune or the local
loop) runs the same list, and a resumed sweep is the same sweep. A trial's settings are the preset,
then the fixed settings, then its searched ones — one TrainConfig, checked before any trial runs,
so an impossible range or value fails at once with one line. A range of an integer setting draws
integers (log: log-uniform, both ends included); of a real-valued one, reals rounded to 4
significant digits.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digitnet.data.datasets import dataset_spec
from digitnet.training.config import TrainConfig, settings
from digitnet.training.config_file import config_values, flag_name, kind
from digitnet.training.presets import preset

METRICS = {"val_accuracy": "max", "val_loss": "min"}  # metric -> whether higher or lower is better
DEFAULT_RANDOM_TRIALS = 16
ASHA_WHEN_EPOCHS_OVER = 3
SWEEP_KEYS = ("space", "trials", "metric", "scheduler", "train_images", "test_images", "data_dir",
              "cpus_per_trial", "search_seed")
SCHEDULERS = ("asha", "none")


@dataclass(frozen=True)
class Choice:
    """A searched setting given as a list: each trial takes one of the values."""

    values: tuple

    def describe(self) -> list:
        return list(self.values)


@dataclass(frozen=True)
class Range:
    """A searched setting given as {low, high, log}: uniform (or log-uniform) in [low, high]."""

    low: float
    high: float
    log: bool
    integer: bool

    def sample(self, rng: np.random.Generator) -> int | float:
        if self.integer:  # both ends included
            if self.log:
                value = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
                return int(min(math.floor(value), self.high))
            return int(rng.integers(self.low, self.high + 1))
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high))) if self.log \
            else rng.uniform(self.low, self.high)
        return float(min(max(float(f"{value:.4g}"), self.low), self.high))  # 4 digits: readable tables

    def describe(self) -> dict:
        return {"low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Trial:
    """One trial: its id, the searched settings it draws (by setting name) and its whole config."""

    id: str
    settings: dict[str, Any]
    config: TrainConfig


@dataclass(frozen=True)
class Scheduler:
    """ASHA (asynchronous successive halving): at epochs grace_period·reduction_factorᵏ < max_epochs,
    a trial whose metric is below the best 1/reduction_factor of those recorded there stops."""

    grace_period: int = 1
    reduction_factor: float = 4
    max_epochs: int = 1

    def to_dict(self) -> dict:
        return {"type": "asha", "grace_period": self.grace_period, "reduction_factor": self.reduction_factor,
                "max_epochs": self.max_epochs}


@dataclass(frozen=True)
class Sweep:
    """A checked sweep file: the trials to run and how to judge them."""

    path: str
    base: TrainConfig
    space: dict[str, Choice | Range]
    trials: tuple[Trial, ...]
    metric: str = "val_accuracy"
    scheduler: Scheduler | None = None
    train_images: int | None = None
    test_images: int | None = None
    data_dir: str | None = None
    cpus_per_trial: int = 1
    search_seed: int = 0
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return METRICS[self.metric]

    def data(self) -> dict[str, Any]:
        """Where each trial reads its data from (the same for all trials)."""
        return {"dataset": self.base.dataset, "data_dir": self.data_dir,
                "train_images": self.train_images, "test_images": self.test_images}

    def plan(self, trial: Trial) -> dict[str, Any]:
        """All a worker needs to run one trial, as plain JSON-able values."""
        return {"id": trial.id, "settings": trial.settings, "config": trial.config.to_dict(),
                "data": self.data(), "cpus": self.cpus_per_trial}

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path, "fixed": self.fixed, "space": {k: v.describe() for k, v in self.space.items()},
            "metric": self.metric, "mode": self.mode,
            "scheduler": self.scheduler.to_dict() if self.scheduler else None,
            "data": self.data(), "cpus_per_trial": self.cpus_per_trial, "search_seed": self.search_seed,
            "trials": [{"id": t.id, "settings": t.settings, "config": t.config.to_dict()} for t in self.trials],
        }


def read_sweep(path: str, trials: int | None = None) -> Sweep:
    """Read and check a sweep file; `trials` (--trials) overrides the file's count."""
    try:
        with open(path, "rb") as file:
            raw = tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path} is not valid TOML: {error}") from None
    except FileNotFoundError:
        raise ValueError(f"sweep file {path} does not exist") from None
    return parse_sweep(raw, path, trials)


def parse_sweep(raw: dict[str, Any], path: str = "sweep", trials: int | None = None) -> Sweep:
    """A Sweep from a parsed sweep file (see the module docstring); ValueError naming the key otherwise."""
    raw = dict(raw)
    sweep_values = {key: raw.pop(key) for key in SWEEP_KEYS if key in raw}
    if "data" in raw:  # the spelling: `data` names the dataset, as `dataset` does
        if "dataset" in raw:
            raise ValueError(f"{path}: give the dataset once, as dataset or as data")
        raw["dataset"] = raw.pop("data")
    try:
        fixed = config_values(raw, path)
    except ValueError as error:
        raise ValueError(f"{error}; or a sweep key: {', '.join(SWEEP_KEYS)}") from None
    preset_name = fixed.pop("preset", None) or "3b1b"
    if not isinstance(preset_name, str):
        raise ValueError(f"{path}: preset must be a preset's name; got {preset_name!r}")
    try:
        base_values = preset(preset_name).to_dict() | fixed
        base = TrainConfig.from_dict(base_values)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None

    space_table = sweep_values.get("space")
    if not isinstance(space_table, dict) or not space_table:
        raise ValueError(f"{path}: a [space] table with at least one searched setting is required, "
                         'e.g. [space] learning_rate = [0.01, 0.003]')
    space = {}
    for key, value in space_table.items():
        name, dimension = _dimension(key, value, base_values, path)
        if name in space:
            raise ValueError(f"{path}: [space] searches {flag_name(_setting(name))} twice")
        if name in fixed:
            raise ValueError(f"{path}: {key} is both fixed (top level) and searched ([space]); keep one")
        space[name] = dimension

    metric = sweep_values.get("metric", "val_accuracy")
    if metric not in METRICS:
        raise ValueError(f"{path}: metric must be one of {', '.join(METRICS)}; got {metric!r}")
    options = {
        "train_images": _optional_count(sweep_values, "train_images", path),
        "test_images": _optional_count(sweep_values, "test_images", path),
        "cpus_per_trial": _optional_count(sweep_values, "cpus_per_trial", path) or 1,
        "search_seed": _optional_count(sweep_values, "search_seed", path, minimum=0) or 0,
        "data_dir": sweep_values.get("data_dir"),
    }
    if options["data_dir"] is not None and not isinstance(options["data_dir"], str):
        raise ValueError(f"{path}: data_dir must be a folder's path; got {options['data_dir']!r}")
    count = trials if trials is not None else sweep_values.get("trials")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"{path}: trials must be a positive integer; got {count!r}")
    drawn = _draw(space, count, options["search_seed"], path)
    trial_list = tuple(_trial(i, len(drawn), settings_, base_values, path) for i, settings_ in enumerate(drawn))
    for trial in trial_list:
        _check_fits(trial, options["train_images"], path)
    max_epochs = max(t.config.epochs for t in trial_list)
    scheduler = _scheduler(sweep_values.get("scheduler"), max_epochs, path)
    fixed_described = {"preset": preset_name, **fixed}
    return Sweep(path, base, space, trial_list, metric, scheduler, fixed=fixed_described, **options)


def _setting(name: str):
    return next(s for s in settings() if s.name == name)


def _dimension(key: str, value: Any, base_values: dict, path: str) -> tuple[str, Choice | Range]:
    """The setting a [space] key names, and its list of values or its range, each value checked."""
    where = f"{path}: [space]"
    if key == "preset":
        raise ValueError(f"{where} cannot search preset; search the settings themselves")
    if isinstance(value, list):
        if not value:
            raise ValueError(f"{where} {key} is an empty list; give at least one value")
        checked = [config_values({key: item}, where) for item in value]
        name = next(iter(checked[0]))
        values = tuple(item[name] for item in checked)
        if len({repr(v) for v in values}) != len(values):
            raise ValueError(f"{where} {key} lists a value twice: {value}")
        return name, Choice(values)
    if not isinstance(value, dict):
        raise ValueError(f"{where} {key} must be a list of values or a table {{low = ..., high = ..., log = false}}; "
                         f"got {value!r}")
    name = _name_of(key, where)
    setting_kind = kind(_setting(name))
    if setting_kind not in ("int", "number"):
        raise ValueError(f"{where} {key} takes a list of values, not a range (it is not a number)")
    unknown = sorted(set(value) - {"low", "high", "log"})
    if unknown or "low" not in value or "high" not in value:
        raise ValueError(f"{where} {key} must be a table of low, high and optionally log; got keys {sorted(value)}")
    low, high, log = value["low"], value["high"], value.get("log", False)
    for bound in (low, high):
        config_values({key: bound}, where)  # an integer setting takes integer bounds
    if not isinstance(log, bool):
        raise ValueError(f"{where} {key}: log must be true or false; got {log!r}")
    if not low < high:
        raise ValueError(f"{where} {key}: low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ValueError(f"{where} {key}: a log range needs low > 0; got low = {low}")
    for bound in (low, high):
        try:
            TrainConfig.from_dict(base_values | {name: bound})
        except ValueError as error:
            raise ValueError(f"{where} {key}: the range {low}..{high} is impossible: {error}") from None
    return name, Range(low, high, log, integer=setting_kind == "int")


def _name_of(key: str, where: str) -> str:
    """The setting's own name for a key written as the flag (lr) or as the setting (learning_rate)."""
    for s in settings():
        if key.replace("-", "_") in (s.name, flag_name(s).replace("-", "_")):
            return s.name
    config_values({key: 0}, where)  # raises the unknown-key error, listing the valid keys
    raise AssertionError(key)


def _optional_count(values: dict, key: str, path: str, minimum: int = 1) -> int | None:
    value = values.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{path}: {key} must be an integer of at least {minimum}; got {value!r}")
    return value


def _draw(space: dict[str, Choice | Range], count: int | None, seed: int, path: str) -> list[dict[str, Any]]:
    """The searched settings of each trial: a grid (all lists) or random draws (any range)."""
    rng = np.random.default_rng(seed)
    names = list(space)
    if all(isinstance(d, Choice) for d in space.values()):
        grid = [dict(zip(names, combo)) for combo in itertools.product(*(space[n].values for n in names))]
        if count is None or count == len(grid):
            return grid
        if count > len(grid):
            raise ValueError(f"{path}: trials = {count}, but [space] has only {len(grid)} combinations; "
                             "ask for at most that many, or search a range")
        return [grid[i] for i in sorted(rng.choice(len(grid), size=count, replace=False))]
    drawn = []
    for _ in range(count or DEFAULT_RANDOM_TRIALS):
        drawn.append({n: space[n].values[rng.integers(len(space[n].values))] if isinstance(space[n], Choice)
                      else space[n].sample(rng) for n in names})
    return drawn


def _trial(index: int, total: int, searched: dict[str, Any], base_values: dict, path: str) -> Trial:
    trial_id = f"t{index:0{max(3, len(str(total - 1)))}d}"
    try:
        config = TrainConfig.from_dict(base_values | searched)
    except ValueError as error:
        described = ", ".join(f"{k}={v}" for k, v in searched.items())
        raise ValueError(f"{path}: trial {trial_id} ({described}) is impossible: {error}") from None
    return Trial(trial_id, dict(searched), config)


def _check_fits(trial: Trial, train_images: int | None, path: str) -> None:
    """What can be checked without the data: outputs per class, a validation set smaller than the training set."""
    config = trial.config
    classes = len(dataset_spec(config.dataset).class_names)
    if config.sizes[-1] != classes:
        raise ValueError(f"{path}: layers must end with {classes} outputs for {config.dataset}; "
                         f"trial {trial.id} has {config.sizes}")
    if config.validation_size == 0:
        raise ValueError(f"{path}: a sweep judges trials on held-out images: validation_size must be above 0")
    if train_images is not None and config.validation_size >= train_images:
        raise ValueError(f"{path}: validation_size ({config.validation_size}) must be smaller than "
                         f"train_images ({train_images}); set validation_size in the sweep file")


def _scheduler(table: Any, max_epochs: int, path: str) -> Scheduler | None:
    """ASHA as asked for in [scheduler]; by default ASHA when trials run more than 3 epochs."""
    if table is None:
        return Scheduler(max_epochs=max_epochs) if max_epochs > ASHA_WHEN_EPOCHS_OVER else None
    if not isinstance(table, dict):
        raise ValueError(f"{path}: scheduler must be a table like [scheduler] type = \"asha\"; got {table!r}")
    unknown = sorted(set(table) - {"type", "grace_period", "reduction_factor"})
    if unknown:
        raise ValueError(f"{path}: [scheduler] has unknown key(s) {', '.join(unknown)}; "
                         "expected type, grace_period, reduction_factor")
    kind_name = table.get("type", "asha")
    if kind_name not in SCHEDULERS:
        raise ValueError(f"{path}: [scheduler] type must be one of {', '.join(SCHEDULERS)}; got {kind_name!r}")
    if kind_name == "none":
        return None
    grace = table.get("grace_period", 1)
    if isinstance(grace, bool) or not isinstance(grace, int) or not 1 <= grace <= max_epochs:
        raise ValueError(f"{path}: [scheduler] grace_period must be an integer from 1 to the epochs "
                         f"({max_epochs}); got {grace!r}")
    factor = table.get("reduction_factor", 4)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 1:
        raise ValueError(f"{path}: [scheduler] reduction_factor must be a number above 1; got {factor!r}")
    return Scheduler(grace, factor, max_epochs)
