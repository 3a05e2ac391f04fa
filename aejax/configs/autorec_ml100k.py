"""I-AutoRec on MovieLens 100k: each of the 1,682 items is a vector of its ratings by the 943 users (0 = none);
a 500-unit sigmoid autoencoder is trained on the observed entries of 90% of the ratings (seeded split) and
predicts the held-out 10%.

    aejax task --config autorec_ml100k --workdir runs/autorec_ml100k --config.data.path=../shared/data/ml-100k

The weight_l2 weight is selected from task.l2_weights on a validation part of the training ratings, then
the model is retrained on all of them. Prints test RMSE next to the biased baseline (mu + b_u + b_i) on the
same split; writes autorec.json and autorec_predictions.png. The weight penalty is the paper's lambda/2 ||W||^2 divided by the number of rows in a
batch, since aejax averages the per-row loss over the batch.
"""

from aejax.config import load_default


def get_config():
    config = load_default()
    config.task.name = "autorec"
    config.task.orientation = "item"
    config.task.test_ratio = 0.1
    config.task.l2_weights = (
        0.01,
        0.1,
        0.5,
    )  # chosen on 10% of the training ratings, never on the test split
    config.data.source = "movielens"
    config.data.path = "../shared/data/ml-100k"
    config.data.flatten = False
    config.model.hidden = ()
    config.model.latent_dim = 500
    config.model.code_activation = "sigmoid"
    config.model.output_activation = "identity"
    config.loss.reconstruction = "observed_sse"
    config.loss.regularizers = {"l2": {"fn": "weight_l2", "weight": 0.1}}
    config.train.epochs = 100
    config.train.batch_size = 64
    config.train.learning_rate = 1e-3
    config.train.log_every_steps = 100
    config.eval.plots = False
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    return config
