"""Data: from_arrays validation, split_pool, IDX files, and the digits / mnist / npz / tfds sources."""

import gzip

import chex
import numpy as np
import pytest
from conftest import SHARED_MNIST

from aejax.data import (
    SourceSpec,
    from_arrays,
    load_dataset,
    read_idx,
    split_pool,
    write_idx,
)


def _x(n=8, d=4, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, d)).astype(np.float32)


# --------------------------------------------------------------------------- from_arrays: bad inputs


def test_rank_one_array_is_rejected():
    with pytest.raises(ValueError, match=r"x_train must be batch first.*shape \(8,\)"):
        from_arrays(np.linspace(0, 1, 8, dtype=np.float32))


def test_mismatched_example_shapes_between_splits():
    with pytest.raises(ValueError, match=r"x_val has per-example shape \(5,\) but x_train has \(4,\)"):
        from_arrays(_x(d=4), _x(d=5))
    with pytest.raises(ValueError, match=r"x_test has per-example shape \(2, 2\) but x_train has \(4,\)"):
        from_arrays(_x(d=4), None, _x(d=4).reshape(8, 2, 2))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_report_count_and_first_index(bad):
    x = _x()
    x[3, 1] = bad
    x[5, 0] = bad
    x[5, 2] = bad
    with pytest.raises(
        ValueError, match=r"x_train contains 3 non-finite values .* in 2 examples, first at index 3"
    ):
        from_arrays(x)


def test_non_finite_in_val_names_the_split():
    x_val = _x(4)
    x_val[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"x_val contains 1 non-finite values.*first at index 2"):
        from_arrays(_x(), x_val)


def test_uint8_is_rejected_with_a_divide_by_255_hint():
    x = np.zeros((4, 3), np.uint8)
    with pytest.raises(ValueError, match=r"x_train has dtype uint8.*/ 255"):
        from_arrays(x)


@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_non_float_dtypes_are_rejected(dtype):
    x = np.zeros((4, 3), dtype)
    with pytest.raises(
        ValueError, match=rf"x_train has dtype {np.dtype(dtype)}; expected a floating-point"
    ) as err:
        from_arrays(x)
    assert "255" not in str(err.value)  # the /255 hint is only for 8-bit images


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_empty_split_is_rejected(split):
    arrays = {"x_train": _x(), "x_val": _x(4), "x_test": _x(4)}
    arrays[f"x_{split}"] = np.zeros((0, 4), np.float32)
    with pytest.raises(ValueError, match=rf"x_{split} is empty \(shape \(0, 4\)\)"):
        from_arrays(arrays["x_train"], arrays["x_val"], arrays["x_test"])


def test_zero_sized_feature_axis_is_rejected():
    with pytest.raises(ValueError, match="zero-sized feature axis"):
        from_arrays(np.zeros((4, 0), np.float32))


def test_values_outside_declared_range():
    x = _x()
    x[0, 0] = 1.5
    x[1, 1] = -0.25
    with pytest.raises(ValueError, match=r"values in \[-0\.25, 1\.5\], outside the declared range \[0, 1\]"):
        from_arrays(x)
    with pytest.raises(ValueError, match=r"outside the declared range \[-1, 1\]"):
        from_arrays(x, value_range=(-1, 1))
    below = _x()
    below[2, 3] = -0.5
    with pytest.raises(ValueError, match=r"x_val has values in \[-0\.5, .*outside the declared range"):
        from_arrays(_x(), below)
    data = from_arrays(x, value_range=None)
    np.testing.assert_array_equal(data.x_train, x)
    assert data.value_range is None
    assert from_arrays(x, value_range=[-1, 2]).value_range == (-1, 2)


def test_labels_with_wrong_length():
    with pytest.raises(ValueError, match=r"y_train must have shape \(8,\) to match its inputs, got \(7,\)"):
        from_arrays(_x(), y_train=np.zeros(7, np.int32))
    with pytest.raises(ValueError, match=r"y_val must have shape \(4,\).*got \(4, 1\)"):
        from_arrays(_x(), _x(4), y_val=np.zeros((4, 1), np.int32))


@pytest.mark.parametrize("dtype", [np.float32, np.bool_])
def test_labels_must_be_integers(dtype):
    with pytest.raises(
        ValueError, match=rf"y_train must hold integer class labels, got dtype {np.dtype(dtype)}"
    ):
        from_arrays(_x(), y_train=np.zeros(8, dtype))


@pytest.mark.parametrize("split", ["val", "test"])
def test_labels_without_inputs(split):
    with pytest.raises(ValueError, match=rf"y_{split} given without x_{split}"):
        from_arrays(_x(), **{f"y_{split}": np.zeros(4, np.int32)})


def test_missing_x_train():
    with pytest.raises(ValueError, match="x_train is required"):
        from_arrays(None, _x())


def test_image_shape_must_hold_one_example():
    with pytest.raises(ValueError, match=r"image_shape \(3, 3\) does not hold one example"):
        from_arrays(_x(d=4), image_shape=(3, 3))


# --------------------------------------------------------------------------- from_arrays: good inputs


def test_float64_is_accepted_and_stored_as_float32():
    x64 = np.random.default_rng(1).uniform(size=(10, 2, 3))
    labels = np.arange(10, dtype=np.int64)
    data = from_arrays(x64, x64[:4], x64[:3], y_train=labels, y_test=labels[:3])
    for x in (data.x_train, data.x_val, data.x_test):
        chex.assert_type(x, np.float32)
    chex.assert_type([data.y_train, data.y_test], np.int32)
    assert data.y_val is None
    np.testing.assert_allclose(data.x_train, x64, rtol=1e-6)
    np.testing.assert_array_equal(data.y_train, labels)
    assert data.input_shape == (2, 3)
    assert data.display_shape == (2, 3)


def test_flattened_gives_vectors_and_keeps_display_shape():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(6, 4, 5, 1)).astype(np.float32)
    y = np.arange(6)
    data = from_arrays(x, x[:2], x[:3], y_train=y, name="imgs")
    flat = data.flattened()
    chex.assert_shape([flat.x_train, flat.x_val, flat.x_test], [(6, 20), (2, 20), (3, 20)])
    assert flat.input_shape == (20,)
    assert flat.image_shape == (4, 5, 1)
    assert flat.display_shape == (4, 5, 1)
    np.testing.assert_array_equal(flat.x_train, x.reshape(6, 20))
    np.testing.assert_array_equal(flat.y_train, y)
    assert flat.name == "imgs"
    # Already-flat data with a declared image shape keeps it; flattening twice is a no-op.
    declared = from_arrays(x.reshape(6, 20), image_shape=(4, 5))
    assert declared.flattened().image_shape == (4, 5)
    assert declared.flattened().display_shape == (4, 5)
    assert flat.flattened().display_shape == (4, 5, 1)


def test_split_accessor():
    data = from_arrays(_x(), _x(4), y_train=np.arange(8))
    x, y = data.split("train")
    assert x is data.x_train and y is data.y_train
    assert data.split("test") == (None, None)
    with pytest.raises(ValueError, match="unknown split 'validation'; valid: train, val, test"):
        data.split("validation")


# --------------------------------------------------------------------------- split_pool


def test_split_pool_sizes_disjoint_and_covering():
    x = np.arange(100, dtype=np.float32)[:, None]
    y = np.arange(100)
    parts = split_pool(x, y, 0.2, 0.1, seed=0)
    assert [parts[f"x_{s}"].shape[0] for s in ("train", "val", "test")] == [70, 20, 10]
    ids = {s: parts[f"y_{s}"] for s in ("train", "val", "test")}
    for s in ids:
        np.testing.assert_array_equal(parts[f"x_{s}"][:, 0], ids[s])  # x and y stay paired
    all_ids = np.concatenate(list(ids.values()))
    assert len(set(all_ids.tolist())) == 100  # disjoint
    np.testing.assert_array_equal(np.sort(all_ids), y)  # covering
    assert not np.array_equal(ids["train"], np.sort(ids["train"]))  # shuffled


def test_split_pool_is_deterministic_per_seed():
    x = np.arange(50, dtype=np.float32)[:, None]
    a = split_pool(x, None, 0.2, 0.2, seed=3)
    b = split_pool(x, None, 0.2, 0.2, seed=3)
    c = split_pool(x, None, 0.2, 0.2, seed=4)
    for s in ("train", "val", "test"):
        np.testing.assert_array_equal(a[f"x_{s}"], b[f"x_{s}"])
        assert a[f"y_{s}"] is None
    assert not np.array_equal(a["x_val"], c["x_val"])


def test_split_pool_zero_fractions_leave_splits_out():
    x = _x(10)
    parts = split_pool(x, np.arange(10), 0.0, 0.3, seed=0)
    assert parts["x_val"] is None and parts["y_val"] is None
    assert parts["x_test"].shape == (3, 4)
    assert parts["x_train"].shape == (7, 4)


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0.1), (0.1, 1.0), (0.5, 0.5), (0.7, 0.4), (1.0, 0.0)])
def test_split_pool_bad_fractions(val, test):
    with pytest.raises(ValueError, match=r"must be in \[0, 1\) and sum to less than 1"):
        split_pool(_x(10), None, val, test, seed=0)


# --------------------------------------------------------------------------- digits


def test_digits_source():
    data = load_dataset(SourceSpec())
    assert data.name == "digits"
    chex.assert_shape([data.x_train, data.x_val, data.x_test], [(1437, 64), (180, 64), (180, 64)])
    chex.assert_shape([data.y_train, data.y_val, data.y_test], [(1437,), (180,), (180,)])
    chex.assert_type([data.x_train, data.y_train], [np.float32, np.int32])
    assert data.display_shape == (8, 8)
    for x in (data.x_train, data.x_val, data.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0
    assert data.x_train.max() == 1.0
    assert set(np.unique(data.y_train).tolist()) == set(range(10))
    unflat = load_dataset(SourceSpec(flatten=False))
    assert unflat.input_shape == (8, 8)
    np.testing.assert_array_equal(unflat.x_test.reshape(180, 64), data.x_test)


# --------------------------------------------------------------------------- IDX files


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    array = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    path = tmp_path / name
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, array)
    labels = np.arange(9, dtype=np.uint8)
    write_idx(tmp_path / f"l-{name}", labels)
    np.testing.assert_array_equal(read_idx(tmp_path / f"l-{name}"), labels)
    raw = path.read_bytes()
    assert raw[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\x00\x00")


def test_idx_big_endian_int32(tmp_path):
    array = np.array([[1, -2, 70000], [3, 4, -5]], dtype=">i4")
    header = bytes([0, 0, 0x0C, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    path = tmp_path / "ints-idx2-int"
    path.write_bytes(header + array.tobytes())
    back = read_idx(path)
    assert back.dtype == np.dtype("int32") and back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(b"\x01\x02\x08\x03" + bytes(20))
    with pytest.raises(ValueError, match=r"is not an IDX file \(bad magic number"):
        read_idx(path)
    unknown_dtype = tmp_path / "dtype-idx1-ubyte"
    unknown_dtype.write_bytes(bytes([0, 0, 0x42, 1]) + (1).to_bytes(4, "big") + b"\x00")
    with pytest.raises(ValueError, match="bad magic number"):
        read_idx(unknown_dtype)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_data(tmp_path, gz):
    full = tmp_path / "full-idx3-ubyte"
    write_idx(full, np.ones((4, 3, 3), np.uint8))
    raw = full.read_bytes()[:-5]
    path = tmp_path / ("cut-idx3-ubyte.gz" if gz else "cut-idx3-ubyte")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(ValueError, match=r"has 31 data bytes, expected 36 for shape \(4, 3, 3\)"):
        read_idx(path)


def test_idx_truncated_header_and_corrupt_gzip(tmp_path):
    header_cut = tmp_path / "h-idx3-ubyte"
    header_cut.write_bytes(bytes([0, 0, 0x08, 3]) + (4).to_bytes(4, "big"))
    with pytest.raises(ValueError, match="truncated inside its header"):
        read_idx(header_cut)
    not_gzip = tmp_path / "x-idx3-ubyte.gz"
    not_gzip.write_bytes(b"this is not gzip data")
    with pytest.raises(ValueError, match="cannot read IDX file"):
        read_idx(not_gzip)
    cut_gzip = tmp_path / "y-idx3-ubyte.gz"
    write_idx(cut_gzip, np.ones((4, 3, 3), np.uint8))
    cut_gzip.write_bytes(cut_gzip.read_bytes()[:-10])
    with pytest.raises(ValueError, match="cannot read IDX file"):
        read_idx(cut_gzip)


# --------------------------------------------------------------------------- mnist (generated IDX directory)


def _write_mnist(directory, prefix, n, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=(n,), dtype=np.uint8)
    write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return images, labels


def test_mnist_single_pair_split_by_fractions(tmp_path):
    images, labels = _write_mnist(tmp_path, "t10k", 50, seed=0)
    data = load_dataset(SourceSpec(source="mnist", path=str(tmp_path), val_fraction=0.2, test_fraction=0.1))
    assert data.name == "mnist"
    chex.assert_shape([data.x_train, data.x_val, data.x_test], [(35, 784), (10, 784), (5, 784)])
    chex.assert_type([data.x_train, data.y_train], [np.float32, np.int32])
    assert data.display_shape == (28, 28, 1)
    # Every example is an input image / 255 with its own label; together they are the whole pool.
    flat = images.reshape(50, 784).astype(np.float32) / 255.0
    xs = np.concatenate([data.x_train, data.x_val, data.x_test])
    ys = np.concatenate([data.y_train, data.y_val, data.y_test])
    index = {row.tobytes(): i for i, row in enumerate(flat)}
    found = [index[row.tobytes()] for row in xs]
    assert sorted(found) == list(range(50))
    np.testing.assert_array_equal(ys, labels[found])
    assert xs.min() >= 0.0 and xs.max() <= 1.0 and xs.max() > 0.9
    # Deterministic split for a given seed, a different one for another seed.
    again = load_dataset(SourceSpec(source="mnist", path=str(tmp_path), val_fraction=0.2, test_fraction=0.1))
    np.testing.assert_array_equal(again.x_val, data.x_val)
    other = load_dataset(
        SourceSpec(source="mnist", path=str(tmp_path), val_fraction=0.2, test_fraction=0.1, split_seed=1)
    )
    assert not np.array_equal(other.x_val, data.x_val)


def test_mnist_unflattened_and_plain_files(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(20, dtype=np.uint8) % 10)
    data = load_dataset(SourceSpec(source="mnist", path=str(tmp_path), flatten=False))
    chex.assert_shape(
        [data.x_train, data.x_val, data.x_test], [(16, 28, 28, 1), (2, 28, 28, 1), (2, 28, 28, 1)]
    )
    assert data.display_shape == (28, 28, 1)


def test_mnist_train_and_test_files(tmp_path):
    _write_mnist(tmp_path, "train", 60, seed=1)
    test_images, test_labels = _write_mnist(tmp_path, "t10k", 20, seed=2)
    data = load_dataset(SourceSpec(source="mnist", path=str(tmp_path), val_fraction=0.1, test_fraction=0.3))
    chex.assert_shape([data.x_train, data.x_val, data.x_test], [(54, 784), (6, 784), (20, 784)])
    # test is exactly t10k in file order; test_fraction is unused.
    np.testing.assert_array_equal(data.x_test, test_images.reshape(20, 784).astype(np.float32) / 255.0)
    np.testing.assert_array_equal(data.y_test, test_labels)
    # train and val come from the train files only.
    test_rows = {row.tobytes() for row in data.x_test}
    assert not any(row.tobytes() in test_rows for row in np.concatenate([data.x_train, data.x_val]))


def test_mnist_missing_directory(tmp_path):
    missing = tmp_path / "no-such-dir"
    with pytest.raises(FileNotFoundError, match=rf"MNIST directory .*{missing.name}.* does not exist"):
        load_dataset(SourceSpec(source="mnist", path=str(missing)))


def test_mnist_directory_without_files(tmp_path):
    (tmp_path / "README").write_text("nothing here")
    with pytest.raises(
        FileNotFoundError,
        match=r"no MNIST IDX files in .*expected train-images-idx3-ubyte\.gz, t10k-images-idx3-ubyte\.gz",
    ):
        load_dataset(SourceSpec(source="mnist", path=str(tmp_path)))


def test_mnist_images_without_labels(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(
        FileNotFoundError, match=r"found t10k-images-idx3-ubyte\.gz .* not t10k-labels-idx1-ubyte"
    ):
        load_dataset(SourceSpec(source="mnist", path=str(tmp_path)))


def test_mnist_images_and_labels_disagree(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros((4,), np.uint8))
    with pytest.raises(ValueError, match=r"MNIST test files disagree: images \(5, 28, 28\), labels \(4,\)"):
        load_dataset(SourceSpec(source="mnist", path=str(tmp_path)))


def test_mnist_needs_a_path():
    with pytest.raises(ValueError, match=r"needs data\.path"):
        load_dataset(SourceSpec(source="mnist", path=""))


def test_real_mnist_if_present():
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST not found at {SHARED_MNIST} (expects t10k-*-ubyte.gz)")
    data = load_dataset(SourceSpec(source="mnist", path=str(SHARED_MNIST)))
    chex.assert_shape([data.x_train, data.x_val, data.x_test], [(8000, 784), (1000, 784), (1000, 784)])
    chex.assert_type(data.x_train, np.float32)
    assert data.display_shape == (28, 28, 1)
    for x in (data.x_train, data.x_val, data.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(data.y_train).tolist()) == set(range(10))


# --------------------------------------------------------------------------- npz


def test_npz_named_splits(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.uniform(size=(10, 3, 2)).astype(np.float32),
        "x_val": rng.uniform(size=(4, 3, 2)).astype(np.float32),
        "x_test": rng.uniform(size=(5, 3, 2)).astype(np.float32),
        "y_train": np.arange(10),
        "y_val": np.arange(4),
        "y_test": np.arange(5),
    }
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays)
    data = load_dataset(SourceSpec(source="npz", path=str(path)))
    assert data.name == "mine"
    assert data.display_shape == (3, 2)
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        np.testing.assert_array_equal(x, arrays[f"x_{split}"].reshape(len(x), 6))
        np.testing.assert_array_equal(y, arrays[f"y_{split}"])
    cut = load_dataset(SourceSpec(source="npz", path=str(path), max_examples=6))
    chex.assert_shape([cut.x_train, cut.y_train, cut.x_val], [(6, 6), (6,), (4, 6)])


def test_npz_train_only_uint8_is_scaled(tmp_path):
    images = np.array([[0, 51], [255, 102]], np.uint8)
    path = tmp_path / "u8.npz"
    np.savez(path, x_train=images)
    data = load_dataset(SourceSpec(source="npz", path=str(path)))
    chex.assert_type(data.x_train, np.float32)
    np.testing.assert_allclose(data.x_train, [[0.0, 0.2], [1.0, 0.4]], rtol=1e-6)
    assert data.x_val is None and data.x_test is None


def test_npz_single_pool(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, 5), dtype=np.uint8)
    y = np.arange(40)
    path = tmp_path / "pool.npz"
    np.savez(path, x=x, y=y)
    spec = SourceSpec(source="npz", path=str(path), val_fraction=0.25, test_fraction=0.1)
    data = load_dataset(spec)
    chex.assert_shape([data.x_train, data.x_val, data.x_test], [(26, 5), (10, 5), (4, 5)])
    for split in ("train", "val", "test"):
        xs, ys = data.split(split)
        np.testing.assert_allclose(xs, x[ys].astype(np.float32) / 255.0, rtol=1e-6)  # labels stay paired
    all_y = np.concatenate([data.y_train, data.y_val, data.y_test])
    np.testing.assert_array_equal(np.sort(all_y), y)
    np.savez(path, x=x[:, :, None].astype(np.float32) / 255.0)
    unlabelled = load_dataset(spec)
    assert unlabelled.y_train is None
    assert unlabelled.display_shape == (5, 1)


def test_npz_unexpected_keys(tmp_path):
    path = tmp_path / "odd.npz"
    np.savez(path, x_train=_x(), x_valid=_x(4))
    with pytest.raises(ValueError, match=r"unexpected arrays \['x_valid'\]"):
        load_dataset(SourceSpec(source="npz", path=str(path)))
    np.savez(path, images=_x())
    with pytest.raises(ValueError, match=r"holds \['images'\]; expected 'x_train'"):
        load_dataset(SourceSpec(source="npz", path=str(path)))


def test_npz_bad_arrays_are_reported(tmp_path):
    path = tmp_path / "bad.npz"
    bad = _x()
    bad[1, 1] = np.nan
    np.savez(path, x_train=bad)
    with pytest.raises(ValueError, match="x_train contains 1 non-finite"):
        load_dataset(SourceSpec(source="npz", path=str(path)))
    np.savez(path, x_train=_x(), y_val=np.arange(4))
    with pytest.raises(ValueError, match="y_val given without x_val"):
        load_dataset(SourceSpec(source="npz", path=str(path)))


def test_npz_missing_file(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match=r"npz file .*nope\.npz.* does not exist"):
        load_dataset(SourceSpec(source="npz", path=str(missing)))


# --------------------------------------------------------------------------- tfds (mocked, offline)


def test_tfds_mnist_mocked():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=20):
        data = load_dataset(SourceSpec(source="tfds:mnist"))
        raw = load_dataset(SourceSpec(source="tfds:mnist", flatten=False, max_examples=10))
    assert data.name == "tfds:mnist"
    # mnist has train and test but no validation split: val is carved from train.
    chex.assert_shape([data.x_train, data.x_val, data.x_test], [(18, 784), (2, 784), (20, 784)])
    chex.assert_shape([data.y_train, data.y_val, data.y_test], [(18,), (2,), (20,)])
    chex.assert_type([data.x_train, data.y_train], [np.float32, np.int32])
    assert data.display_shape == (28, 28, 1)
    for x in (data.x_train, data.x_val, data.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0
    assert data.x_train.max() > 0.5  # scaled from uint8, not all zero
    assert ((data.y_train >= 0) & (data.y_train < 10)).all()
    chex.assert_shape([raw.x_train, raw.x_val, raw.x_test], [(9, 28, 28, 1), (1, 28, 28, 1), (10, 28, 28, 1)])


def test_tfds_needs_a_name():
    with pytest.raises(ValueError, match="needs a dataset name"):
        load_dataset(SourceSpec(source="tfds:"))


# --------------------------------------------------------------------------- source names


def test_unknown_source_lists_valid_ones():
    with pytest.raises(
        ValueError,
        match=r"unknown data.source 'mnsit'; valid: color_shapes, digits, dsprites, mnist, npz, sines, tfds:<name>, arrays",
    ):
        load_dataset(SourceSpec(source="mnsit"))


def test_arrays_source_explains_passing_data():
    with pytest.raises(ValueError, match=r"data.source='arrays'.*aejax\.fit\(config, data=\.\.\.\)"):
        load_dataset(SourceSpec(source="arrays"))
