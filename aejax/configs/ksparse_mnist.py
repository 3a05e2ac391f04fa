"""k-sparse autoencoders on MNIST (Makhzani & Frey 2013): one hidden layer of 1000 linear code units, the k
largest kept per example (k annealed from 100 over the first half of training), a tied mirrored decoder;
k in (10, 25, 40, 70); 3k units kept when encoding for the probes.

    aejax task --config ksparse_mnist --workdir runs/ksparse_mnist

Writes ksparse.json / ksparse.md (test MSE, dead units, linear-probe and k-NN accuracy per k) and
k<k>/unit_pictures.png. Expected (2 CPU cores, about 5 minutes): see the README's k-sparse table.
"""

from aejax.config import load_default


def get_config():
    config = load_default()
    config.data.source = "mnist"
    config.data.path = "../shared/data/mnist"
    config.model.latent_dim = 1000
    config.model.hidden = ()
    config.model.bottleneck = "topk"
    config.model.topk_alpha = 3.0
    # k falls linearly from 100 to k over the first half of training (Makhzani & Frey), against dead units.
    config.model.topk_start = 100
    config.model.topk_schedule_steps = 930
    config.model.tied_weights = True
    config.train.epochs = 30
    config.train.batch_size = 128
    config.train.learning_rate = 1e-3
    config.train.schedule = "warmup_cosine"
    config.train.warmup_steps = 200
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    config.task.name = "ksparse"
    config.task.sparse_ks = (10, 25, 40, 70)
    config.task.max_examples = 2000
    return config
