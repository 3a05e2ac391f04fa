"""Disentanglement on generated dSprites (64x64, 3 shapes x 6 scales x 40 orientations x 32 x 32 positions):
VAE, beta-VAE (beta 4), beta-TCVAE (beta 6), FactorVAE (gamma 35) and DIP-VAE-I (lambda_od 10), 3 seeds each,
scored by MIG, SAP, DCI, modularity/explicitness and the beta-VAE and FactorVAE scores, with latent
traversals per model (the README's disentanglement section holds the figures).

    aejax task --config disentangle_dsprites --workdir runs/disentangle

Sized for a 2-core CPU (the five models x three seeds in well under 30 minutes): a 20,000-image subsample of
the 737,280 combinations (distinct images, seeded by data.split_seed; 16,000 train), MLP encoder and decoder
of 256-256 ReLU units, 10 latent units, Bernoulli likelihood, Adam 1e-3 at batch 128 for 20 epochs (2,500
steps; batch 128 rather than 64 because it trained faster per image on this CPU and gives beta-TCVAE's
minibatch estimate of the total correlation more codes); the literature trains 300,000 steps on the whole set
with larger models, so expect lower absolute scores than published ones. FactorVAE's discriminator is
2 x 256 units instead of the paper's 6 x 1000. Metrics use 5,000 fresh images, and the beta-VAE / FactorVAE
scores 1,000 training and 500 evaluation points (disentanglement_lib: 10,000 / 5,000), which keeps scoring
under a minute per model.
"""

from aejax.config import load_default


def get_config():
    config = load_default()
    config.data.source = "dsprites"
    config.data.max_examples = 20000
    config.model.family = "vae"
    config.model.hidden = (256, 256)
    config.model.latent_dim = 10
    config.model.output_activation = "sigmoid"
    config.model.factorvae.discriminator_hidden = (256, 256)
    config.loss.reconstruction = "bernoulli"
    config.loss.regularizers = {"kl": {"fn": "kl_standard_normal", "weight": 1.0}}
    config.train.epochs = 20
    config.train.batch_size = 128
    config.train.learning_rate = 1e-3
    config.train.log_every_steps = 50
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    config.task.name = "disentangle"
    config.task.metric_examples = 5000
    config.task.score_examples = 1000
    return config
