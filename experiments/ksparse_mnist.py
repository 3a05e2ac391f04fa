"""k-sparse autoencoders on MNIST (Makhzani & Frey 2013): one hidden layer of 1000 linear code units, the k
largest kept per example (k annealed from 100 over the first half of training), a tied mirrored decoder;
k in (10, 25, 40, 70); 3k units kept when encoding for the probes.

Defined in aejax/configs/ksparse_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/ksparse_mnist.py` in a checkout and `--config ksparse_mnist` anywhere run the same config:

    aejax task --config ksparse_mnist --workdir runs/ksparse_mnist
"""

from aejax.configs.ksparse_mnist import get_config

__all__ = ["get_config"]
