"""The default aejax configuration: it declares every key an experiment may set.

Experiments (the other files of aejax/configs) start from this config and override values; a key that is not
declared here is an error (the message names the closest valid key). Run it as it is with

    aejax train --config default --workdir runs/default

Each block of the config is declared by its own builder below (`_data` declares `config.data`, and so on), in
the order the blocks appear in the config.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.data = _data()
    config.model = _model()
    config.loss = _loss()
    config.adversarial = _adversarial()
    config.train = _train()
    config.sweep = _sweep()
    config.pretrain = _pretrain()
    config.task = _task()
    config.checkpoint = _checkpoint()
    config.eval = _eval()
    return config


def _data() -> ml_collections.ConfigDict:
    """`config.data`: where the examples come from and how they are split and shaped."""
    data = ml_collections.ConfigDict()
    # digits | mnist | npz | sines (generated sums of sines: max_examples of them, 5000 if 0) | tfds:<name> |
    # arrays (arrays: passed to aejax.fit(data=...)) | movielens (a directory with u.data / ratings.dat /
    # ratings.csv; read by the autorec task) | dsprites | color_shapes (generated images with known factors,
    # aejax.data.factors: max_examples distinct ones, 20,000 if 0) | npy_dir (a directory of .npy shards, one
    # pool) | images (a folder of PNG/JPEG files, one pool).
    data.source = "digits"
    data.path = ""  # directory (mnist IDX files, tfds data_dir, npy_dir, images) or file (npz)
    # auto | memory | stream. memory: every split in memory and the training split on the device (the fast path);
    # stream: batches read from disk in a background thread, each process reading its share (npy_dir, images,
    # tfds:<name>; same batches, same bits); auto: stream a training pool over 512 MiB (aejax/data/streamed.py).
    data.pipeline = "auto"
    data.prefetch = 4  # stream: batches read ahead of the step
    data.val_fraction = 0.1  # used where the source has no validation split of its own
    data.test_fraction = 0.1  # used where the source has no test split of its own
    data.split_seed = 0  # the permutation that carves train/val/test from one pool
    data.max_examples = 0  # 0 keeps all; otherwise the pool is cut to this size before splitting
    data.flatten = True  # (N, H, W[, C]) -> (N, H*W*C) for MLP models
    # (N, H, W[, C]) images read as H-step sequences of W*C features (model.family='sequence'/'attention');
    # needs data.flatten=False.
    data.as_sequences = False
    data.sequence_length = 64  # sines: time steps per generated sequence
    # none | dynamic: train on a fresh x ~ Bernoulli(x) every step; val/test get one fixed sample (split_seed).
    data.binarize = "none"
    return data


def _model() -> ml_collections.ConfigDict:
    """`config.model`: the family and the parts it is built from."""
    model = ml_collections.ConfigDict()
    model.encoder = "mlp"  # mlp | conv (conv needs images: data.flatten=False)
    model.decoder = "mlp"  # mlp | conv
    model.latent_dim = 16
    model.hidden = (128,)  # encoder widths, input side first
    model.decoder_hidden = (-1,)  # (-1,) mirrors `hidden`; () means no hidden layer
    model.activation = "relu"
    model.code_activation = "identity"
    model.output_activation = "sigmoid"  # applied to decoder logits to give the reconstruction
    model.use_bias = True
    model.kernel_init = "lecun_normal"
    model.bias_init = 0.0
    model.dropout = 0.0
    model.layer_norm = False
    model.tied_weights = False  # decoder kernels = encoder kernels transposed (mirrored MLP only)
    # A registered family (aejax.families; `aejax.families.family_names()`) or a Family by import path
    # ("my_pkg.models:MY_FAMILY"). Settings every family shares live here in `model`; a family's own settings
    # live in its block `model.<family>` below (the adversarial autoencoder's in `adversarial`).
    # autoencoder | vae (Gaussian q(z|x) with a standard normal prior; loss.reconstruction is the likelihood:
    # bernoulli | gaussian (fixed loss.gaussian_scale) | gaussian_learned (per-feature learned scale)) |
    # factorvae (a VAE plus a discriminator's total-correlation penalty, Kim & Mnih 2018; model.factorvae) |
    # aae (adversarial autoencoder: a discriminator matches the codes to a prior; see `adversarial` below) |
    # vqvae (van den Oord et al. 2017; model.vqvae; add the vq_codebook and vq_commitment regularizers) |
    # sequence | attention | capsule (their blocks below).
    model.family = "autoencoder"
    # An encoder or decoder named by import path ("my_pkg.parts:MyEncoder", a flax Module class) is built with
    # these keyword settings, checked against its fields; it also gets latent_dim (the code width the family
    # needs) and input_shape (encoder) or output_shape (decoder) when it declares those fields.
    model.encoder_settings = ml_collections.ConfigDict()
    model.decoder_settings = ml_collections.ConfigDict()
    # Convolutional parts: strided 'SAME' convolutions (channels per stage), a dense bottleneck, and a mirrored
    # decoder; H and W must be divisible by conv_stride ** len(conv_features).
    model.conv_features = (32, 64)
    model.conv_kernel_size = 3
    model.conv_stride = 2
    model.norm = "none"  # none | batch (running statistics in TrainState) | group | layer
    model.upsample = "transpose"  # transpose | resize (nearest-neighbour resize, then a convolution)
    # auto | matmul (patches times kernel, transposed convolutions by output phase; fast on CPU) | xla
    # (lax.conv, cuDNN on GPU); auto picks matmul on CPU, xla elsewhere. Same parameters either way.
    model.conv_impl = "auto"
    # Code bottleneck on the encoder's linear output (model.family='autoencoder', code_activation='identity'):
    # none | quantize (symbols 0..quantize_levels-1, straight-through rounding; compression) | binary (bits,
    # straight-through; semantic hashing) | topk (k-sparse: the topk largest units kept, Makhzani & Frey 2013).
    model.bottleneck = "none"
    model.quantize_levels = 5
    model.topk = 0
    model.topk_alpha = 1.0  # topk: round(alpha * topk) units are kept at evaluation
    model.binary_noise = 0.0  # binary: std of Gaussian noise added to the code logits in training
    # topk: > 0 anneals k linearly from topk_start down to topk over the first topk_schedule_steps training steps
    # (Makhzani & Frey's remedy for dead units).
    model.topk_start = 0
    model.topk_schedule_steps = 0
    # A family's own settings live in its block `model.<family>`, added to this schema from the family's settings
    # dataclass (aejax/families/settings.py holds the built-in ones, with their defaults and meaning):
    #   model.vqvae: num_embeddings, embedding_dim
    #   model.factorvae: gamma, discriminator_hidden, discriminator_activation, discriminator_learning_rate,
    #     beta1, beta2 (aejax/models/factor_vae.py)
    #   model.sequence: cell (lstm | gru), hidden, layers, bidirectional, teacher_forcing, code_each_step
    #   model.attention: patch_size, model_dim, num_heads, layers, mlp_dim, num_memory, mask_ratio
    #   model.capsule: conv_features, conv_kernel, primary_channels, primary_dim, primary_kernel,
    #                  primary_stride, num_capsules, capsule_dim, routing_iterations
    # e.g. config.model.sequence.cell = "gru" or --config.model.sequence.cell=gru.
    return model


def _loss() -> ml_collections.ConfigDict:
    """`config.loss`: the reconstruction term, the regularizers and the input corruption."""
    loss = ml_collections.ConfigDict()
    # mse | l1 | bernoulli | observed_sse | gaussian | gaussian_learned | hidden_mse (masked-patch attention);
    # mse and l1 count only real time steps of padded sequences.
    loss.reconstruction = "mse"
    loss.gaussian_scale = 1.0  # sigma of the 'gaussian' likelihood (VAE)
    loss.iwae_samples = 1  # VAE: > 1 trains on the k-sample importance-weighted bound (IWAE)
    # label -> {"fn": registry name or "package.module:function", "weight": float, **settings}, e.g.
    # {"sparse": {"fn": "kl_sparsity", "weight": 0.1, "rho": 0.05}}. Registered: code_l1, code_l2,
    # kl_sparsity, kl_standard_normal (VAE; free_bits), contractive, contractive_hutchinson, weight_l1,
    # weight_l2, bias_l1, bias_l2. Optional "warmup": none | linear | cyclical with "warmup_steps" scales the
    # weight by a ramp of the step (e.g. a beta-VAE KL warm-up).
    loss.regularizers = ml_collections.ConfigDict()
    # Denoising: the encoder sees a corrupted input and the loss compares with the clean one.
    loss.corruption = ml_collections.ConfigDict()
    # none | gaussian | masking | salt_and_pepper | inpainting holes (missing pixels are set to -1):
    # centre_square | random_boxes | random_pixels
    loss.corruption.kind = "none"
    loss.corruption.std = 0.3  # gaussian
    loss.corruption.std_max = 0.0  # gaussian: > std draws each example's std from U(std, std_max)
    loss.corruption.clip = True  # gaussian: clip the noisy input back to [0, 1]
    loss.corruption.fraction = 0.25  # masking, salt_and_pepper: probability an input is hit
    loss.corruption.low = 0.0  # salt_and_pepper values
    loss.corruption.high = 1.0
    loss.corruption.size = 8  # centre_square: side; random_boxes: largest side
    loss.corruption.num_boxes = 3  # random_boxes
    loss.reconstruction_weight = 1.0  # weight of the reconstruction term (e.g. < 1: known pixels count less)
    # Augmentation of training batches (aejax/data/augment.py): none | affine (each example rotated by
    # U(-rotation, rotation) degrees and shifted by a whole number of pixels in -shift..shift per axis, fresh
    # every step; input and target are the same moved image). Validation, test and evaluation see the data as
    # they are. Flat rows are read as square single-channel images unless shape gives (H, W[, C]).
    loss.augment = ml_collections.ConfigDict()
    loss.augment.kind = "none"
    loss.augment.shift = 2
    loss.augment.rotation = 10.0
    loss.augment.shape = ()
    return loss


def _adversarial() -> ml_collections.ConfigDict:
    """`config.adversarial`: the adversarial autoencoder (model.family='aae', Makhzani et al. 2015).

    Each step, after the reconstruction update, a discriminator on codes learns prior draws (real) from codes of
    the batch (fake), then the encoder is updated to fool it; the discriminator and this generator phase each
    have their own Adam optimizer.
    """
    adversarial = ml_collections.ConfigDict()
    # gaussian: N(0, I) | mixture: mixture_components equally weighted Gaussians in code units 0 and 1, centred on
    # a circle of radius mixture_radius with std mixture_std; further code units are N(0, 1).
    adversarial.prior = "gaussian"
    adversarial.mixture_components = 10
    adversarial.mixture_radius = 4.0
    adversarial.mixture_std = 0.5
    adversarial.discriminator_hidden = (256, 256)  # MLP widths, then one logit
    adversarial.discriminator_activation = "leaky_relu"
    adversarial.discriminator_learning_rate = 5e-4  # 0 freezes the discriminator
    adversarial.generator_learning_rate = 5e-4  # the encoder's adversarial phase; 0 freezes it
    # Scales the generator loss. Adam is nearly invariant to a constant loss scale, so with these optimizers it
    # mostly acts as a switch (0 turns the phase off); generator_learning_rate sets the strength.
    adversarial.generator_weight = 1.0
    adversarial.beta1 = 0.5  # Adam first-moment decay of both adversarial optimizers
    adversarial.mmd_bandwidth = 0.0  # eval: Gaussian-kernel width; 0 = median heuristic on prior draws
    adversarial.eval_examples = 2000  # eval: codes (and as many prior draws) for MMD and accuracy
    return adversarial


def _train() -> ml_collections.ConfigDict:
    """`config.train`: the optimizer, its schedule, stopping, logging and how steps are dispatched."""
    train = ml_collections.ConfigDict()
    train.epochs = 20
    train.batch_size = 128
    train.eval_batch_size = 1024
    train.optimizer = "adam"  # adam | adamw | sgd | momentum
    train.learning_rate = 1e-3
    train.weight_decay = 0.0  # decoupled weight decay of kernels (adamw, or added before sgd/momentum)
    train.schedule = "constant"  # constant | warmup_cosine
    train.warmup_steps = 0
    train.min_learning_rate_ratio = 0.0  # cosine floor as a fraction of the peak rate
    train.grad_clip_norm = 0.0  # 0 turns clipping off
    train.early_stopping_patience = 0  # epochs without val improvement; 0 turns it off
    train.early_stopping_min_delta = 0.0
    train.log_every_steps = 25
    train.log_norms = True  # grad/param norms in the metrics (about 15% of a small model's step on CPU)
    train.progress = True
    # Metric writers beside metrics.jsonl (always written; "jsonl" may be named): tensorboard (event files in
    # workdir/tensorboard: scalars `<split>/<metric>` at each logging point and validation, and (with eval.plots) pictures of
    # validation examples over their reconstructions, plus prior samples for generative families, at each
    # validation; no TensorFlow needed); mlflow (one MLflow run per workdir, when MLflow is installed:
    # MLFLOW_TRACKING_URI, else a file store in workdir/mlruns). A resumed run appends each step once. ()
    # for none.
    train.writers = ("tensorboard",)
    # Data parallelism (aejax/training/parallel.py): auto (sharded over a ("data",) mesh when several accelerator
    # devices are visible, else single) | single | sharded | pmap. The batch size must divide by the devices.
    train.backend = "auto"
    # > 1: that many train steps per dispatch in one lax.scan over the device-resident training split
    # (bit-identical to single steps; single device, plain train step). 0 (auto): the largest divisor of
    # log_every_steps up to 10 for the plain single-device step in runs of 20,000 steps or more
    # (AUTO_FUSE_MIN_STEPS), else 1.
    train.steps_per_dispatch = 0
    # > 0: each step's gradient is averaged over slices of this many examples in a lax.scan (must divide the
    # batch; = batch_size turns it off). The same update for per-example objectives, with a working set that
    # stays in cache: conv models on CPU run 1.1-1.5x faster. Not with batch statistics (model.norm='batch').
    # 0 (auto): slices of at most 64 MNIST-sized images for models with 2-D convolutions on one CPU device when
    # every loss term is per-example (not kl_sparsity, mmd_to_prior, free bits, or a user's regularizer without
    # `fn.per_example = True`); whole batches otherwise. fit's results report the size used.
    train.microbatch_size = 0
    return train


def _sweep() -> ml_collections.ConfigDict:
    """`config.sweep`: vmapped sweeps (aejax/sweep.py).

    The grid of these values trains as one compiled program, one member per combination, written to
    workdir/member_<i>. Keys mirror the config paths they vary, each ending in a list: seed,
    train.learning_rate, loss.regularizers.<label>.weight, e.g.

        config.sweep = {"seed": [0, 1, 2], "loss": {"regularizers": {"sparse": {"weight": [0.01, 0.1]}}}}

    or --config.sweep.seed=[0,1,2] on the command line. Empty: a single run.
    """
    return ml_collections.ConfigDict()


def _pretrain() -> ml_collections.ConfigDict:
    """`config.pretrain`: greedy layer-wise pretraining (stacked autoencoders).

    Each layer of the MLP is first trained as a shallow autoencoder on the codes of the layers below it, then the
    deep model is fine-tuned end to end.
    """
    pretrain = ml_collections.ConfigDict()
    pretrain.method = "none"  # none | greedy
    pretrain.epochs = 5  # per layer
    pretrain.learning_rate = 0.0  # 0 uses train.learning_rate
    return pretrain


def _task() -> ml_collections.ConfigDict:
    """`config.task`: applications, run with `aejax task --config ... --workdir ...` (see aejax/tasks)."""
    task = ml_collections.ConfigDict()
    # reduce | features | anomaly | autorec | denoise | inpaint | segmentation | compress | hashing | ksparse |
    # sequence_anomaly | disentangle
    task.name = "none"
    # reduce: one autoencoder per code size, next to PCA; compress: code sizes of the quantized models;
    # hashing: bits of the binary codes
    task.code_sizes = (2, 10, 30)
    task.quantize_levels = (3, 5)  # compress: one model per code size x levels
    task.jpeg_qualities = (1, 5, 10, 20, 30, 50, 75, 90)  # compress: JPEG (Pillow) baseline settings
    task.retrieval_k = 100  # hashing: precision@k
    task.sparse_ks = (10, 25, 40, 70)  # ksparse: one model per k (code units kept in training)
    task.anomaly_fraction = 0.2  # sequence_anomaly: fraction of anomalous generated test sequences
    task.window = 5  # sequence_anomaly: moving-average window of the z-score baseline
    task.neighbors = 5  # reduce: trustworthiness neighbourhood; features: k of the k-NN classifier
    task.max_examples = 2000  # reduce/features: cap on test examples for the O(n^2) measures
    task.noise_levels = (0.2, 0.3, 0.5)  # denoise: Gaussian sigmas of the test corruption
    task.normal_class = 0  # anomaly: train on this label; the other labels are the anomalies
    task.contamination = 0.05  # anomaly: threshold = this upper quantile of the training scores
    task.orientation = "item"  # autorec: rows are items (I-AutoRec) or users (U-AutoRec)
    task.test_ratio = 0.1  # autorec: held-out fraction of the ratings (seeded by data.split_seed)
    # autorec: candidate weights of the weight_l2 term, chosen on a validation part (val_ratio) of the training
    # ratings, then the model is retrained on all training ratings; () keeps the configured weight.
    task.l2_weights = ()
    task.val_ratio = 0.1
    # disentangle: models trained on generated ground-truth data (data.source dsprites | color_shapes), each
    # over task.seeds, scored by every metric of aejax.disentanglement (see aejax/tasks/disentangle.py)
    task.models = ("vae", "beta_vae", "beta_tcvae", "factorvae", "dip_vae_i")
    task.seeds = (0, 1, 2)
    task.beta = 4.0  # beta_vae: weight of the KL
    task.tc_beta = 6.0  # beta_tcvae: weight of the total correlation
    task.factor_gamma = 35.0  # factorvae: weight of the discriminator's TC estimate
    task.dip_weight = (
        10.0  # dip_vae_i / dip_vae_ii: lambda_od (lambda_d = 10 lambda_od for I, = lambda_od for II)
    )
    task.capacity = 25.0  # annealed_capacity: the KL target C in nats, reached at the last step
    task.metric_examples = 10000  # codes of fresh samples for mig, sap, dci, modularity
    task.score_examples = 5000  # beta_vae / factor_vae scores: training points (evaluation points: half)
    return task


def _checkpoint() -> ml_collections.ConfigDict:
    """`config.checkpoint`: how often checkpoints are written, how many are kept, and which weights are the
    run's result."""
    checkpoint = ml_collections.ConfigDict()
    # Saves: at the end, on early stopping and on a preemption signal, plus wherever a cadence set here falls
    # due (0 turns one off): every_steps steps, every every_epochs-th epoch end, and the first logging point
    # (train.log_every_steps, an epoch end) every_seconds after the previous save. Saves are asynchronous (the
    # copy of the state to the host blocks, the write does not); a kill -9 resumes from the newest complete one.
    checkpoint.every_steps = 0
    checkpoint.every_epochs = 0
    checkpoint.every_seconds = 30.0
    checkpoint.max_to_keep = 3
    # With a validation split, the run's result (what fit returns, aejax.load reads and results.json evaluates)
    # is the state of the epoch with the best validation value (the family's monitored metric, as early stopping
    # watches it); a resume still continues from the newest state. False: the last state is the result.
    checkpoint.keep_best = True
    return checkpoint


def _eval() -> ml_collections.ConfigDict:
    """`config.eval`: what the evaluation after training measures and draws."""
    evaluation = ml_collections.ConfigDict()
    evaluation.plots = True
    evaluation.num_images = 16
    evaluation.compare_pca = True
    evaluation.active_threshold = 0.1  # a code unit counts as active for an example when |h| > this
    evaluation.jacobian_examples = 1000  # test examples for the mean encoder Jacobian norm; 0 skips it
    evaluation.log_likelihood_samples = 0  # VAE: importance samples for the test NLL (e.g. 5000); 0 skips
    evaluation.log_likelihood_examples = 1000  # VAE: test examples the NLL is estimated on
    return evaluation
