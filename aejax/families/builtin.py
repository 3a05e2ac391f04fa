"""The built-in families as `Family` records: autoencoder, vae, factorvae, aae, vqvae, sequence, attention,
capsule.

Each build function checks the settings it reads and returns the model; the hooks below carry what the
generic trunk does differently for a family (see `aejax.families.record.Family`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from aejax.families.record import BuildContext, Family, register_family
from aejax.families.settings import AttentionSettings, CapsuleSettings, SequenceSettings, VQSettings
from aejax.models.aae import AdversarialAutoencoder, AdversarialSpec
from aejax.models.attention import AttentionAutoencoder
from aejax.models.capsule import CapsuleAutoencoder
from aejax.models.factor_vae import FactorVAESettings, FactorVariationalAutoencoder
from aejax.models.registry import ModelSpec, build_autoencoder, build_decoder, build_encoder
from aejax.models.sequence import SequenceAutoencoder
from aejax.models.vae import LIKELIHOODS, VariationalAutoencoder, kl_to_standard_normal
from aejax.models.vq import VQAutoencoder, codebook_statistics
from aejax.training.adversarial import adversarial_evaluation, make_adversarial_train_step
from aejax.training.factor_vae import factor_extras, make_factor_vae_train_step
from aejax.training.state import adversarial_extras


def require_no_bottleneck(spec: ModelSpec, family: str) -> None:
    """A code bottleneck (model.bottleneck) belongs to the plain autoencoder family."""
    if spec.bottleneck != "none":
        raise ValueError(
            f"model.bottleneck={spec.bottleneck!r} is for model.family='autoencoder', got {family!r}"
        )


def require_plain_code(spec: ModelSpec, family: str, *, tied: bool = False) -> None:
    """Families other than the plain autoencoder read the encoder's linear output: no code activation, no
    bottleneck (and, unless `tied`, no tied weights)."""
    require_no_bottleneck(spec, family)
    if spec.code_activation != "identity" or (spec.tied_weights and not tied):
        raise ValueError(
            f"model.family={family!r} needs model.code_activation='identity' and no tied weights"
        )


# ---------------------------------------------------------------------------------------------- builds
def build_plain(spec: ModelSpec, settings: None, context: BuildContext) -> nn.Module:
    return build_autoencoder(spec, context.input_shape)


def vae_fields(spec: ModelSpec, context: BuildContext, family: str = "vae") -> dict[str, Any]:
    """The VariationalAutoencoder's fields from the shared spec, its likelihood checked."""
    require_plain_code(spec, family)
    if context.likelihood not in LIKELIHOODS:
        raise ValueError(
            f"a VAE's loss.reconstruction is its likelihood: one of {', '.join(LIKELIHOODS)}; got "
            f"{context.likelihood!r}"
        )
    if context.likelihood == "bernoulli" and spec.output_activation != "sigmoid":
        raise ValueError(
            "a Bernoulli VAE reads decoder logits through a sigmoid: set model.output_activation='sigmoid'"
        )
    if context.gaussian_scale <= 0:
        raise ValueError(f"loss.gaussian_scale must be > 0, got {context.gaussian_scale}")
    shape = tuple(context.input_shape)
    return {
        "encoder": build_encoder(spec, shape, 2 * spec.latent_dim),  # the head: mean and log-variance
        "decoder": build_decoder(spec, shape),
        "input_shape": shape,
        "latent_dim": spec.latent_dim,
        "output_activation": spec.output_activation,
        "likelihood": context.likelihood,
        "gaussian_scale": context.gaussian_scale,
    }


def build_vae(spec: ModelSpec, settings: None, context: BuildContext) -> nn.Module:
    return VariationalAutoencoder(**vae_fields(spec, context))


def build_factor_vae(spec: ModelSpec, settings: FactorVAESettings, context: BuildContext) -> nn.Module:
    return FactorVariationalAutoencoder(**vae_fields(spec, context, "factorvae"), factor=settings)


def build_aae(spec: ModelSpec, settings: AdversarialSpec, context: BuildContext) -> nn.Module:
    require_no_bottleneck(spec, "aae")
    if spec.code_activation != "identity":
        raise ValueError(
            f"model.family='aae' matches codes to a prior on the whole real line: set model.code_activation="
            f"'identity' (got {spec.code_activation!r})"
        )
    if settings.prior == "mixture" and spec.latent_dim < 2:
        raise ValueError(
            "adversarial.prior='mixture' lives in code units 0 and 1: model.latent_dim must be >= 2"
        )
    shape = tuple(context.input_shape)
    return AdversarialAutoencoder(
        encoder=build_encoder(spec, shape, spec.latent_dim),
        decoder=build_decoder(spec, shape),
        input_shape=shape,
        latent_dim=spec.latent_dim,
        output_activation=spec.output_activation,
        adversarial=settings,
    )


def build_vqvae(spec: ModelSpec, settings: VQSettings, context: BuildContext) -> nn.Module:
    require_no_bottleneck(spec, "vqvae")
    if spec.latent_dim % settings.embedding_dim:
        raise ValueError(
            f"model.family='vqvae' needs model.latent_dim ({spec.latent_dim}) a multiple of "
            f"model.vqvae.embedding_dim ({settings.embedding_dim}): the code is cut into vectors of that size"
        )
    shape = tuple(context.input_shape)
    return VQAutoencoder(
        encoder=build_encoder(spec, shape, spec.latent_dim),
        decoder=build_decoder(spec, shape),
        input_shape=shape,
        latent_dim=spec.latent_dim,
        num_embeddings=settings.num_embeddings,
        embedding_dim=settings.embedding_dim,
        output_activation=spec.output_activation,
    )


def build_sequence(spec: ModelSpec, settings: SequenceSettings, context: BuildContext) -> nn.Module:
    require_plain_code(spec, "sequence")
    shape = tuple(context.input_shape)
    if len(shape) != 2:
        raise ValueError(
            f"model.family='sequence' reads (time, features) examples, got example shape {shape}; for images "
            "set data.as_sequences=True (rows as time steps)"
        )
    return SequenceAutoencoder(
        input_shape=shape,
        latent_dim=spec.latent_dim,
        cell=settings.cell,
        hidden=settings.hidden,
        num_layers=settings.layers,
        bidirectional=settings.bidirectional,
        teacher_forcing=settings.teacher_forcing,
        code_each_step=settings.code_each_step,
        output_activation=spec.output_activation,
    )


def build_attention(spec: ModelSpec, settings: AttentionSettings, context: BuildContext) -> nn.Module:
    require_plain_code(spec, "attention")
    shape = tuple(context.input_shape)
    if len(shape) not in (2, 3):
        raise ValueError(
            f"model.family='attention' reads (time, features) or (H, W, C) examples, got {shape}; "
            "set data.flatten=False for images"
        )
    return AttentionAutoencoder(
        input_shape=shape,
        latent_dim=spec.latent_dim,
        patch_size=settings.patch_size,
        num_layers=settings.layers,
        num_heads=settings.num_heads,
        model_dim=settings.model_dim,
        mlp_dim=settings.mlp_dim,
        num_memory=settings.num_memory,
        dropout=spec.dropout,
        mask_ratio=settings.mask_ratio,
        output_activation=spec.output_activation,
    )


def build_capsule(spec: ModelSpec, settings: CapsuleSettings, context: BuildContext) -> nn.Module:
    require_plain_code(spec, "capsule")
    shape = tuple(context.input_shape)
    if len(shape) not in (2, 3):
        raise ValueError(
            f"model.family='capsule' reads (H, W[, C]) images, got {shape}; set data.flatten=False"
        )
    if spec.latent_dim != settings.num_capsules * settings.capsule_dim:
        raise ValueError(
            f"model.family='capsule': model.latent_dim ({spec.latent_dim}) must be num_capsules * capsule_dim "
            f"({settings.num_capsules} * {settings.capsule_dim} = {settings.num_capsules * settings.capsule_dim})"
        )
    return CapsuleAutoencoder(
        input_shape=shape,
        latent_dim=spec.latent_dim,
        output_activation=spec.output_activation,
        conv_features=settings.conv_features,
        conv_kernel=settings.conv_kernel,
        primary_channels=settings.primary_channels,
        primary_dim=settings.primary_dim,
        primary_kernel=settings.primary_kernel,
        primary_stride=settings.primary_stride,
        num_capsules=settings.num_capsules,
        capsule_dim=settings.capsule_dim,
        routing_iterations=settings.routing_iterations,
        decoder_hidden=tuple(spec.hidden),
    )


# ---------------------------------------------------------------------------------------------- vae hooks
def importance_weighted_loss(model, variables, x_input, objective, loss, aux, rngs, output=None):
    """With loss.iwae_samples = k > 1 the k-sample bound (Burda et al. 2016) replaces reconstruction (+ KL)."""
    if objective.iwae_samples <= 1:
        return loss, aux
    log_w = model.apply(
        variables, x_input, objective.iwae_samples, train=True, method="log_weights", rngs=rngs
    )
    negative_bound = -jnp.mean(objective.importance_weighted_bound(log_w))
    loss = loss - objective.reconstruction_weight * aux["reconstruction"] + negative_bound
    return loss, {**aux, "reconstruction": negative_bound, "iwae_bound": -negative_bound, "loss": loss}


def posterior_sample_output(model, variables, x, mask=None):
    """Evaluation scores one posterior sample per example with a fixed key (the same draw every time)."""
    return model.apply(variables, x, train=False, sample=True, rngs={"latent": jax.random.PRNGKey(0)})


def elbo_terms(output, per_example_reconstruction) -> dict[str, jax.Array]:
    """Per example: the closed-form KL to the prior and -ELBO = reconstruction NLL + KL, in nats."""
    kl = kl_to_standard_normal(output.mean, output.log_variance)
    kl = kl.reshape(kl.shape[0], -1).sum(axis=1)
    return {"kl": kl, "negative_elbo": per_example_reconstruction + kl}


def vae_split_metrics(trained, x: np.ndarray, metrics: dict[str, Any]) -> dict[str, Any]:
    """The ELBO, active units (Burda et al. 2016) and, with eval.log_likelihood_samples > 0, the
    importance-sampled test NLL."""
    config = trained.config
    out = {"elbo": -metrics["negative_elbo"], "active_units": trained.active_units(x)["active_units"]}
    k = config.eval.log_likelihood_samples
    if k > 0:
        rows = x[: config.eval.log_likelihood_examples]
        log_px = trained.log_likelihood(rows, num_samples=k, chunk=min(k, 500), seed=config.seed)
        out["nll"] = float(-np.mean(log_px))
        out["nll_bits_per_dim"] = out["nll"] / (math.prod(x.shape[1:]) * math.log(2.0))
        out["nll_samples"] = k
        out["nll_examples"] = int(rows.shape[0])
    return out


def vq_split_metrics(trained, x: np.ndarray, metrics: dict[str, Any]) -> dict[str, Any]:
    """How much of the codebook the split uses."""
    return codebook_statistics(trained.code_indices(x), trained.model.num_embeddings)


def aae_split_metrics(trained, x: np.ndarray, metrics: dict[str, Any]) -> dict[str, Any]:
    """Codes against the prior: MMD and the discriminator's accuracy."""
    return adversarial_evaluation(trained.model, trained.state, trained.encode(x), seed=trained.config.seed)


def aae_train_step(model, objective, schedule, *, log_norms: bool = True):
    return make_adversarial_train_step(model, objective, schedule, log_norms=log_norms)


def factor_vae_train_step(model, objective, schedule, *, log_norms: bool = True):
    return make_factor_vae_train_step(model, objective, schedule, family=FACTOR_VAE, log_norms=log_norms)


VAE = Family(
    name="vae",
    build=build_vae,
    adjust_loss=importance_weighted_loss,
    eval_output=posterior_sample_output,
    eval_terms=elbo_terms,
    monitor="negative_elbo",
    anomaly_term="negative_elbo",
    split_metrics=vae_split_metrics,
    generative=True,
    variational=True,
)
# FactorVAE: the VAE's hooks, its own settings, step and extra state (the discriminator)
FACTOR_VAE = dataclasses.replace(
    VAE,
    name="factorvae",
    build=build_factor_vae,
    settings=FactorVAESettings,
    settings_block="model.factorvae",
    train_step=factor_vae_train_step,
    init_extras=factor_extras,
)

BUILTIN_FAMILIES = (
    Family(name="autoencoder", build=build_plain),
    VAE,
    FACTOR_VAE,
    Family(
        name="aae",
        build=build_aae,
        settings=AdversarialSpec,
        settings_block="adversarial",
        train_step=aae_train_step,
        init_extras=adversarial_extras,
        split_metrics=aae_split_metrics,
        generative=True,
    ),
    Family(name="vqvae", build=build_vqvae, settings=VQSettings, split_metrics=vq_split_metrics),
    Family(name="sequence", build=build_sequence, settings=SequenceSettings, sequential=True),
    Family(name="attention", build=build_attention, settings=AttentionSettings, sequential=True),
    Family(name="capsule", build=build_capsule, settings=CapsuleSettings),
)

for _family in BUILTIN_FAMILIES:
    register_family(_family)
