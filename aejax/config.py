"""Experiment configs: loading, validation against the default schema, command-line overrides.

Every key is declared in `aejax/configs/default.py`; an unknown key is an error naming the closest valid key.
Named experiments ship in `aejax/configs/` too, so `get_config("ae_digits")` works wherever aejax is installed.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import json
import re
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import ml_collections

# The packaged configs (aejax/configs/<name>.py), found by name; this module imports no JAX, so that the CLI can
# tune the allocator before JAX starts (aejax.host_memory).
CONFIGS_PACKAGE = "aejax.configs"
CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG_FILE = CONFIGS_DIR / "default.py"

# Keys whose children are user-chosen labels rather than schema keys; each child has these fields (regularizer
# entries may add settings: keyword arguments of their function).
OPEN_MAPPINGS = {"loss.regularizers": {"fn": str, "weight": float}}
# Mappings of keyword settings for a part named by import path, kept whole and checked against the part's fields.
FREE_MAPPINGS = ("model.encoder_settings", "model.decoder_settings")
# Flat `model.*` keys of configs written before families had their own blocks -> where they live now. A config
# file that sets an old key gets an error naming the new one; a workdir's config.json is read with them moved.
MOVED_KEYS = {
    "model.vq_num_embeddings": "model.vqvae.num_embeddings",
    "model.vq_embedding_dim": "model.vqvae.embedding_dim",
    "model.cell": "model.sequence.cell",
    "model.rnn_hidden": "model.sequence.hidden",
    "model.rnn_layers": "model.sequence.layers",
    "model.bidirectional": "model.sequence.bidirectional",
    "model.teacher_forcing": "model.sequence.teacher_forcing",
    "model.code_each_step": "model.sequence.code_each_step",
    "model.patch_size": "model.attention.patch_size",
    "model.model_dim": "model.attention.model_dim",
    "model.num_heads": "model.attention.num_heads",
    "model.attention_layers": "model.attention.layers",
    "model.mlp_dim": "model.attention.mlp_dim",
    "model.num_memory": "model.attention.num_memory",
    "model.mask_ratio": "model.attention.mask_ratio",
    "model.capsule_conv_features": "model.capsule.conv_features",
    "model.capsule_conv_kernel": "model.capsule.conv_kernel",
    "model.primary_channels": "model.capsule.primary_channels",
    "model.primary_dim": "model.capsule.primary_dim",
    "model.primary_kernel": "model.capsule.primary_kernel",
    "model.primary_stride": "model.capsule.primary_stride",
    "model.num_capsules": "model.capsule.num_capsules",
    "model.capsule_dim": "model.capsule.capsule_dim",
    "model.routing_iterations": "model.capsule.routing_iterations",
}
# Fields an open-mapping entry may add beyond the required ones, with their types.
OPTIONAL_FIELDS = {"loss.regularizers": {"warmup": str, "warmup_steps": int}}

# `sweep.<path>` keys (lists of values) vary these config paths over a vmapped sweep's members.
SWEEP_PREFIX = "sweep."
SWEEP_WEIGHT = re.compile(r"^loss\.regularizers\.([^.]+)\.weight$")  # group 1: the regularizer label
SWEEPABLE = ("seed", "train.learning_rate", "loss.regularizers.<label>.weight")

# Keys a resumed run may change without invalidating its checkpoints.
RESUMABLE_CHANGES = (
    "train.epochs",
    "train.progress",
    "train.log_every_steps",
    "train.log_norms",
    "train.early_stopping_patience",
    "train.early_stopping_min_delta",
    "train.eval_batch_size",
    "train.backend",  # where the steps run; the numbers are the same
    "train.steps_per_dispatch",  # bit-identical either way
    "checkpoint.",
    "eval.",
    "task.",  # a task's own settings; the model settings it sets per run are checked as model.*
    "data.path",
    "data.pipeline",  # memory or streamed batches: the same rows in the same order
    "data.prefetch",
)


def _config_of(module: types.ModuleType, where: str) -> ml_collections.ConfigDict:
    if not hasattr(module, "get_config"):
        raise ValueError(f"config file {where!r} defines no get_config() function")
    config = module.get_config()
    if not isinstance(config, ml_collections.ConfigDict):
        raise TypeError(f"get_config() in {where!r} returned {type(config).__name__}, expected a ConfigDict")
    return config


def _load_module_config(path: Path) -> ml_collections.ConfigDict:
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    spec = importlib.util.spec_from_file_location(f"_aejax_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return _config_of(module, str(path))


def _packaged_config(name: str) -> ml_collections.ConfigDict:
    module = importlib.import_module(f"{CONFIGS_PACKAGE}.{name}")
    return _config_of(module, f"aejax/configs/{name}.py")


def config_names() -> list[str]:
    """The names of the configs that ship with aejax (aejax/configs/*.py), `default` included."""
    return sorted(p.stem for p in CONFIGS_DIR.glob("*.py") if not p.stem.startswith("_"))


def load_default() -> ml_collections.ConfigDict:
    """A fresh copy of the default config (every key declared), with the block `model.<family>` of every
    registered family that has settings (aejax.families), at its defaults."""
    return with_family_blocks(_packaged_config("default"))


def with_family_blocks(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`config` with the block of every registered family that it lacks, at the family's defaults."""
    for path, defaults in family_blocks().items():
        section, name = path.rsplit(".", 1)
        if section in config and name not in config[section]:
            set_path(config, path, ml_collections.ConfigDict(defaults))
    return config


def family_blocks() -> dict[str, dict[str, Any]]:
    """`model.<family>` path -> default settings, for the registered families that keep their settings there."""
    from aejax import (
        families,
    )  # imports JAX: config files load without it (the CLI tunes the allocator first)

    blocks = {}
    for name in families.family_names():
        family = families.get_family(name)
        if family.settings is not None and family.settings_block.startswith("model."):
            blocks[family.settings_block] = family.default_settings()
    return blocks


def get_config(name_or_path: str | Path) -> ml_collections.ConfigDict:
    """Load and validate an experiment config from a file path or the name of a packaged config (`ae_digits`);
    a file of that name comes first (a directory, such as a workdir called `ae_digits`, does not)."""
    path = Path(name_or_path)
    if not path.suffix and not path.is_file():
        names = config_names()
        if path.name != str(name_or_path) or path.name not in names:
            raise FileNotFoundError(
                f"no config named {str(name_or_path)!r}; known configs: {', '.join(names)}"
            )
        config = _packaged_config(path.name)
    else:
        config = _load_module_config(path)
    with_family_blocks(config)  # a config file may build its own ConfigDict without the families' blocks
    validate(config)
    return config


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; open mappings are kept as one leaf (a dict)."""
    flat = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if path in OPEN_MAPPINGS or path in FREE_MAPPINGS:
            flat[path] = _to_plain(value)
        elif isinstance(value, Mapping | ml_collections.ConfigDict):
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _to_plain(value: Any) -> Any:
    if isinstance(value, ml_collections.ConfigDict):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: _to_plain(v) for k, v in value.items()}
    return value


def _closest(key: str, valid: Iterable[str]) -> str:
    valid = list(valid)
    matches = difflib.get_close_matches(key, valid, n=1, cutoff=0.0)
    return matches[0] if matches else valid[0]


def _check_type(key: str, value: Any, expected: Any) -> None:
    if isinstance(expected, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(expected, bool)
    elif isinstance(expected, float):
        ok = isinstance(value, int | float)
    elif isinstance(expected, int):
        ok = isinstance(value, int)
    elif isinstance(expected, tuple | list):
        ok = isinstance(value, tuple | list)
    else:
        ok = isinstance(value, type(expected))
    if not ok:
        raise ValueError(
            f"config key {key!r} expects {type(expected).__name__} (default {expected!r}), "
            f"got {type(value).__name__} {value!r}"
        )


def validate(config: Mapping[str, Any]) -> None:
    """Raise ValueError on an unknown key, a missing key or a value of the wrong type."""
    _check_family_and_parts(config)
    schema = flatten(load_default())
    given = flatten(config)
    for key, value in given.items():
        if key.startswith(SWEEP_PREFIX):
            check_sweep_key(config, key.removeprefix(SWEEP_PREFIX), value)
            continue
        if key not in schema:
            raise ValueError(unknown_key_message(key, schema))
        if key in OPEN_MAPPINGS:
            _validate_open_mapping(key, value)
        elif key in FREE_MAPPINGS:
            if not isinstance(value, Mapping):
                raise ValueError(f"config key {key!r} expects a mapping of keyword settings, got {value!r}")
        else:
            _check_type(key, value, schema[key])
    blocks = tuple(f"{path}." for path in family_blocks())  # a family's block may be left out: its defaults
    missing = sorted(k for k in set(schema) - set(given) if not k.startswith(blocks))
    if missing:
        raise ValueError(
            f"config is missing keys {missing}; start experiments from aejax.config.load_default()"
        )


def unknown_key_message(key: str, schema: Iterable[str]) -> str:
    """The error for a key the schema lacks: where it moved to, or the closest valid key."""
    if key in MOVED_KEYS:
        return (
            f"config key {key!r} moved to {MOVED_KEYS[key]!r} (a family's own settings live in its block "
            "model.<family>)"
        )
    return f"unknown config key {key!r}; did you mean {_closest(key, schema)!r}?"


def _check_family_and_parts(config: Mapping[str, Any]) -> None:
    """The family must resolve (a registered name or an import path) and parts named by import path must take
    the settings given for them."""
    model = config.get("model") if isinstance(config, Mapping | ml_collections.ConfigDict) else None
    if not model or not isinstance(model.get("family"), str):
        return  # the schema check names what is missing or mistyped
    from aejax.families import get_family  # imports JAX (see family_blocks)
    from aejax.models.registry import check_part

    get_family(model["family"])
    for role in ("encoder", "decoder"):
        path, settings = model.get(role), model.get(f"{role}_settings") or {}
        if isinstance(path, str) and ":" in path:
            check_part(path, role, _to_plain(settings))


def sweep_values(config: Mapping[str, Any]) -> dict[str, list]:
    """The swept config paths and their values (`config.sweep` flattened), checked; empty for a single run."""
    values = {}
    for path, value in flatten(config.get("sweep") or {}, SWEEP_PREFIX).items():
        key = path.removeprefix(SWEEP_PREFIX)
        check_sweep_key(config, key, value)
        values[key] = list(value)
    return values


def check_sweep_key(config: Mapping[str, Any], key: str, value: Any) -> None:
    """Raise ValueError unless `key` is sweepable in `config` and `value` a non-empty list of numbers."""
    match = SWEEP_WEIGHT.match(key)
    weight_of = match.group(1) if match else None
    if key not in ("seed", "train.learning_rate") and weight_of is None:
        raise ValueError(
            f"sweep key {key!r} cannot vary inside one compiled program; sweepable: {', '.join(SWEEPABLE)}"
        )
    if weight_of is not None and weight_of not in config["loss"]["regularizers"]:
        raise ValueError(f"sweep key {key!r}: no regularizer labelled {weight_of!r} in loss.regularizers")
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple) or not value:
        raise ValueError(f"sweep key {key!r} needs a non-empty list of values, got {value!r}")
    kind = int if key == "seed" else float
    for item in value:
        if (
            isinstance(item, bool)
            or not isinstance(item, int | float)
            or (kind is int and not isinstance(item, int))
        ):
            raise ValueError(
                f"sweep key {key!r} takes {kind.__name__} values, got {item!r} in {list(value)!r}"
            )


def _validate_open_mapping(key: str, entries: Mapping[str, Any]) -> None:
    fields = OPEN_MAPPINGS[key]
    if not isinstance(entries, Mapping):
        raise ValueError(f"{key} must be a mapping label -> {{fn, weight, ...settings}}, got {entries!r}")
    for label, entry in entries.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"{key}.{label} must be a mapping with keys {sorted(fields)}, got {entry!r}")
        # Fields other than fn/weight are settings of the regularizer: keyword arguments its function takes.
        optional = OPTIONAL_FIELDS.get(key, {})
        for field, kind in optional.items():
            if field in entry:
                _check_type(f"{key}.{label}.{field}", entry[field], kind())
        extra = [field for field in entry if field not in fields and field not in optional]
        fn = entry.get("fn")
        if extra and isinstance(fn, str):
            from aejax.objectives.regularizers import regularizer_settings  # imports JAX: only when needed

            accepted = regularizer_settings(fn)
        else:
            accepted = []
        for field in extra:
            if accepted is not None and field not in accepted:
                takes = f" ({fn!r} takes settings {accepted or 'none'})" if isinstance(fn, str) else ""
                raise ValueError(
                    f"unknown config key '{key}.{label}.{field}'; did you mean "
                    f"'{key}.{label}.{_closest(field, [*fields, *optional, *accepted])}'?{takes}"
                )
        for field, kind in fields.items():
            if field not in entry:
                raise ValueError(f"{key}.{label} is missing {field!r} (expected keys {sorted(fields)})")
            _check_type(f"{key}.{label}.{field}", entry[field], kind())


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_overrides(config: ml_collections.ConfigDict, overrides: Iterable[str]) -> ml_collections.ConfigDict:
    """Apply `a.b=value` strings (the `--config.a.b=value` flags); values are Python literals or strings."""
    schema = flatten(load_default())
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key.path=value")
        key, text = item.split("=", 1)
        key = key.strip()
        value = _parse_value(text)
        if key.startswith(SWEEP_PREFIX):  # a list of values for one swept key, checked by validate
            set_path(config, key, tuple(value) if isinstance(value, list) else value)
            continue
        open_parent = next((m for m in (*OPEN_MAPPINGS, *FREE_MAPPINGS) if key.startswith(m + ".")), None)
        if open_parent is None and key not in schema:
            raise ValueError(unknown_key_message(key, schema))
        if open_parent in FREE_MAPPINGS:
            pass  # a part's keyword setting: checked against the part's fields by validate
        elif open_parent is not None:
            field_type = OPEN_MAPPINGS[open_parent].get(key.rsplit(".", 1)[-1])
            if field_type is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
        else:
            expected = schema[key]
            if isinstance(expected, str) and not isinstance(value, str):
                value = text  # 'model.activation=1' style overrides of string keys stay strings
            if isinstance(expected, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if isinstance(expected, tuple) and isinstance(value, list | int | float):
                value = tuple(value) if isinstance(value, list) else (value,)
            _check_type(key, value, expected)
        set_path(config, key, value)
    validate(config)
    return config


def set_path(config: ml_collections.ConfigDict, key: str, value: Any) -> None:
    """Set the dotted `key`, creating sections on the way."""
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
        if part not in node:
            node[part] = ml_collections.ConfigDict()
        node = node[part]
    node[leaf] = value


def to_json(config: ml_collections.ConfigDict) -> str:
    return json.dumps(_to_plain(config), indent=2, sort_keys=True)


def read_config_file(path: str | Path) -> ml_collections.ConfigDict:
    """A workdir's config.json as a config; a damaged file is a RunFileError naming it."""
    path = Path(path)
    return from_json(path.read_bytes(), source=repr(str(path)))


def from_json(text: str | bytes, source: str = "the config JSON") -> ml_collections.ConfigDict:
    """Rebuild a config from `to_json` output; lists become tuples as in the schema. Text that is not a JSON
    object is a RunFileError naming `source`."""
    from aejax.training.run_files import RunFileError, parse_json  # imports JAX: only when a run is read

    expected = "one JSON object of config keys, as aejax writes it"
    raw = parse_json(text, source, expected)
    if not isinstance(raw, dict):
        raise RunFileError(
            f"{source} holds a JSON {type(raw).__name__}; expected {expected}. It is damaged: restore it from "
            "a copy, or train into a new workdir"
        )
    config = load_default()
    for key, value in flatten(raw).items():
        key = MOVED_KEYS.get(key, key)  # a run written before families had their own blocks
        if key in OPEN_MAPPINGS or key in FREE_MAPPINGS:
            config_node = config
            *parents, leaf = key.split(".")
            for part in parents:
                config_node = config_node[part]
            config_node[leaf] = ml_collections.ConfigDict(value)
            continue
        if isinstance(value, list):
            value = tuple(value)
        set_path(config, key, value)
    validate(config)
    return config


def changed_keys(old: ml_collections.ConfigDict, new: ml_collections.ConfigDict) -> list[str]:
    """Keys whose values differ between two configs, excluding ones a resumed run may change and keys added to
    the defaults after the old run was written that still hold their default value."""
    a, b = flatten(old), flatten(new)
    defaults = flatten(load_default())
    keys = sorted(set(a) | set(b))
    normalize = lambda v: list(v) if isinstance(v, tuple) else v
    return [
        k
        for k in keys
        if normalize(a.get(k)) != normalize(b.get(k))
        and not (k not in a and k in defaults and normalize(b.get(k)) == normalize(defaults[k]))
        and not any(k == c or (c.endswith(".") and k.startswith(c)) for c in RESUMABLE_CHANGES)
    ]
