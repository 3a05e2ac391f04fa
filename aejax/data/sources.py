"""Named data sources: digits (embedded), mnist (local IDX dir), npz, tfds:<name> (TF-free data_source)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aejax.data.dataset import Dataset, split_pool
from aejax.data.idx import read_idx


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """Plain-value description of where data comes from (the `data` section of a config)."""

    source: str = "digits"
    path: str = ""
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    max_examples: int = 0
    flatten: bool = True
    as_sequences: bool = False
    sequence_length: int = 64


def _cut(x: np.ndarray, y: np.ndarray | None, max_examples: int):
    if max_examples and max_examples < x.shape[0]:
        return x[:max_examples], (None if y is None else y[:max_examples])
    return x, y


def _from_pool(spec: SourceSpec, name: str, x, y, image_shape=None, value_range=(0.0, 1.0)) -> Dataset:
    x, y = _cut(x, y, spec.max_examples)
    parts = split_pool(x, y, spec.val_fraction, spec.test_fraction, spec.split_seed)
    return Dataset(**parts, name=name, image_shape=image_shape, value_range=value_range)


def load_digits(spec: SourceSpec) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images, offline), scaled from 0..16 to [0, 1]."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    return _from_pool(spec, "digits", x, bunch.target.astype(np.int32))


_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def load_mnist(spec: SourceSpec) -> Dataset:
    """MNIST from a directory of standard IDX files.

    With both the train and t10k files: train (val carved from it) and t10k as test. With only one pair
    (e.g. the 10k test files): that pool split by val_fraction/test_fraction.
    """
    if not spec.path:
        raise ValueError(
            "data.source='mnist' needs data.path: a directory holding the MNIST *-idx3-ubyte.gz files"
        )
    directory = Path(spec.path).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory {str(directory)!r} does not exist (data.path)")
    found = {}
    for split, (images, labels) in _MNIST_FILES.items():
        image_file, label_file = _find(directory, images), _find(directory, labels)
        if image_file is not None:
            if label_file is None:
                raise FileNotFoundError(
                    f"found {image_file.name} in {str(directory)!r} but not {labels}[.gz]"
                )
            found[split] = (read_idx(image_file), read_idx(label_file))
    if not found:
        expected = ", ".join(f"{a}.gz" for a, _ in _MNIST_FILES.values())
        raise FileNotFoundError(
            f"no MNIST IDX files in {str(directory)!r}; expected {expected} (with labels)"
        )
    arrays = {}
    for split, (images, labels) in found.items():
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(f"MNIST {split} files disagree: images {images.shape}, labels {labels.shape}")
        arrays[split] = ((images.astype(np.float32) / 255.0)[..., None], labels.astype(np.int32))
    if len(arrays) == 2:
        x, y = _cut(*arrays["train"], spec.max_examples)
        parts = split_pool(x, y, spec.val_fraction, 0.0, spec.split_seed)
        parts["x_test"], parts["y_test"] = arrays["test"]
        return Dataset(**parts, name="mnist")
    ((x, y),) = arrays.values()
    return _from_pool(spec, "mnist", x, y)


def load_npz(spec: SourceSpec) -> Dataset:
    """An .npz with x_train[/x_val/x_test/y_*] or one pool `x` (+ `y`) split by fractions; uint8 is /255."""
    path = Path(spec.path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"npz file {str(path)!r} does not exist (data.path)")
    loaded = np.load(path, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{str(path)!r} is not an .npz archive (save it with np.savez)")
    with loaded as archive:
        arrays = {k: archive[k] for k in archive.files}
    scale = lambda a: a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a
    if "x_train" in arrays:
        known = {f"{p}_{s}" for p in "xy" for s in ("train", "val", "test")}
        unknown = sorted(set(arrays) - known)
        if unknown:
            raise ValueError(f"{str(path)!r} has unexpected arrays {unknown}; expected {sorted(known)}")
        kwargs = {k: (scale(v) if k.startswith("x_") else v) for k, v in arrays.items()}
        x_train, y_train = _cut(kwargs.pop("x_train"), kwargs.pop("y_train", None), spec.max_examples)
        return Dataset(x_train=x_train, y_train=y_train, **kwargs, name=path.stem)
    if "x" in arrays:
        unknown = sorted(set(arrays) - {"x", "y"})
        if unknown:
            raise ValueError(
                f"{str(path)!r} has unexpected arrays {unknown} next to 'x'; expected only 'x' and 'y'"
            )
        return _from_pool(spec, path.stem, scale(arrays["x"]), arrays.get("y"))
    raise ValueError(
        f"{str(path)!r} holds {sorted(arrays)}; expected 'x_train' (+ x_val, x_test, y_*) or 'x' (+ 'y')"
    )


def load_tfds(spec: SourceSpec) -> Dataset:
    """`tfds:<name>` through tfds.data_source (no TensorFlow needed); uint8 images scaled by 1/255.

    Uses the dataset's own 'validation' and 'test' splits where it has them; otherwise carves them out of
    'train' by data.val_fraction / data.test_fraction.
    """
    import tensorflow_datasets as tfds

    name = spec.source.split(":", 1)[1]
    if not name:
        raise ValueError("data.source 'tfds:' needs a dataset name, e.g. 'tfds:mnist'")
    data_dir = spec.path or None
    try:
        declared = set(tfds.builder(name, data_dir=data_dir).info.splits.keys())
    except Exception as err:  # tfds raises many types; the message is what matters
        raise FileNotFoundError(f"unknown or unreadable tfds dataset {name!r}: {err}") from err
    declared = declared or {"train", "test"}  # mocked builders declare no splits
    if "train" not in declared:
        raise ValueError(f"tfds dataset {name!r} has no 'train' split (has {sorted(declared)})")

    def read(split: str):
        try:
            records = tfds.data_source(name, split=split, data_dir=data_dir)
        except Exception as err:
            raise FileNotFoundError(
                f"could not open tfds {name!r} split {split!r} (data_dir={data_dir}): {err}"
            ) from err
        n = len(records) if not spec.max_examples else min(len(records), spec.max_examples)
        rows = [records[i] for i in range(n)]
        key = "image" if "image" in rows[0] else next(k for k, v in rows[0].items() if np.ndim(v) >= 2)
        x = np.stack([np.asarray(r[key]) for r in rows])
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        y = np.asarray([r["label"] for r in rows], np.int32) if "label" in rows[0] else None
        return x, y

    x, y = read("train")
    has_val, has_test = "validation" in declared, "test" in declared
    parts = split_pool(
        x, y, 0.0 if has_val else spec.val_fraction, 0.0 if has_test else spec.test_fraction, spec.split_seed
    )
    if has_val:
        parts["x_val"], parts["y_val"] = read("validation")
    if has_test:
        parts["x_test"], parts["y_test"] = read("test")
    return Dataset(**parts, name=f"tfds:{name}")


def load_sines(spec: SourceSpec) -> Dataset:
    """Generated sums of sines with noise (aejax.data.sequences.sines), seeded by split_seed, no labels."""
    from aejax.data.sequences import sines

    if spec.sequence_length < 2:
        raise ValueError(f"data.sequence_length must be >= 2, got {spec.sequence_length}")
    n = spec.max_examples or 5000
    x = sines(n, spec.sequence_length, seed=spec.split_seed)
    return _from_pool(spec, "sines", x, None, value_range=None)


def _load_factor_images(spec: SourceSpec, name: str, data) -> Dataset:
    """A seeded subsample (split_seed) of distinct factor combinations of a GroundTruthData generator,
    max_examples of them (20,000 if 0, capped at every combination), labelled by the `shape` factor."""
    n = min(spec.max_examples or 20000, data.num_combinations)
    indices = data.sample_distinct_factors(n, np.random.default_rng(spec.split_seed))
    labels = indices[:, data.factor_names.index("shape")].astype(np.int32)
    return _from_pool(spec, name, data.render(indices), labels)


def load_dsprites(spec: SourceSpec) -> Dataset:
    """Generated dSprites (aejax.data.factors.DSprites): (N, 64, 64, 1) binary images, y = shape (0..2)."""
    from aejax.data.factors import DSprites

    return _load_factor_images(spec, "dsprites", DSprites())


def load_color_shapes(spec: SourceSpec) -> Dataset:
    """Generated coloured 3-D-like scenes (aejax.data.factors.ColorShapes): (N, 32, 32, 3) RGB, y = shape."""
    from aejax.data.factors import ColorShapes

    return _load_factor_images(spec, "color_shapes", ColorShapes())


def _load_rows_in_memory(spec: SourceSpec) -> Dataset:
    """npy_dir / images read whole (data.pipeline='memory'): the streamed splits' rows, in the same order."""
    from aejax.data.streamed import open_streamed

    return open_streamed(dataclasses.replace(spec, flatten=False)).in_memory()


SOURCES: dict[str, Callable[[SourceSpec], Dataset]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "npz": load_npz,
    "sines": load_sines,
    "dsprites": load_dsprites,
    "color_shapes": load_color_shapes,
}


def load_dataset(spec: SourceSpec) -> Dataset:
    """Load the configured source, then flatten examples when `spec.flatten`."""
    if spec.source.startswith("tfds:"):
        dataset = load_tfds(spec)
    elif spec.source == "arrays":
        raise ValueError("data.source='arrays' means the data is passed in: call aejax.fit(config, data=...)")
    elif spec.source in SOURCES:
        dataset = SOURCES[spec.source](spec)
    elif spec.source in ("npy_dir", "images"):  # the streamable directories, here read whole
        dataset = _load_rows_in_memory(spec)
    else:
        valid = ", ".join([*sorted(SOURCES), "tfds:<name>", "arrays"])
        raise ValueError(f"unknown data.source {spec.source!r}; valid: {valid}, npy_dir, images")
    if spec.as_sequences:
        if spec.flatten:
            raise ValueError("data.as_sequences=True reads images row by row: set data.flatten=False too")
        return dataset.as_sequences()
    return dataset.flattened() if spec.flatten else dataset
