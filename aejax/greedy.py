"""Greedy layer-wise pretraining of a deep MLP autoencoder (stacked autoencoders).

Stage s trains a shallow autoencoder whose encoder is layer s of the deep encoder, on the codes that the
already trained stages 0..s-1 give the data; then the stages are unrolled into the deep model (encoder
layers in order, decoder layers in reverse) and the whole model is fine-tuned end to end.

Each stage's shallow model uses the activations it will have in the deep one: its code activation is the
hidden activation (the deep code activation for the last stage) and its output activation is the one of
the deep decoder layer it becomes (the model's output activation for stage 0, the hidden activation
otherwise). Stage 0 reconstructs the data with the configured loss; later stages reconstruct codes with
MSE. Corruption applies at every stage (without clipping to [0, 1] after stage 0, since codes are not
pixels). Regularizers apply at every stage, except code penalties, which belong to the last stage only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from aejax.data import Dataset

logger = logging.getLogger("aejax")

CODE_PENALTIES = ("code_l1", "code_l2", "kl_sparsity")
STAGES_DIR = "pretrain"


def check_greedy_config(config: ml_collections.ConfigDict) -> None:
    model = config.model
    if model.encoder != "mlp" or model.decoder != "mlp":
        raise ValueError(
            f"pretrain.method='greedy' needs mlp encoder and decoder, got {model.encoder!r}/{model.decoder!r}"
        )
    if tuple(model.decoder_hidden) not in ((-1,), tuple(reversed(model.hidden))):
        raise ValueError(
            "pretrain.method='greedy' unrolls the stages into a mirrored decoder; set model.decoder_hidden=(-1,) "
            f"(got {tuple(model.decoder_hidden)} for hidden {tuple(model.hidden)})"
        )
    if model.layer_norm:
        raise ValueError("pretrain.method='greedy' does not support model.layer_norm=True")
    if config.pretrain.epochs < 1:
        raise ValueError(f"pretrain.epochs must be >= 1, got {config.pretrain.epochs}")
    if config.pretrain.learning_rate < 0:
        raise ValueError(f"pretrain.learning_rate must be >= 0, got {config.pretrain.learning_rate}")


def stage_config(config: ml_collections.ConfigDict, stage: int) -> ml_collections.ConfigDict:
    """The config of the shallow autoencoder trained at `stage` (0 = the one that sees the data)."""
    widths = (*config.model.hidden, config.model.latent_dim)
    last = stage == len(widths) - 1
    out = config.copy_and_resolve_references()
    out.pretrain.method = "none"
    out.model.hidden = ()
    out.model.decoder_hidden = (-1,)
    out.model.latent_dim = widths[stage]
    out.model.code_activation = config.model.code_activation if last else config.model.activation
    if stage > 0:
        out.model.output_activation = config.model.activation
        out.loss.reconstruction = "mse"
        out.loss.corruption.clip = False
        out.eval.compare_pca = False
        out.eval.plots = False
    regularizers = config.loss.regularizers.to_dict()
    if not last:
        regularizers = {k: v for k, v in regularizers.items() if v["fn"] not in CODE_PENALTIES}
    out.loss.regularizers = ml_collections.ConfigDict(regularizers)
    out.train.epochs = config.pretrain.epochs
    if config.pretrain.learning_rate > 0:
        out.train.learning_rate = config.pretrain.learning_rate
    out.train.early_stopping_patience = 0
    out.eval.jacobian_examples = 0
    return out


def unroll(stage_params: list[Any], tied: bool) -> dict[str, Any]:
    """Deep-model parameters from the shallow stages' parameters (stage 0 first)."""
    n = len(stage_params) - 1
    encoder_hidden = {f"dense_{s}": stage_params[s]["encoder"]["code"] for s in range(n)}
    encoder = {"code": stage_params[n]["encoder"]["code"]}
    if encoder_hidden:
        encoder["hidden"] = encoder_hidden
    if tied:  # the decoder owns only biases, stored per layer
        decoder = {f"dense_{j}": stage_params[n - j]["decoder"]["output"] for j in range(n)}
        decoder["output"] = stage_params[0]["decoder"]["output"]
    else:
        decoder = {"output": stage_params[0]["decoder"]["output"]}
        if n:
            decoder["hidden"] = {f"dense_{j}": stage_params[n - j]["decoder"]["output"] for j in range(n)}
    return {"encoder": encoder, "decoder": decoder}


def greedy_pretrain(
    config: ml_collections.ConfigDict,
    dataset: Dataset,
    workdir: Path | None,
    *,
    fit_stage: Callable[..., Any],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Train every stage (resuming finished or interrupted ones from `workdir/pretrain/stage_<s>`).

    The stages are ordinary fits: `fit_stage(stage_config, data=..., workdir=...)` is `aejax.fit`, handed in by
    its caller (`aejax.fitting.fit`), which sits above this module. Returns the unrolled deep parameters and
    one summary per stage.
    """
    check_greedy_config(config)
    num_stages = len(config.model.hidden) + 1
    splits = {"train": dataset.x_train, "val": dataset.x_val, "test": dataset.x_test}
    stage_params, summaries = [], []
    for stage in range(num_stages):
        cfg = stage_config(config, stage)
        data = dataset
        if stage > 0:
            data = Dataset(
                x_train=splits["train"],
                x_val=splits["val"],
                x_test=splits["test"],
                value_range=None,
                name=f"{dataset.name} codes of stage {stage - 1}",
            )
        stage_dir = workdir / STAGES_DIR / f"stage_{stage}" if workdir is not None else None
        logger.info(
            "greedy pretraining: stage %d of %d (code width %d)", stage + 1, num_stages, cfg.model.latent_dim
        )
        trained = fit_stage(cfg, data=data, workdir=stage_dir)
        stage_params.append(jax.device_get(trained.params))
        summary = {"stage": stage, "code_width": cfg.model.latent_dim, "steps": trained.step}
        for split in ("val", "test"):
            if split in trained.results:
                summary[f"{split}_reconstruction"] = trained.results[split]["reconstruction"]
        summaries.append(summary)
        splits = {k: (None if v is None else np.asarray(trained.encode(v))) for k, v in splits.items()}
    return unroll(stage_params, bool(config.model.tied_weights)), summaries
