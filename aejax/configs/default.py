"""The default aejax configuration: it declares every key an experiment may set.

Experiments (the other files of aejax/configs) start from this config and override values; a key that is not
declared here is an error (the message names the closest valid key). Run it as it is with

    aejax train --config default --workdir runs/default
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    # digits | mnist | npz | sines (generated sums of sines: max_examples of them, 5000 if 0) | tfds:<name> |
    # arrays (arrays: passed to aejax.fit(data=...)) | movielens (a directory with u.data / ratings.dat /
    # ratings.csv; read by the autorec task).
    config.data.source = "digits"
    config.data.path = ""  # directory (mnist IDX files, tfds data_dir) or file (npz)
    config.data.val_fraction = 0.1  # used where the source has no validation split of its own
    config.data.test_fraction = 0.1  # used where the source has no test split of its own
    config.data.split_seed = 0  # the permutation that carves train/val/test from one pool
    config.data.max_examples = 0  # 0 keeps all; otherwise the pool is cut to this size before splitting
    config.data.flatten = True  # (N, H, W[, C]) -> (N, H*W*C) for MLP models
    # (N, H, W[, C]) images read as H-step sequences of W*C features (model.family='sequence'/'attention');
    # needs data.flatten=False.
    config.data.as_sequences = False
    config.data.sequence_length = 64  # sines: time steps per generated sequence
    # none | dynamic: train on a fresh x ~ Bernoulli(x) every step; val/test get one fixed sample (split_seed).
    config.data.binarize = "none"

    config.model = ml_collections.ConfigDict()
    config.model.encoder = "mlp"  # mlp | conv (conv needs images: data.flatten=False)
    config.model.decoder = "mlp"  # mlp | conv
    config.model.latent_dim = 16
    config.model.hidden = (128,)  # encoder widths, input side first
    config.model.decoder_hidden = (-1,)  # (-1,) mirrors `hidden`; () means no hidden layer
    config.model.activation = "relu"
    config.model.code_activation = "identity"
    config.model.output_activation = "sigmoid"  # applied to decoder logits to give the reconstruction
    config.model.use_bias = True
    config.model.kernel_init = "lecun_normal"
    config.model.bias_init = 0.0
    config.model.dropout = 0.0
    config.model.layer_norm = False
    config.model.tied_weights = False  # decoder kernels = encoder kernels transposed (mirrored MLP only)
    # A registered family (aejax.families; `aejax.families.family_names()`) or a Family by import path
    # ("my_pkg.models:MY_FAMILY"). Settings every family shares live here in `model`; a family's own settings
    # live in its block `model.<family>` below (the adversarial autoencoder's in `adversarial`).
    # autoencoder | vae (Gaussian q(z|x) with a standard normal prior; loss.reconstruction is the likelihood:
    # bernoulli | gaussian (fixed loss.gaussian_scale) | gaussian_learned (per-feature learned scale)) |
    # aae (adversarial autoencoder: a discriminator matches the codes to a prior; see `adversarial` below) |
    # vqvae (van den Oord et al. 2017; model.vqvae; add the vq_codebook and vq_commitment regularizers) |
    # sequence | attention | capsule (their blocks below).
    config.model.family = "autoencoder"
    # An encoder or decoder named by import path ("my_pkg.parts:MyEncoder", a flax Module class) is built with
    # these keyword settings, checked against its fields; it also gets latent_dim (the code width the family
    # needs) and input_shape (encoder) or output_shape (decoder) when it declares those fields.
    config.model.encoder_settings = ml_collections.ConfigDict()
    config.model.decoder_settings = ml_collections.ConfigDict()
    # Convolutional parts: strided 'SAME' convolutions (channels per stage), a dense bottleneck, and a mirrored
    # decoder; H and W must be divisible by conv_stride ** len(conv_features).
    config.model.conv_features = (32, 64)
    config.model.conv_kernel_size = 3
    config.model.conv_stride = 2
    config.model.norm = "none"  # none | batch (running statistics in TrainState) | group | layer
    config.model.upsample = "transpose"  # transpose | resize (nearest-neighbour resize, then a convolution)
    # auto | matmul (patches times kernel, transposed convolutions by output phase; fast on CPU) | xla
    # (lax.conv, cuDNN on GPU); auto picks matmul on CPU, xla elsewhere. Same parameters either way.
    config.model.conv_impl = "auto"
    # Code bottleneck on the encoder's linear output (model.family='autoencoder', code_activation='identity'):
    # none | quantize (symbols 0..quantize_levels-1, straight-through rounding; compression) | binary (bits,
    # straight-through; semantic hashing) | topk (k-sparse: the topk largest units kept, Makhzani & Frey 2013).
    config.model.bottleneck = "none"
    config.model.quantize_levels = 5
    config.model.topk = 0
    config.model.topk_alpha = 1.0  # topk: round(alpha * topk) units are kept at evaluation
    config.model.binary_noise = 0.0  # binary: std of Gaussian noise added to the code logits in training
    # topk: > 0 anneals k linearly from topk_start down to topk over the first topk_schedule_steps training steps
    # (Makhzani & Frey's remedy for dead units).
    config.model.topk_start = 0
    config.model.topk_schedule_steps = 0
    # A family's own settings live in its block `model.<family>`, added to this schema from the family's settings
    # dataclass (aejax/families/settings.py holds the built-in ones, with their defaults and meaning):
    #   model.vqvae: num_embeddings, embedding_dim
    #   model.sequence: cell (lstm | gru), hidden, layers, bidirectional, teacher_forcing, code_each_step
    #   model.attention: patch_size, model_dim, num_heads, layers, mlp_dim, num_memory, mask_ratio
    #   model.capsule: conv_features, conv_kernel, primary_channels, primary_dim, primary_kernel,
    #                  primary_stride, num_capsules, capsule_dim, routing_iterations
    # e.g. config.model.sequence.cell = "gru" or --config.model.sequence.cell=gru.

    config.loss = ml_collections.ConfigDict()
    # mse | l1 | bernoulli | observed_sse | gaussian | gaussian_learned | hidden_mse (masked-patch attention);
    # mse and l1 count only real time steps of padded sequences.
    config.loss.reconstruction = "mse"
    config.loss.gaussian_scale = 1.0  # sigma of the 'gaussian' likelihood (VAE)
    config.loss.iwae_samples = 1  # VAE: > 1 trains on the k-sample importance-weighted bound (IWAE)
    # label -> {"fn": registry name or "package.module:function", "weight": float, **settings}, e.g.
    # {"sparse": {"fn": "kl_sparsity", "weight": 0.1, "rho": 0.05}}. Registered: code_l1, code_l2,
    # kl_sparsity, kl_standard_normal (VAE; free_bits), contractive, contractive_hutchinson, weight_l1,
    # weight_l2, bias_l1, bias_l2. Optional "warmup": none | linear | cyclical with "warmup_steps" scales the
    # weight by a ramp of the step (e.g. a beta-VAE KL warm-up).
    config.loss.regularizers = ml_collections.ConfigDict()
    # Denoising: the encoder sees a corrupted input and the loss compares with the clean one.
    config.loss.corruption = ml_collections.ConfigDict()
    # none | gaussian | masking | salt_and_pepper | inpainting holes (missing pixels are set to -1):
    # centre_square | random_boxes | random_pixels
    config.loss.corruption.kind = "none"
    config.loss.corruption.std = 0.3  # gaussian
    config.loss.corruption.std_max = 0.0  # gaussian: > std draws each example's std from U(std, std_max)
    config.loss.corruption.clip = True  # gaussian: clip the noisy input back to [0, 1]
    config.loss.corruption.fraction = 0.25  # masking, salt_and_pepper: probability an input is hit
    config.loss.corruption.low = 0.0  # salt_and_pepper values
    config.loss.corruption.high = 1.0
    config.loss.corruption.size = 8  # centre_square: side; random_boxes: largest side
    config.loss.corruption.num_boxes = 3  # random_boxes
    config.loss.reconstruction_weight = (
        1.0  # weight of the reconstruction term (e.g. < 1: known pixels count less)
    )

    # Adversarial autoencoder (model.family='aae', Makhzani et al. 2015). Each step, after the reconstruction
    # update, a discriminator on codes learns prior draws (real) from codes of the batch (fake), then the encoder
    # is updated to fool it; the discriminator and this generator phase each have their own Adam optimizer.
    config.adversarial = ml_collections.ConfigDict()
    # gaussian: N(0, I) | mixture: mixture_components equally weighted Gaussians in code units 0 and 1, centred on
    # a circle of radius mixture_radius with std mixture_std; further code units are N(0, 1).
    config.adversarial.prior = "gaussian"
    config.adversarial.mixture_components = 10
    config.adversarial.mixture_radius = 4.0
    config.adversarial.mixture_std = 0.5
    config.adversarial.discriminator_hidden = (256, 256)  # MLP widths, then one logit
    config.adversarial.discriminator_activation = "leaky_relu"
    config.adversarial.discriminator_learning_rate = 5e-4  # 0 freezes the discriminator
    config.adversarial.generator_learning_rate = 5e-4  # the encoder's adversarial phase; 0 freezes it
    # Scales the generator loss. Adam is nearly invariant to a constant loss scale, so with these optimizers it
    # mostly acts as a switch (0 turns the phase off); generator_learning_rate sets the strength.
    config.adversarial.generator_weight = 1.0
    config.adversarial.beta1 = 0.5  # Adam first-moment decay of both adversarial optimizers
    config.adversarial.mmd_bandwidth = 0.0  # eval: Gaussian-kernel width; 0 = median heuristic on prior draws
    config.adversarial.eval_examples = 2000  # eval: codes (and as many prior draws) for MMD and accuracy

    config.train = ml_collections.ConfigDict()
    config.train.epochs = 20
    config.train.batch_size = 128
    config.train.eval_batch_size = 1024
    config.train.optimizer = "adam"  # adam | adamw | sgd | momentum
    config.train.learning_rate = 1e-3
    config.train.weight_decay = 0.0  # decoupled weight decay of kernels (adamw, or added before sgd/momentum)
    config.train.schedule = "constant"  # constant | warmup_cosine
    config.train.warmup_steps = 0
    config.train.min_learning_rate_ratio = 0.0  # cosine floor as a fraction of the peak rate
    config.train.grad_clip_norm = 0.0  # 0 turns clipping off
    config.train.early_stopping_patience = 0  # epochs without val improvement; 0 turns it off
    config.train.early_stopping_min_delta = 0.0
    config.train.log_every_steps = 25
    config.train.log_norms = (
        True  # grad/param norms in the metrics (about 15% of a small model's step on CPU)
    )
    config.train.progress = True
    # Data parallelism (aejax/training/parallel.py): auto (sharded over a ("data",) mesh when several accelerator
    # devices are visible, else single) | single | sharded | pmap. The batch size must divide by the devices.
    config.train.backend = "auto"
    # > 1: that many train steps per dispatch in one lax.scan over the device-resident training split
    # (bit-identical to single steps; single device, plain train step). 0 (auto): the largest divisor of
    # log_every_steps up to 10 for the plain single-device step in runs of 500 steps or more, else 1.
    config.train.steps_per_dispatch = 0
    # > 0: each step's gradient is averaged over slices of this many examples in a lax.scan (must divide the
    # batch; = batch_size turns it off). The same update for per-example objectives, with a working set that
    # stays in cache: conv models on CPU run 1.1-1.5x faster. Not with batch statistics (model.norm='batch').
    # 0 (auto): slices of at most 64 MNIST-sized images for models with 2-D convolutions on one CPU device when
    # every loss term is per-example (not kl_sparsity, mmd_to_prior, free bits, or a user's regularizer without
    # `fn.per_example = True`); whole batches otherwise. fit's results report the size used.
    config.train.microbatch_size = 0

    # Vmapped sweeps (aejax/sweep.py): the grid of these values trains as one compiled program, one member per
    # combination, written to workdir/member_<i>. Keys mirror the config paths they vary, each ending in a list:
    # seed, train.learning_rate, loss.regularizers.<label>.weight, e.g.
    #   config.sweep = {"seed": [0, 1, 2], "loss": {"regularizers": {"sparse": {"weight": [0.01, 0.1]}}}}
    # or --config.sweep.seed=[0,1,2] on the command line. Empty: a single run.
    config.sweep = ml_collections.ConfigDict()

    # Greedy layer-wise pretraining (stacked autoencoders): each layer of the MLP is first trained as a
    # shallow autoencoder on the codes of the layers below it, then the deep model is fine-tuned end to end.
    config.pretrain = ml_collections.ConfigDict()
    config.pretrain.method = "none"  # none | greedy
    config.pretrain.epochs = 5  # per layer
    config.pretrain.learning_rate = 0.0  # 0 uses train.learning_rate

    # Applications, run with `aejax task --config ... --workdir ...` (see aejax/tasks).
    config.task = ml_collections.ConfigDict()
    # reduce | features | anomaly | autorec | denoise | inpaint | segmentation | compress | hashing | ksparse |
    # sequence_anomaly
    config.task.name = "none"
    # reduce: one autoencoder per code size, next to PCA; compress: code sizes of the quantized models;
    # hashing: bits of the binary codes
    config.task.code_sizes = (2, 10, 30)
    config.task.quantize_levels = (3, 5)  # compress: one model per code size x levels
    config.task.jpeg_qualities = (1, 5, 10, 20, 30, 50, 75, 90)  # compress: JPEG (Pillow) baseline settings
    config.task.retrieval_k = 100  # hashing: precision@k
    config.task.sparse_ks = (10, 25, 40, 70)  # ksparse: one model per k (code units kept in training)
    config.task.anomaly_fraction = 0.2  # sequence_anomaly: fraction of anomalous generated test sequences
    config.task.window = 5  # sequence_anomaly: moving-average window of the z-score baseline
    config.task.neighbors = 5  # reduce: trustworthiness neighbourhood; features: k of the k-NN classifier
    config.task.max_examples = 2000  # reduce/features: cap on test examples for the O(n^2) measures
    config.task.noise_levels = (0.2, 0.3, 0.5)  # denoise: Gaussian sigmas of the test corruption
    config.task.normal_class = 0  # anomaly: train on this label; the other labels are the anomalies
    config.task.contamination = 0.05  # anomaly: threshold = this upper quantile of the training scores
    config.task.orientation = "item"  # autorec: rows are items (I-AutoRec) or users (U-AutoRec)
    config.task.test_ratio = 0.1  # autorec: held-out fraction of the ratings (seeded by data.split_seed)
    # autorec: candidate weights of the weight_l2 term, chosen on a validation part (val_ratio) of the training
    # ratings, then the model is retrained on all training ratings; () keeps the configured weight.
    config.task.l2_weights = ()
    config.task.val_ratio = 0.1

    config.checkpoint = ml_collections.ConfigDict()
    config.checkpoint.every_steps = 0  # 0 saves at the end of every epoch
    config.checkpoint.max_to_keep = 3

    config.eval = ml_collections.ConfigDict()
    config.eval.plots = True
    config.eval.num_images = 16
    config.eval.compare_pca = True
    config.eval.active_threshold = 0.1  # a code unit counts as active for an example when |h| > this
    config.eval.jacobian_examples = 1000  # test examples for the mean encoder Jacobian norm; 0 skips it
    config.eval.log_likelihood_samples = 0  # VAE: importance samples for the test NLL (e.g. 5000); 0 skips
    config.eval.log_likelihood_examples = 1000  # VAE: test examples the NLL is estimated on
    return config
