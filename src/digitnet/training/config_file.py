"""Training settings written in TOML: `train --config FILE` and the fixed settings of a sweep file.

    # my-run.toml — keys are the flags' names (lr, batch-size or batch_size) or the settings' own
    preset = "modern"            # (learning_rate), plus preset: the recipe the others change
    lr = 0.003
    layers = [784, 64, 10]       # or "784,64,10", as on the command line
    schedule = "none"            # TOML has no null: "none" switches an optional setting off

Every setting is a TrainConfig field (digitnet.training.config): its name, flag, kind and type come
from there, for the command line (digitnet.commands.train builds its flags from the same helpers)
and for these files alike. config_values checks the TOML types (an integer setting takes no 0.5,
a bool no "yes") and returns {setting name: value}; the values themselves are checked by
TrainConfig when the config is made. Errors start with `where` (the file, or a table in it) and
name keys as the flags do (--batch-size).
"""

from __future__ import annotations

import tomllib
from typing import Any

from digitnet.training.config import settings

__all__ = ["KINDS", "config_values", "flag_name", "kind", "parse_layers", "read_config_file"]

# A setting's Python type -> how its value is written (on the command line and in TOML).
KINDS = {"list[int]": "sizes", "bool": "bool", "int": "int", "int | None": "int", "float": "number",
         "str": "text", "str | None": "text"}


def flag_name(setting) -> str:
    """lr for learning_rate, batch-size for batch_size: the setting's command-line name (without --)."""
    return (setting.metadata.get("flag") or setting.name).replace("_", "-")


def kind(setting) -> str:
    """sizes, bool, int, number or text: how the setting's value is written."""
    return KINDS[str(setting.type)]


def read_config_file(path: str) -> dict[str, Any]:
    """The settings in a TOML file: keys are the flags' names (lr, batch-size or batch_size) or
    the settings' own (learning_rate), plus preset."""
    try:
        with open(path, "rb") as file:
            raw = tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"--config {path} is not valid TOML: {error}") from None
    except UnicodeDecodeError as error:  # (TOML files are UTF-8)
        raise ValueError(f"--config {path} is not UTF-8 text: byte 0x{error.object[error.start]:02x} "
                         f"at position {error.start}") from None
    except OSError as error:
        raise ValueError(f"--config {path}: {(error.strerror or str(error)).lower()}") from None
    return config_values(raw, f"--config {path}")


def config_values(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """Training settings from a parsed TOML table: {setting name: checked value} (plus preset).
    Keys may be the flags' names or the settings' own; `where` starts every error message."""
    by_name = {}
    for setting in settings():
        by_name[setting.name] = by_name[flag_name(setting).replace("-", "_")] = setting
    values = {}
    for key, value in raw.items():
        if key == "preset":
            values["preset"] = value
            continue
        setting = by_name.get(key.replace("-", "_"))
        if setting is None:
            valid = sorted({flag_name(s) for s in settings()} | {"preset"})
            raise ValueError(f"{where}: unknown key {key!r}; expected any of {', '.join(valid)}")
        if setting.name in values:
            first = next(k for k in raw if by_name.get(k.replace("-", "_")) is setting)
            raise ValueError(f"{where}: keys {first!r} and {key!r} both set --{flag_name(setting)}; give it once")
        expected = _toml_type_error(kind(setting), value)
        if expected:
            raise ValueError(f"{where}: {key} must be {expected}; got {value!r}")
        if kind(setting) == "sizes" and isinstance(value, str):
            value = parse_layers(value)
        elif value == "none" and str(setting.type).endswith("| None"):
            value = None  # as on the command line: TOML has no null to say it
        values[setting.name] = value
    return values


def _toml_type_error(kind: str, value) -> str | None:
    """What value should have been, if it is the wrong type for a setting of this kind; else None."""
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if kind == "sizes":
        ok = isinstance(value, str) or (isinstance(value, list) and all(is_int(v) for v in value))
        return None if ok else 'a list of integers like [784, 30, 10] or a string like "784,30,10"'
    if kind == "number":
        return None if is_int(value) or isinstance(value, float) else "a number"
    if kind == "int":
        return None if is_int(value) else "an integer"
    if kind == "bool":
        return None if isinstance(value, bool) else "true or false"
    return None if isinstance(value, str) else "a string"


def parse_layers(text: str) -> list[int]:
    """[784, 30, 10] from "784,30,10"; ValueError in --layers' words otherwise."""
    try:
        sizes = [int(part) for part in str(text).split(",")]
    except ValueError:
        raise ValueError(f"--layers must be comma-separated integers like 784,30,10; got {text!r}") from None
    return sizes
