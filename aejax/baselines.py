"""Classical baselines reported next to autoencoders on the same split."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA


def pca_reconstruction_mse(x_train: np.ndarray, x_eval: np.ndarray, k: int, seed: int = 0) -> float:
    """Per-feature mean squared error of rank-k PCA (fitted on x_train) reconstructing x_eval."""
    train = x_train.reshape(x_train.shape[0], -1)
    test = x_eval.reshape(x_eval.shape[0], -1)
    k = min(k, *train.shape)
    pca = PCA(n_components=k, random_state=seed).fit(train)
    reconstruction = pca.inverse_transform(pca.transform(test))
    return float(np.mean(np.square(reconstruction - test)))
