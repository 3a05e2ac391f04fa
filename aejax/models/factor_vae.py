"""FactorVAE (Kim & Mnih 2018): a VAE whose loss adds gamma * TC(z), the total correlation of the codes
estimated by a discriminator that tells codes of the batch, q(z), from codes whose units were shuffled
independently across the batch, prod_j q(z_j).

With the discriminator's logit D(z) of "drawn from q(z)", TC = KL(q(z) || prod_j q(z_j)) ~ E_q(z)[D(z)] (the
density-ratio trick). The model's parameters are the VAE's; the discriminator's live in `TrainState.extras`
(made by `init(..., method='discriminate')`), so every VAE tool works on a FactorVAE unchanged. The step that
trains both is `aejax.training.factor_vae`.
"""

from __future__ import annotations

import dataclasses

import jax
import optax

from aejax.models.aae import Discriminator
from aejax.models.layers import get_activation
from aejax.models.vae import VariationalAutoencoder


@dataclasses.dataclass(frozen=True)
class FactorVAESettings:
    """`model.factorvae`: the TC weight and the discriminator with its own Adam optimizer.

    Defaults are the paper's: a discriminator of 6 hidden layers of 1000 leaky-ReLU units trained by Adam with
    learning rate 1e-4, beta1 = 0.5, beta2 = 0.9. gamma is the weight of the TC term (the paper and
    disentanglement_lib's study sweep 10 to 100 on dSprites)."""

    gamma: float = 35.0
    discriminator_hidden: tuple[int, ...] = (1000,) * 6
    discriminator_activation: str = "leaky_relu"
    discriminator_learning_rate: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.9

    def __post_init__(self):
        if self.gamma < 0 or self.discriminator_learning_rate < 0:
            raise ValueError(
                "model.factorvae.gamma and discriminator_learning_rate must be >= 0, got "
                f"{self.gamma} and {self.discriminator_learning_rate}"
            )
        if not self.discriminator_hidden or any(w < 1 for w in self.discriminator_hidden):
            raise ValueError(
                f"model.factorvae.discriminator_hidden needs widths >= 1, got {self.discriminator_hidden}"
            )
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(
                f"model.factorvae.beta1, beta2 must be in [0, 1), got {self.beta1}, {self.beta2}"
            )
        get_activation(self.discriminator_activation)

    def optimizer(self) -> optax.GradientTransformation:
        return optax.adam(self.discriminator_learning_rate, b1=self.beta1, b2=self.beta2)


class FactorVariationalAutoencoder(VariationalAutoencoder):
    """A VariationalAutoencoder with a discriminator on codes (`discriminate`)."""

    factor: FactorVAESettings = FactorVAESettings()

    def setup(self):
        super().setup()
        self.discriminator = Discriminator(
            hidden=tuple(self.factor.discriminator_hidden), activation=self.factor.discriminator_activation
        )

    def discriminate(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        """(batch,) logits that codes `z` were drawn from q(z) (not from the product of its marginals)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"discriminator expects (batch, {self.latent_dim}), got {tuple(z.shape)}")
        return self.discriminator(z, train=train)
