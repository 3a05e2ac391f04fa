"""Learned compression of MNIST against JPEG: quantized-code MLP autoencoders (7 code sizes x 2 level counts),
arithmetic-coded with per-unit symbol frequencies learned on the 8k training split, on the 1k test images.

    aejax task --config experiments/compress_mnist.py --workdir runs/compress_mnist

Writes compress.json / compress.md (bits per pixel from actual bytes, mean PSNR) and rate_distortion.png.
Expected (2 CPU cores, jax 0.10.2, about 10 minutes): see the README's compression table; the learned codec
beats JPEG's scan bytes alone (let alone its files) at every rate it reaches (up to about 0.2 bpp).
"""

from aejax.config import load_default


def get_config():
    config = load_default()
    config.data.source = "mnist"
    config.data.path = "../shared/data/mnist"
    config.model.hidden = (512, 256)
    config.model.bottleneck = "quantize"
    config.train.epochs = 30
    config.train.batch_size = 128
    config.train.learning_rate = 2e-3
    config.train.schedule = "warmup_cosine"
    config.train.warmup_steps = 200
    config.train.grad_clip_norm = 1.0
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    config.task.name = "compress"
    config.task.code_sizes = (4, 8, 16, 32, 64, 128, 256)
    config.task.quantize_levels = (3, 7)
    config.task.jpeg_qualities = (1, 5, 10, 20, 30, 50, 75, 90)
    return config
