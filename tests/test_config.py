"""Configs: the default schema, experiment files, unknown keys, types, overrides, JSON round trips."""

import json

import ml_collections
import pytest
from conftest import REPO

from aejax.config import (
    CONFIGS_DIR,
    DEFAULT_CONFIG_FILE,
    apply_overrides,
    changed_keys,
    config_names,
    flatten,
    from_json,
    get_config,
    load_default,
    to_json,
    validate,
)

EXPERIMENT_FILES = sorted(p for p in CONFIGS_DIR.glob("*.py") if not p.stem.startswith("_"))


# --------------------------------------------------------------------------- loading


def test_default_validates_and_is_a_fresh_copy():
    config = load_default()
    validate(config)
    assert config.data.source == "digits"
    assert config.train.epochs == 20
    assert config.model.hidden == (128,)
    config.train.epochs = 99
    assert load_default().train.epochs == 20  # each call builds a new config


def test_experiment_files_exist():
    names = {p.stem for p in EXPERIMENT_FILES}
    assert {"default", "ae_digits", "ae_mnist"} <= names
    assert config_names() == sorted(names)


@pytest.mark.parametrize("name", [p.stem for p in EXPERIMENT_FILES])
def test_checkout_experiments_re_export_the_packaged_configs(name):
    """experiments/<name>.py, the copy a checkout reads, loads the same config as the packaged name."""
    path = REPO / "experiments" / f"{name}.py"
    assert get_config(path).to_dict() == get_config(name).to_dict()
    assert f"aejax/configs/{name}.py" in path.read_text()
    assert sorted(p.stem for p in (REPO / "experiments").glob("*.py")) == config_names()


@pytest.mark.parametrize("path", EXPERIMENT_FILES, ids=lambda p: p.stem)
def test_every_experiment_file_loads_and_validates(path):
    config = get_config(path)
    assert isinstance(config, ml_collections.ConfigDict)
    validate(config)
    assert set(flatten(config)) == set(flatten(load_default()))  # declares exactly the schema keys
    assert get_config(str(path)).to_dict() == config.to_dict()


def test_get_config_by_name():
    config = get_config("ae_digits")
    assert config.data.source == "digits"
    assert config.model.latent_dim == 12
    assert config.model.hidden == (256, 128)
    assert get_config("default").to_dict() == load_default().to_dict()
    assert get_config(DEFAULT_CONFIG_FILE).to_dict() == load_default().to_dict()


def test_unknown_config_name_lists_known_ones():
    with pytest.raises(
        FileNotFoundError, match=r"no config named 'ae_digts'; known configs: .*ae_digits.*default"
    ):
        get_config("ae_digts")
    with pytest.raises(FileNotFoundError, match=r"no config named 'somewhere/ae_digits'"):
        get_config("somewhere/ae_digits")  # a name is a packaged config, not a path without .py


def test_config_name_from_any_directory(tmp_path, monkeypatch):
    """Names resolve inside the package, also where a directory (a workdir) has the config's name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ae_digits").mkdir()
    assert get_config("ae_digits").model.latent_dim == 12


def test_missing_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_config(tmp_path / "nope.py")


def test_config_file_without_get_config(tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("X = 1\n")
    with pytest.raises(ValueError, match=r"defines no get_config\(\) function"):
        get_config(path)


def test_config_file_with_a_typo_is_rejected(tmp_path):
    path = tmp_path / "typo.py"
    path.write_text(
        "from aejax.config import load_default\n\n"
        "def get_config():\n"
        "    config = load_default()\n"
        "    config.model.latent_dims = 8\n"
        "    return config\n"
    )
    with pytest.raises(
        ValueError, match=r"unknown config key 'model.latent_dims'; did you mean 'model.latent_dim'\?"
    ):
        get_config(path)


# --------------------------------------------------------------------------- unknown keys


def test_misspelled_key_names_closest_valid_key():
    config = load_default()
    config.unlock()
    config.train.epoch = 3
    with pytest.raises(ValueError, match=r"unknown config key 'train.epoch'; did you mean 'train.epochs'\?"):
        validate(config)


def test_misspelled_key_in_a_fresh_configdict():
    config = ml_collections.ConfigDict(load_default().to_dict())
    config.train.epoch = 3
    with pytest.raises(ValueError, match=r"did you mean 'train.epochs'\?"):
        validate(config)
    plain = load_default().to_dict()
    plain["data"]["val_fractoin"] = 0.2
    with pytest.raises(ValueError, match=r"'data.val_fractoin'; did you mean 'data.val_fraction'\?"):
        validate(plain)


def test_misspelled_override_names_closest_valid_key():
    config = load_default()
    with pytest.raises(ValueError, match=r"unknown config key 'train.epoch'; did you mean 'train.epochs'\?"):
        apply_overrides(config, ["train.epoch=3"])
    assert "epoch" not in config.train  # nothing was written
    with pytest.raises(ValueError, match=r"did you mean 'model.latent_dim'\?"):
        apply_overrides(load_default(), ["modle.latent_dim=4"])


# --------------------------------------------------------------------------- types


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("train.epochs", "ten"),
        ("train.epochs", 3.5),
        ("train.epochs", True),
        ("train.learning_rate", "fast"),
        ("train.progress", 1),
        ("model.hidden", 64),
        ("model.activation", 3),
        ("seed", None),
    ],
)
def test_wrong_types_are_rejected(key, value):
    plain = load_default().to_dict()
    *parents, leaf = key.split(".")
    node = plain
    for part in parents:
        node = node[part]
    node[leaf] = value
    with pytest.raises(ValueError, match=rf"config key '{key}' expects"):
        validate(plain)


def test_int_is_accepted_for_float_keys():
    plain = load_default().to_dict()
    plain["train"]["learning_rate"] = 1
    validate(plain)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=ten", r"'train.epochs' expects int \(default 20\), got str 'ten'"),
        ("train.epochs=2.5", r"'train.epochs' expects int \(default 20\), got float 2.5"),
        ("train.progress=1", r"'train.progress' expects bool"),
        ("train.progress=yes", r"'train.progress' expects bool"),
        ("train.learning_rate=fast", r"'train.learning_rate' expects float"),
        ("model.hidden=wide", r"'model.hidden' expects tuple"),
    ],
)
def test_overrides_with_wrong_types(override, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(load_default(), [override])


def test_overrides_parse_values():
    config = apply_overrides(
        load_default(),
        [
            "train.epochs=7",
            "train.learning_rate=3e-4",
            "train.weight_decay=1",
            "train.progress=False",
            "model.use_bias=True",
            "model.hidden=(64, 32)",
            "model.decoder_hidden=[16]",
            "model.dropout=0.25",
            "model.activation=gelu",
            "model.output_activation='identity'",
            "model.kernel_init=1",
            "data.source=tfds:mnist",
            "data.path=/tmp/some=where",
            " seed =5",
        ],
    )
    assert config.train.epochs == 7 and type(config.train.epochs) is int
    assert config.train.learning_rate == pytest.approx(3e-4)
    assert config.train.weight_decay == 1.0 and type(config.train.weight_decay) is float  # int -> float
    assert config.train.progress is False
    assert config.model.use_bias is True
    assert config.model.hidden == (64, 32)
    assert config.model.decoder_hidden == (16,)
    assert config.model.dropout == 0.25
    assert config.model.activation == "gelu"
    assert config.model.output_activation == "identity"
    assert config.model.kernel_init == "1"  # string keys keep the text
    assert config.data.source == "tfds:mnist"
    assert config.data.path == "/tmp/some=where"  # only the first '=' splits
    assert config.seed == 5
    validate(config)


def test_override_single_int_to_tuple_and_empty_tuple():
    config = apply_overrides(load_default(), ["model.hidden=256", "model.decoder_hidden=()"])
    assert config.model.hidden == (256,)
    assert config.model.decoder_hidden == ()


def test_override_without_equals_sign():
    with pytest.raises(ValueError, match=r"override 'train.epochs' must look like key.path=value"):
        apply_overrides(load_default(), ["train.epochs"])


# --------------------------------------------------------------------------- open mapping: loss.regularizers


def test_valid_regularizer_entry():
    config = load_default()
    config.loss.regularizers = {"l2": {"fn": "code_l2", "weight": 0.1}}
    validate(config)
    assert flatten(config)["loss.regularizers"] == {"l2": {"fn": "code_l2", "weight": 0.1}}


def test_regularizers_through_overrides():
    config = apply_overrides(
        load_default(), ["loss.regularizers.l2.fn=code_l2", "loss.regularizers.l2.weight=0.5"]
    )
    assert config.loss.regularizers.l2.fn == "code_l2"
    assert config.loss.regularizers.l2.weight == 0.5
    with pytest.raises(ValueError, match=r"loss.regularizers.l1 is missing 'weight'"):
        apply_overrides(load_default(), ["loss.regularizers.l1.fn=code_l1"])


def test_regularizer_missing_weight():
    config = load_default()
    config.loss.regularizers = {"l2": {"fn": "code_l2"}}
    with pytest.raises(
        ValueError, match=r"loss.regularizers.l2 is missing 'weight' \(expected keys \['fn', 'weight'\]\)"
    ):
        validate(config)


def test_regularizer_unknown_field_names_closest():
    config = load_default()
    config.loss.regularizers = {"l2": {"fn": "code_l2", "wieght": 0.1}}
    with pytest.raises(
        ValueError,
        match=r"unknown config key 'loss.regularizers.l2.wieght'; "
        r"did you mean 'loss.regularizers.l2.weight'\?",
    ):
        validate(config)
    with pytest.raises(ValueError, match=r"did you mean 'loss.regularizers.l2.weight'\?"):
        apply_overrides(
            load_default(), ["loss.regularizers.l2.fn=code_l2", "loss.regularizers.l2.wieght=0.1"]
        )


def test_regularizer_wrong_types():
    config = load_default()
    config.loss.regularizers = {"l2": {"fn": "code_l2", "weight": "big"}}
    with pytest.raises(ValueError, match=r"'loss.regularizers.l2.weight' expects float"):
        validate(config)
    config.loss.regularizers = {"l2": {"fn": 3, "weight": 0.1}}
    with pytest.raises(ValueError, match=r"'loss.regularizers.l2.fn' expects str"):
        validate(config)
    plain = load_default().to_dict()
    plain["loss"]["regularizers"] = {"l2": "code_l2"}
    with pytest.raises(ValueError, match=r"loss.regularizers.l2 must be a mapping"):
        validate(plain)


# --------------------------------------------------------------------------- JSON and changed keys


def test_json_round_trip():
    config = apply_overrides(
        load_default(),
        [
            "model.hidden=(64, 32)",
            "model.decoder_hidden=()",
            "train.learning_rate=0.01",
            "data.source=npz",
            "loss.regularizers.l2.fn=code_l2",
            "loss.regularizers.l2.weight=0.1",
        ],
    )
    text = to_json(config)
    assert json.loads(text)["model"]["hidden"] == [64, 32]
    back = from_json(text)
    assert isinstance(back, ml_collections.ConfigDict)
    assert back.to_dict() == config.to_dict()
    assert back.model.hidden == (64, 32) and isinstance(back.model.hidden, tuple)
    assert back.model.decoder_hidden == ()
    assert back.loss.regularizers.l2.weight == 0.1
    assert changed_keys(config, back) == []
    assert to_json(back) == text


def test_from_json_rejects_unknown_keys():
    raw = json.loads(to_json(load_default()))
    raw["train"]["epoch"] = 3
    with pytest.raises(ValueError, match=r"did you mean 'train.epochs'\?"):
        from_json(json.dumps(raw))


def test_changed_keys_ignores_resumable_keys():
    old = load_default()
    new = apply_overrides(
        load_default(),
        [
            "train.epochs=50",
            "train.progress=False",
            "train.eval_batch_size=64",
            "eval.plots=False",
            "eval.num_images=4",
            "checkpoint.max_to_keep=1",
            "checkpoint.every_steps=100",
            "data.path=/elsewhere",
        ],
    )
    assert changed_keys(old, new) == []


def test_changed_keys_reports_model_changes():
    old = load_default()
    new = apply_overrides(load_default(), ["model.latent_dim=8", "train.epochs=50", "train.batch_size=16"])
    assert changed_keys(old, new) == ["model.latent_dim", "train.batch_size"]
    assert changed_keys(new, old) == ["model.latent_dim", "train.batch_size"]
    reg = apply_overrides(
        load_default(), ["loss.regularizers.a.fn=code_l2", "loss.regularizers.a.weight=0.1"]
    )
    assert changed_keys(old, reg) == ["loss.regularizers"]


def test_changed_keys_treats_lists_and_tuples_alike():
    old = load_default()
    new = from_json(to_json(old))
    plain = json.loads(to_json(old))  # hidden is a list here
    assert changed_keys(old, new) == []
    assert changed_keys(old, ml_collections.ConfigDict(plain)) == []


# --------------------------------------------------------------------------- missing keys


def test_config_missing_a_section():
    config = ml_collections.ConfigDict()
    for section, values in load_default().to_dict().items():
        if section != "loss":
            config[section] = values
    with pytest.raises(
        ValueError,
        match=r"config is missing keys \['loss.augment.kind', .*'loss.corruption.clip', .*'loss.reconstruction', .*'loss.regularizers'\]",
    ):
        validate(config)


def test_config_missing_one_key():
    plain = load_default().to_dict()
    del plain["train"]["batch_size"]
    with pytest.raises(ValueError, match=r"missing keys \['train.batch_size'\].*load_default\(\)"):
        validate(plain)


def test_config_from_scratch():
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.model = ml_collections.ConfigDict({"latent_dim": 4})
    with pytest.raises(ValueError, match=r"config is missing keys \[.*'data.source'.*'train.epochs'"):
        validate(config)
