"""(user, item, rating) data: MovieLens loaders, a seeded split of the ratings, and dense rating matrices.

MovieLens files are read from a local directory and never shipped (their licence forbids redistribution).
In a rating matrix 0 means "not observed"; ratings themselves are positive (1-5 stars).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

MOVIELENS_FILES = {"u.data": "\t", "ratings.dat": "::", "ratings.csv": ","}


@dataclasses.dataclass(frozen=True)
class Ratings:
    """Parallel arrays of 0-based user and item indices and their ratings."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    num_users: int
    num_items: int

    def __post_init__(self):
        n = len(self.ratings)
        if not (len(self.users) == len(self.items) == n) or n == 0:
            raise ValueError(
                f"users, items and ratings must be non-empty and of equal length, got "
                f"{len(self.users)}, {len(self.items)}, {n}"
            )
        if not np.all(np.isfinite(self.ratings)) or np.any(self.ratings <= 0):
            raise ValueError(
                "ratings must be finite and > 0 (0 marks an unobserved entry in rating matrices)"
            )
        for name, index, size in (
            ("users", self.users, self.num_users),
            ("items", self.items, self.num_items),
        ):
            if index.min() < 0 or index.max() >= size:
                raise ValueError(
                    f"{name} indices must lie in [0, {size}), got [{index.min()}, {index.max()}]"
                )

    def subset(self, mask: np.ndarray) -> Ratings:
        return dataclasses.replace(
            self, users=self.users[mask], items=self.items[mask], ratings=self.ratings[mask]
        )

    def __len__(self) -> int:
        return len(self.ratings)


def from_triples(users, items, ratings) -> Ratings:
    """Ratings from any (user id, item id, rating) arrays; ids are mapped to 0-based indices."""
    users, items = np.asarray(users), np.asarray(items)
    user_ids, user_index = np.unique(users, return_inverse=True)
    item_ids, item_index = np.unique(items, return_inverse=True)
    return Ratings(
        users=user_index.astype(np.int32),
        items=item_index.astype(np.int32),
        ratings=np.asarray(ratings, np.float32),
        num_users=len(user_ids),
        num_items=len(item_ids),
    )


def load_movielens(path: str | Path) -> Ratings:
    """ml-100k (`u.data`), ml-1m/10m (`ratings.dat`) or ml-latest (`ratings.csv`) from a directory or file."""
    path = Path(path)
    candidates = [path] if path.is_file() else [path / name for name in MOVIELENS_FILES]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise FileNotFoundError(
            f"no MovieLens ratings at {str(path)!r}: expected a directory holding one of "
            f"{', '.join(MOVIELENS_FILES)} (download from grouplens.org; it is not redistributed with aejax)"
        )
    separator = MOVIELENS_FILES.get(found.name, "\t")
    rows = []
    with found.open(encoding="latin-1") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or (number == 1 and line.lower().startswith("userid")):
                continue
            parts = line.split(separator)
            if len(parts) < 3:
                raise ValueError(
                    f"{found}:{number}: expected user{separator}item{separator}rating, got {line!r}"
                )
            rows.append((int(parts[0]), int(parts[1]), float(parts[2])))
    data = np.asarray(rows)
    return from_triples(data[:, 0].astype(np.int64), data[:, 1].astype(np.int64), data[:, 2])


def split_ratings(ratings: Ratings, test_ratio: float, seed: int) -> tuple[Ratings, Ratings]:
    """A seeded random split of the individual ratings (not of users or items)."""
    if not 0 < test_ratio < 1:
        raise ValueError(f"test_ratio must be in (0, 1), got {test_ratio}")
    order = np.random.default_rng(seed).permutation(len(ratings))
    test = np.zeros(len(ratings), bool)
    test[order[: round(test_ratio * len(ratings))]] = True
    return ratings.subset(~test), ratings.subset(test)


def rating_matrix(ratings: Ratings, orientation: str) -> np.ndarray:
    """Dense float32 matrix, 0 where unobserved: rows are items ('item') or users ('user')."""
    if orientation == "item":
        matrix = np.zeros((ratings.num_items, ratings.num_users), np.float32)
        matrix[ratings.items, ratings.users] = ratings.ratings
    elif orientation == "user":
        matrix = np.zeros((ratings.num_users, ratings.num_items), np.float32)
        matrix[ratings.users, ratings.items] = ratings.ratings
    else:
        raise ValueError(f"orientation must be 'item' or 'user', got {orientation!r}")
    return matrix


def fit_biases(train: Ratings, reg_user: float = 5.0, reg_item: float = 5.0, iterations: int = 20):
    """Baseline predictor mu + b_u + b_i, by alternating ridge updates of the user and item biases."""
    mu = float(np.mean(train.ratings))
    b_user = np.zeros(train.num_users)
    b_item = np.zeros(train.num_items)
    count_user = np.bincount(train.users, minlength=train.num_users)
    count_item = np.bincount(train.items, minlength=train.num_items)
    for _ in range(iterations):
        residual = train.ratings - mu - b_user[train.users]
        b_item = np.bincount(train.items, residual, train.num_items) / (count_item + reg_item)
        residual = train.ratings - mu - b_item[train.items]
        b_user = np.bincount(train.users, residual, train.num_users) / (count_user + reg_user)
    return mu, b_user, b_item


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(predicted, np.float64) - actual))))
