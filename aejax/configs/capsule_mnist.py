"""Capsule autoencoder on MNIST images (Sabour et al. 2017 layout, sized for CPU): 9x9 conv (64), primary capsules
(8 types of 8-d, 9x9 stride 2), 3 routing iterations to 10 capsules of 16-d, poses masked by the longest capsule
(no labels in training), MLP decoder 512-1024.

    aejax train --config capsule_mnist --workdir runs/capsule_mnist

Expected (2 CPU cores): the README's sequence/attention/capsule table (benchmarks/sequence_mnist.py, which also
reports how well the longest capsule predicts the label).
"""

from aejax.config import load_default


def get_config():
    config = load_default()
    config.data.source = "mnist"
    config.data.path = "../shared/data/mnist"
    config.data.flatten = False
    config.model.family = "capsule"
    config.model.latent_dim = 160
    config.model.hidden = (512, 1024)
    config.train.epochs = 5
    config.train.batch_size = 128
    config.train.learning_rate = 1e-3
    config.train.grad_clip_norm = 1.0
    config.eval.jacobian_examples = 0
    config.eval.compare_pca = False
    return config
