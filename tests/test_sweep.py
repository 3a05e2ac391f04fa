"""Vmapped sweeps: members trained in one program end as their separate runs do."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import aejax
from aejax.sweep import sweep_members


def _config():
    config = aejax.load_default()
    config.train.epochs = 2
    config.train.batch_size = 64
    config.train.progress = False
    config.model.hidden = (32,)
    config.model.dropout = 0.1
    config.model.code_activation = "sigmoid"
    config.loss.regularizers = {"sparse": {"fn": "kl_sparsity", "weight": 0.1, "rho": 0.05}}
    config.eval.plots = False
    config.eval.jacobian_examples = 0
    return config


def test_sweep_members_equal_separate_runs(tmp_path):
    values = {
        "seed": [0, 1],
        "train.learning_rate": [1e-3, 3e-3],
        "loss.regularizers.sparse.weight": [0.1, 0.5],
    }
    members = aejax.sweep(_config(), values, workdir=tmp_path)
    assert len(members) == 8
    for index in (0, 3, 6):  # a few members against their own fit
        config = members[index].config
        separate = aejax.fit(config)
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6),
            members[index].params,
            separate.params,
        )
        assert members[index].results["test"]["mse"] == pytest.approx(
            separate.results["test"]["mse"], rel=1e-3
        )
    loaded = aejax.load(tmp_path / "member_3")
    assert loaded.config.seed == members[3].config.seed
    np.testing.assert_array_equal(
        jax.tree.leaves(loaded.params)[0], np.asarray(jax.tree.leaves(members[3].params)[0])
    )


def test_sweep_rejects_keys_that_change_the_program():
    with pytest.raises(ValueError, match="cannot vary inside one compiled program"):
        sweep_members(_config(), {"model.latent_dim": [4, 8]})
    with pytest.raises(ValueError, match="no regularizer labelled"):
        sweep_members(_config(), {"loss.regularizers.l1.weight": [0.1]})
    with pytest.raises(ValueError, match="non-empty list"):
        sweep_members(_config(), {"seed": []})
    assert [m.seed for m in sweep_members(_config(), {"seed": [3, 4]})] == [3, 4]
