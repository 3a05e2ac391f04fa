"""SegNet-style segmentation of 48x48 canvases holding 2-4 real MNIST digits (4000/500/1000 canvases built from
the 8k/1k/1k digit split; each pixel labelled with its digit's class or background), run as the
`segmentation` task: max-pooling indices reused for unpooling, per-pixel softmax cross-entropy; test pixel
accuracy and mean IoU, and overlays.png.

    aejax task --config segnet_mnist --workdir runs/segnet_mnist
"""

from aejax.config import load_default


def get_config():
    config = load_default()
    config.task.name = "segmentation"
    config.data.source = "mnist"
    config.data.path = "../shared/data/mnist"
    config.data.flatten = False
    config.model.conv_features = (16, 32, 64)
    config.model.norm = "batch"
    config.train.epochs = 5
    config.train.batch_size = 32
    config.train.learning_rate = 3e-3
    return config
