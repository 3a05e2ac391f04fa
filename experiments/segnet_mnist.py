"""SegNet-style segmentation of 48x48 canvases holding 2-4 real MNIST digits (4000/500/1000 canvases built from
the 8k/1k/1k digit split; each pixel labelled with its digit's class or background), run as the
`segmentation` task: max-pooling indices reused for unpooling, per-pixel softmax cross-entropy; test pixel
accuracy and mean IoU, and overlays.png.

Defined in aejax/configs/segnet_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/segnet_mnist.py` in a checkout and `--config segnet_mnist` anywhere run the same config:

    aejax task --config segnet_mnist --workdir runs/segnet_mnist
"""

from aejax.configs.segnet_mnist import get_config

__all__ = ["get_config"]
