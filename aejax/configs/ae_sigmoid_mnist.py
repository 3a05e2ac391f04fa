"""ae_mnist.py with sigmoid code units: the unregularized baseline for the contractive autoencoders.

    aejax train --config ae_sigmoid_mnist --workdir runs/ae_sigmoid_mnist

A bounded code keeps the Jacobian comparison honest: with an unbounded (identity) code a contractive
penalty can be met by shrinking the code and scaling the decoder up, without any real contraction.
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("ae_mnist")
    config.model.code_activation = "sigmoid"
    return config
