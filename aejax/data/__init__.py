"""Datasets: in-memory splits with validation, and the named sources that build them."""

from aejax.data.dataset import Dataset, check_array, from_arrays, split_pool
from aejax.data.factors import ColorShapes, DSprites, GroundTruthData, all_factor_indices
from aejax.data.idx import read_idx, write_idx
from aejax.data.sources import SOURCES, SourceSpec, load_dataset, load_digits, load_mnist, load_npz, load_tfds

__all__ = [
    "SOURCES",
    "ColorShapes",
    "DSprites",
    "Dataset",
    "GroundTruthData",
    "SourceSpec",
    "all_factor_indices",
    "check_array",
    "from_arrays",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "load_npz",
    "load_tfds",
    "read_idx",
    "split_pool",
    "write_idx",
]
