"""Convolutional autoencoder on MNIST images (8k/1k/1k): two stride-2 3x3 convolutions (16, 32 channels), a
32-d dense code, a resize-then-convolve decoder; about 120k parameters, 6 epochs. On CPU the convolutions run as
matmuls (model.conv_impl='auto') and each step averages its gradient over 32-row slices (train.microbatch_size),
several times faster there than XLA's CPU convolutions; the same update up to float rounding.

    aejax train --config conv_mnist --workdir runs/conv_mnist

Compare with mlp_matched_mnist.py, an MLP autoencoder of about the same parameter count and code size.
"""

from aejax.config import load_default


def get_config():
    config = load_default()
    config.data.source = "mnist"
    config.data.path = "../shared/data/mnist"
    config.data.flatten = False
    config.model.encoder = "conv"
    config.model.decoder = "conv"
    config.model.conv_features = (16, 32)
    config.model.upsample = "resize"
    config.model.latent_dim = 32
    config.train.epochs = 6
    config.train.microbatch_size = 32
    config.train.learning_rate = 2e-3
    config.train.schedule = "warmup_cosine"
    config.train.warmup_steps = 100
    config.eval.jacobian_examples = 0
    return config
