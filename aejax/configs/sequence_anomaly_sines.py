"""Sequence anomalies: an LSTM autoencoder trained on 4000 clean generated sums of sines (64 steps) scores 1000
generated test sequences of which 20% hold a spike, a level shift or a frequency change.

    aejax task --config sequence_anomaly_sines --workdir runs/sequence_anomaly_sines

Writes sequence_anomaly.json (AUROC per sequence and per time step, per kind, next to a moving-average z-score
baseline), roc.png and sequence_anomalies.png. Expected (2 CPU cores): see the README's sequence section.
"""

from aejax.config import load_default


def get_config():
    config = load_default()
    config.data.source = "sines"
    config.data.max_examples = 5000
    config.data.sequence_length = 64
    config.data.flatten = False
    config.model.family = "sequence"
    config.model.sequence.cell = "lstm"
    config.model.sequence.hidden = 64
    config.model.latent_dim = 16
    config.model.output_activation = "identity"
    config.model.sequence.teacher_forcing = 0.0  # trained free running, as it is evaluated
    config.model.sequence.code_each_step = True
    config.train.epochs = 30
    config.train.batch_size = 64
    config.train.learning_rate = 3e-3
    config.train.schedule = "warmup_cosine"
    config.train.warmup_steps = 100
    config.train.grad_clip_norm = 1.0
    config.eval.jacobian_examples = 0
    config.eval.compare_pca = True
    config.task.name = "sequence_anomaly"
    config.task.anomaly_fraction = 0.2
    return config
