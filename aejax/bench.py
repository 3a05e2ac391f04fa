"""Train-step throughput (`aejax bench`, also `python benchmarks/step_throughput.py`): steps/s and samples/s
(median and spread over repeats after warm-up), compile time, GFLOP per step from XLA's cost analysis and as a
fraction of a float32 matmul peak measured in the same run, peak memory, a hand-written minimal JAX step of the
same model as the zero-overhead reference, and, where PyTorch is installed (an optional extra, never a
dependency), the same model in PyTorch eager mode measured in the same run. Runs unchanged on CPU, GPU or TPU.

    aejax bench [--batch-sizes 128 1024] [--models ...] [--steps 200] [--repeats 3] [--out benchmarks/results]
                [--readme README.md]

Writes `<out>/step_throughput-<platform>.json` and `.md`; with --readme, also the table between the README's
`<!-- step-throughput:begin -->` and `<!-- step-throughput:end -->` markers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from aejax.families import build_model, get_family
from aejax.models import ModelSpec
from aejax.objectives import Objective
from aejax.training import create_train_state, make_train_step
from aejax.training.metrics_log import replace_between_markers
from aejax.training.parallel import Placement
from aejax.training.specs import auto_microbatch_size
from aejax.training.stepper import epoch_batches
from aejax.training.steps import make_fused_train_steps, make_indexed_train_step

MODELS = {
    "mlp_784-512-256-32": (ModelSpec(latent_dim=32, hidden=(512, 256)), (784,)),
    "mlp_784-256-64": (ModelSpec(latent_dim=64, hidden=(256,)), (784,)),
    "vae_784-512-256-32": (ModelSpec(latent_dim=32, hidden=(512, 256), family="vae"), (784,)),
    # 2 strided convs (32, 64 channels), a 16-d code, the mirrored decoder with 2 transposed convs and a
    # stride-1 output conv; aejax runs it with model.conv_impl='auto' (matmul convolutions on CPU)
    "conv_28x28_32-64_16": (ModelSpec(encoder="conv", decoder="conv", latent_dim=16), (28, 28, 1)),
}
DEFAULT_MODELS = ("mlp_784-512-256-32", "mlp_784-256-64", "vae_784-512-256-32", "conv_28x28_32-64_16")
LAYER_WIDTHS = {  # the plain MLPs, encoder and decoder widths
    "mlp_784-512-256-32": (784, 512, 256, 32, 256, 512, 784),
    "mlp_784-256-64": (784, 256, 64, 256, 784),
}
# the conv rows run at most this many rounds: a conv step is ~20x a dense one, and the dense rows' ratios want
# many short rounds (`--steps 10 --repeats 75` for the README's table)
CONV_MAX_ROUNDS = 15
TORCH_SETTLE_SECONDS = 0.2  # pause before each timed run when PyTorch shares the rounds (conv rows)
MARKERS = ("<!-- step-throughput:begin -->", "<!-- step-throughput:end -->")


def _objective(spec: ModelSpec) -> Objective:
    if get_family(spec.family).variational:  # the ELBO: Bernoulli likelihood and the KL to the prior
        return Objective("bernoulli", regularizers=(("kl", "kl_standard_normal", 1.0),))
    return Objective("mse")


def measured_matmul_peak(n: int, repeats: int = 20) -> float:
    """float32 GFLOP/s of an n x n matmul (the practical peak this device reaches through XLA)."""
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f(a).block_until_ready()
        times.append(time.perf_counter() - t)
    return 2 * n**3 / min(times) / 1e9


def _flops(compiled) -> float | None:
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0] if analysis else {}
    value = (analysis or {}).get("flops")
    return float(value) if value else None


Runner = Callable[[int], int]  # run about n steps, block until done, return the steps run


def _state_and_objective(name: str):
    spec, input_shape = MODELS[name]
    model = build_model(spec, input_shape)
    schedule = optax.constant_schedule(1e-3)
    state = create_train_state(model, optax.adam(schedule), input_shape, seed=0)
    return model, _objective(spec), schedule, state, input_shape


def _device_batches(input_shape, batch_size: int, count: int = 8) -> list[jax.Array]:
    """`count` random batches on the device, cycled by every JAX runner alike."""
    rng = np.random.default_rng(0)
    return [jnp.asarray(rng.uniform(size=(batch_size, *input_shape)), jnp.float32) for _ in range(count)]


def step_runner(
    name: str, batch_size: int, *, log_norms: bool, microbatch_size: int = 0, backend: str = "single"
) -> tuple[Runner, dict]:
    """aejax's plain train step (`make_train_step`, placed for `backend`) on pre-made device batches, and
    its compile seconds, XLA flops per step and a function returning the latest loss."""
    model, objective, schedule, state, input_shape = _state_and_objective(name)
    placement = Placement.create(backend, batch_size)
    step = make_train_step(
        model,
        objective,
        schedule,
        log_norms=log_norms,
        microbatch_size=microbatch_size,
        placement=placement,
    )
    batches = [placement.place_batch({"x": x}) for x in _device_batches(input_shape, batch_size)]
    box = {"state": placement.place_state(state), "metrics": None}
    t = time.perf_counter()
    compiled = step.lower(box["state"], batches[0]).compile() if backend != "pmap" else None
    info = {
        "compile_seconds": time.perf_counter() - t,
        "flops": None if compiled is None else _flops(compiled),
    }

    def run(n: int) -> int:
        s = box["state"]
        for i in range(n):
            s, metrics = step(s, batches[i % len(batches)])
        jax.block_until_ready((s, metrics))
        box["state"], box["metrics"] = s, metrics
        return n

    info["loss"] = lambda: float(np.mean(placement.metrics(box["metrics"])["loss"]))
    return run, info


def fit_loop_runner(name: str, batch_size: int, k: int = 1, microbatch_size: int = 0) -> Runner:
    """What `fit`'s single-device loop runs: every step (k = 1, `make_indexed_train_step`) or every k steps
    (`train.steps_per_dispatch = k`, `make_fused_train_steps`) gathers its rows of a device-resident dataset
    inside the step, from an index array sent from the host. `microbatch_size` as `train.microbatch_size`: 0
    takes what fit picks (`auto_microbatch_size`), `batch_size` whole batches."""
    model, objective, schedule, state, input_shape = _state_and_objective(name)
    microbatch_size = microbatch_size or auto_microbatch_size(
        state, objective, batch_size, input_shape, eligible=True
    )
    rng = np.random.default_rng(0)
    steps_per_epoch = 20
    rows = steps_per_epoch * batch_size
    data = jax.device_put(rng.uniform(size=(rows, *input_shape)).astype(np.float32))
    factory = make_indexed_train_step if k == 1 else make_fused_train_steps
    step = factory(model, objective, schedule, log_norms=False, microbatch_size=microbatch_size)
    box = {"state": state, "position": steps_per_epoch, "epoch_rows": None}

    def run(n: int) -> int:
        s, position, epoch_rows = box["state"], box["position"], box["epoch_rows"]
        dispatches = max(1, n // k)
        for _ in range(dispatches):
            if position + k > steps_per_epoch:  # a new epoch: a new order, sent as fit sends it
                order, position = rng.permutation(rows), 0
                epoch_rows = epoch_batches(order, batch_size, steps_per_epoch) if k == 1 else order
            if k == 1:
                s, metrics = step(s, data, None, epoch_rows[position])
            else:
                chunk = epoch_rows[position * batch_size : (position + k) * batch_size]
                s, metrics = step(s, data, None, jnp.asarray(chunk.reshape(k, batch_size)))
            position += k
        jax.block_until_ready((s, metrics))
        box["state"], box["position"], box["epoch_rows"] = s, position, epoch_rows
        return dispatches * k

    return run


def interleaved_rates(
    runners: dict[str, Runner], steps: dict[str, int], repeats: int, settle: float = 0.0
) -> dict[str, list[float]]:
    """steps/s of every runner over `repeats` rounds after one warm-up call each; each round runs every runner
    once, so slow drifts of the machine's speed (other load, clocks) hit all of them alike, in an order
    shuffled afresh every round (seeded: the same sequence every run), so no runner always follows the same
    one. `settle` seconds of sleep before every timed run let worker threads that spin after their work
    (PyTorch's OpenMP pool) go idle first."""
    for run in runners.values():
        run(1)
    rates: dict[str, list[float]] = {key: [] for key in runners}
    order = np.random.default_rng(0)
    keys = list(runners)
    for _ in range(repeats):
        for index in order.permutation(len(keys)):
            key = keys[index]
            run = runners[key]
            if settle:
                time.sleep(settle)
            t = time.perf_counter()
            done = run(steps[key])
            rates[key].append(done / (time.perf_counter() - t))
    return rates


def _paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """The median over rounds of the per-round ratio (drift cancels within a round)."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def _best_ratio(numerator: list[float], denominator: list[float]) -> float:
    """The ratio of the fastest rounds: interference (other load, a busy hypervisor) only ever slows a round
    down, so the fastest round of each is the least disturbed measurement of its code (timeit's rule)."""
    return max(numerator) / max(denominator)


def _dense_params(key, widths):
    keys = jax.random.split(key, len(widths) - 1)
    return [
        (jax.random.normal(k, (a, b), jnp.float32) / np.sqrt(a), jnp.zeros((b,), jnp.float32))
        for k, a, b in zip(keys, widths[:-1], widths[1:], strict=True)
    ]


def _mlp(params, h, linear_at=()):
    for i, (w, b) in enumerate(params):
        h = h @ w + b
        if i < len(params) - 1 and i not in linear_at:
            h = jax.nn.relu(h)
    return h


def _minimal_dense_loss(key, widths):
    """The plain MLP AE: sigmoid output, MSE, identity activation at the code (aejax's default)."""
    params = _dense_params(key, widths)
    code_layer = len(widths) // 2 - 1

    def loss(params, x, key):
        return jnp.mean(jnp.square(jax.nn.sigmoid(_mlp(params, x, (code_layer,))) - x))

    return params, loss


def _minimal_vae_loss(key):
    """The VAE: Bernoulli likelihood plus the KL to the standard normal, per-example sums, batch means."""
    encoder, decoder = _dense_params(key, (784, 512, 256, 64)), _dense_params(key, (32, 256, 512, 784))

    def loss(params, x, key):  # a fresh noise draw every step, as aejax's step makes
        mean, log_variance = jnp.split(_mlp(params[0], x), 2, axis=-1)
        eps = jax.random.normal(key, mean.shape)
        logits = _mlp(params[1], mean + jnp.exp(0.5 * log_variance) * eps)
        nll = jnp.maximum(logits, 0) - logits * x + jnp.log1p(jnp.exp(-jnp.abs(logits)))
        kl = 0.5 * (jnp.square(mean) + jnp.exp(log_variance) - 1.0 - log_variance)
        return jnp.mean(jnp.sum(nll, axis=-1)) + jnp.mean(jnp.sum(kl, axis=-1))

    return (encoder, decoder), loss


def _minimal_conv_params(key):
    """(kernel, bias) of the conv AE's 2 convs, code and projection matmuls, 2 transposed convs and output
    conv; kernels scaled by 1/sqrt(fan-in)."""
    keys = jax.random.split(key, 7)

    def normal(k, shape, fan_in):
        return jax.random.normal(k, shape, jnp.float32) / np.sqrt(fan_in)

    shapes = [
        (3, 3, 1, 32),
        (3, 3, 32, 64),
        (3136, 16),
        (16, 3136),
        (3, 3, 64, 64),
        (3, 3, 64, 32),
        (3, 3, 32, 1),
    ]
    return [(normal(k, s, int(np.prod(s[:-1]))), jnp.zeros(s[-1])) for k, s in zip(keys, shapes, strict=True)]


def _minimal_conv_loss(key):
    """The conv AE as a hand-written Flax/JAX script runs it: lax convolutions, sigmoid output, MSE."""
    params = _minimal_conv_params(key)
    dims = ("NHWC", "HWIO", "NHWC")

    def conv(h, w, b, stride):
        return jax.lax.conv_general_dilated(h, w, (stride, stride), "SAME", dimension_numbers=dims) + b

    def convt(h, w, b):
        return jax.lax.conv_transpose(h, w, (2, 2), "SAME", dimension_numbers=dims) + b

    def loss(params, x, key):
        (c0, c1, code, project, u0, u1, out) = params
        h = jax.nn.relu(conv(jax.nn.relu(conv(x, *c0, 2)), *c1, 2))
        z = h.reshape(h.shape[0], -1) @ code[0] + code[1]
        h = jax.nn.relu(z @ project[0] + project[1]).reshape(-1, 7, 7, 64)
        h = jax.nn.relu(convt(jax.nn.relu(convt(h, *u0)), *u1))
        return jnp.mean(jnp.square(jax.nn.sigmoid(conv(h, *out, 1)) - x))

    return params, loss


def _minimal_loss(name: str):
    """(params, loss(params, x, key)) of a hand-written model: the same layers, loss and initial scale as
    aejax's."""
    key = jax.random.PRNGKey(0)
    if name in LAYER_WIDTHS:
        return _minimal_dense_loss(key, LAYER_WIDTHS[name])
    if name == "vae_784-512-256-32":
        return _minimal_vae_loss(key)
    if name == "conv_28x28_32-64_16":
        return _minimal_conv_loss(key)
    raise ValueError(f"no minimal reference for {name!r}")


def minimal_runner(name: str, batch_size: int) -> Runner:
    """A hand-written jitted train step (no framework) of the same model, loss and optimizer, on the same
    device batches as aejax's step. It returns its loss, as a training script that logs one does, and the VAE
    draws fresh noise from a key folded with a step counter."""
    params, loss_fn = _minimal_loss(name)
    tx = optax.adam(1e-3)

    def step(params, opt_state, count, x):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, jax.random.fold_in(jax.random.PRNGKey(1), count))
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, count + 1, loss

    step = jax.jit(step, donate_argnums=(0, 1, 2))
    batches = _device_batches(MODELS[name][1], batch_size)
    box = {"carry": (params, tx.init(params), jnp.zeros((), jnp.int32))}

    def run(n: int) -> int:
        carry = box["carry"]
        for i in range(n):
            *carry, loss = step(*carry, batches[i % len(batches)])
        jax.block_until_ready((carry, loss))
        box["carry"] = tuple(carry)
        return n

    return run


def _torch_mlp(name: str):
    """The plain or variational MLP in PyTorch: (module, loss of a batch, input shape)."""
    import torch
    from torch import nn

    variational = get_family(MODELS[name][0].family).variational  # the same family as aejax's row
    widths = LAYER_WIDTHS.get(name, (784, 512, 256, 32, 256, 512, 784))
    code_layer = len(widths) // 2 - 1
    layers = [nn.Linear(a, b) for a, b in itertools.pairwise(widths)]
    if variational:  # the code layer outputs a mean and a log-variance
        layers[code_layer] = nn.Linear(widths[code_layer], 2 * widths[code_layer + 1])

    def forward(h):
        stats = None
        for i, layer in enumerate(layers):
            h = layer(h)
            if i == code_layer and variational:
                mean, log_variance = h.chunk(2, dim=-1)
                stats = (mean, log_variance)
                h = mean + torch.exp(0.5 * log_variance) * torch.randn_like(mean)
            elif i < len(layers) - 1 and i != code_layer:
                h = torch.relu(h)
        return h, stats

    def loss_fn(x):
        logits, stats = forward(x)
        if stats is None:
            return torch.mean((torch.sigmoid(logits) - x) ** 2)
        mean, log_variance = stats
        nll = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        kl = 0.5 * torch.sum(mean**2 + torch.exp(log_variance) - 1.0 - log_variance) / x.shape[0]
        return nll + kl

    return nn.ModuleList(layers), loss_fn, (widths[0],)


def _torch_conv():
    """The conv AE in PyTorch: (module, loss of a batch, input shape)."""
    import torch
    from torch import nn

    module = nn.ModuleList(
        [
            nn.Conv2d(1, 32, 3, 2, 1),
            nn.Conv2d(32, 64, 3, 2, 1),
            nn.Linear(3136, 16),
            nn.Linear(16, 3136),
            nn.ConvTranspose2d(64, 64, 3, 2, 1, output_padding=1),
            nn.ConvTranspose2d(64, 32, 3, 2, 1, output_padding=1),
            nn.Conv2d(32, 1, 3, 1, 1),
        ]
    )
    c0, c1, code, project, u0, u1, out = module

    def loss_fn(x):
        h = torch.relu(c1(torch.relu(c0(x))))
        h = torch.relu(project(code(h.flatten(1)))).view(-1, 64, 7, 7)
        return torch.mean((torch.sigmoid(out(torch.relu(u1(torch.relu(u0(h)))))) - x) ** 2)

    return module, loss_fn, (1, 28, 28)


def _torch_adam_runner(module, loss_fn, x) -> Runner:
    """Adam (learning rate 1e-3) steps of `loss_fn` on the one batch `x`."""
    import torch

    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(x)
        loss.backward()
        optimizer.step()

    def run(n: int) -> int:
        for _ in range(n):
            step()
        return n

    return run


def torch_runner(name: str, batch_size: int) -> Runner | None:
    """The same model in PyTorch eager mode (Adam, same loss), or None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None

    torch.manual_seed(0)
    if name in LAYER_WIDTHS or name == "vae_784-512-256-32":
        module, loss_fn, input_shape = _torch_mlp(name)
    elif name == "conv_28x28_32-64_16":
        module, loss_fn, input_shape = _torch_conv()
    else:
        return None
    return _torch_adam_runner(module, loss_fn, torch.rand(batch_size, *input_shape))


def _torch_version() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return f"{torch.__version__} ({torch.get_num_threads()} threads)"


def peak_memory() -> dict:
    device = jax.devices()[0]
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    out = {"host_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if stats and "peak_bytes_in_use" in stats:
        out["device_peak_mib"] = round(stats["peak_bytes_in_use"] / 2**20, 1)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 1024])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=list(MODELS))
    parser.add_argument(
        "--steps",
        type=int,
        default=200,
        help="timed steps per runner and round (conv rows: a tenth, at least 5)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help=f"rounds (conv rows: at most {CONV_MAX_ROUNDS})"
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        default=None,
        choices=["single", "sharded", "pmap"],
        help="train.backend values to time the plain step with over all visible devices (default: single, "
        "and sharded when several devices are visible); the full comparison runs on single",
    )
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--readme", default=None, help="a README whose step-throughput table to replace")
    return parser


def _median_and_spread(rates: list[float]) -> tuple[float, float]:
    median = statistics.median(rates)
    return median, (max(rates) - min(rates)) / median if len(rates) > 1 else 0.0


def _steps_and_rounds(name: str, steps: int, repeats: int) -> tuple[int, int]:
    """Timed steps per round and rounds for a model's rows: the conv AE is ~20x slower per step, so it runs a
    tenth of the steps (at least 5) in at most CONV_MAX_ROUNDS rounds."""
    if name.startswith("conv"):
        return max(5, steps // 10), min(repeats, CONV_MAX_ROUNDS)
    return steps, repeats


def _row_runners(name: str, batch_size: int) -> tuple[dict[str, Runner], dict, int]:
    """The JAX runners a row times together, the plain step's info (`step_runner`), and the microbatch size
    fit's loop picks (0: whole batches)."""
    plain, info = step_runner(name, batch_size, log_norms=False)
    runners = {
        "aejax": plain,
        "log_norms": step_runner(name, batch_size, log_norms=True)[0],
        "fit_loop": fit_loop_runner(name, batch_size),
        "fused10": fit_loop_runner(name, batch_size, k=10),
    }
    if not name.startswith("conv"):  # and a second, independent instance of it: the A/A control of the noise
        runners["minimal"] = minimal_runner(name, batch_size)
        runners["minimal_control"] = minimal_runner(name, batch_size)
    _, objective, _, state, input_shape = _state_and_objective(name)
    microbatch = auto_microbatch_size(state, objective, batch_size, input_shape, eligible=True)
    if microbatch:  # fit's loops above slice the batch: the same loop on whole batches, for comparison
        runners["fit_loop_whole_batch"] = fit_loop_runner(name, batch_size, microbatch_size=batch_size)
    return runners, info, microbatch


def _row_rates(
    name: str, batch_size: int, runners: dict[str, Runner], n: int, repeats: int
) -> dict[str, list[float]]:
    """steps/s per round of every runner of a row, PyTorch's (where installed) and, for the conv rows, the
    hand-written step's."""
    conv = name.startswith("conv")
    torch_run = torch_runner(name, batch_size) if conv else None
    if torch_run is not None:
        # the conv rows compare against PyTorch: in the same rounds, so that the machine's drift over a run
        # (+-20% here) hits both alike; a pause before every timed run lets PyTorch's OpenMP threads, which
        # spin for a while after its steps, go idle before the next runner starts
        runners = {**runners, "torch": torch_run}
    rates = interleaved_rates(
        runners,
        {key: max(n, 10) if key.startswith("fused10") else n for key in runners},
        repeats,
        settle=TORCH_SETTLE_SECONDS if torch_run is not None else 0.0,
    )
    torch_run = torch_runner(name, batch_size) if not conv else None
    if torch_run is not None:  # apart: PyTorch's worker threads keep spinning for a while after its steps
        rates["torch"] = interleaved_rates({"torch": torch_run}, {"torch": n}, repeats)["torch"]
    if conv:  # the hand-written step runs lax convolutions, 10-20x slower on CPU: a short single repeat
        rates["minimal"] = interleaved_rates(
            {"minimal": minimal_runner(name, batch_size)}, {"minimal": 2}, 1
        )["minimal"]
    return rates


def _median(rates: dict[str, list[float]], key: str) -> float:
    return round(statistics.median(rates[key]), 2)


def _throughput_columns(name: str, batch_size: int, info: dict, rates: dict[str, list[float]]) -> dict:
    """The plain step's own columns: rate, spread, samples/s, compile time, flops, final loss."""
    rate, spread = _median_and_spread(rates["aejax"])
    flops = info["flops"]
    return {
        "model": name,
        "batch_size": batch_size,
        "backend": "single",
        "devices": 1,
        "steps_per_second": round(rate, 2),
        "spread": round(spread, 3),  # (max - min) / median over the repeats
        "samples_per_second": round(rate * batch_size, 1),
        "compile_seconds": round(info["compile_seconds"], 3),
        "gflop_per_step": None if flops is None else round(flops / 1e9, 4),
        "achieved_gflops": None if flops is None else round(flops * rate / 1e9, 1),
        "final_loss": info["loss"](),
    }


def _comparison_columns(conv: bool, rates: dict[str, list[float]], microbatch: int) -> dict:
    """The step with norms, the hand-written step, fit's loop and the fused loop, next to the plain step."""
    return {
        "steps_per_second_with_norms": _median(rates, "log_norms"),
        "minimal_jax_steps_per_second": _median(rates, "minimal"),
        "vs_minimal_jax": round(_best_ratio(rates["aejax"], rates["minimal"]), 3),
        "vs_minimal_jax_median": round(
            statistics.median(rates["aejax"]) / statistics.median(rates["minimal"])
            if conv
            else _paired_ratio(rates["aejax"], rates["minimal"]),
            3,
        ),
        "fit_loop_steps_per_second": _median(rates, "fit_loop"),
        "fused10_steps_per_second": _median(rates, "fused10"),
        "fused_vs_fit_loop": round(_best_ratio(rates["fused10"], rates["fit_loop"]), 3),
        "fused_vs_fit_loop_median": round(_paired_ratio(rates["fused10"], rates["fit_loop"]), 3),
        "fit_microbatch_size": microbatch,  # what fit's train.microbatch_size=0 picks here (0: whole batches)
        "rounds": len(rates["aejax"]),
        "rounds_steps_per_second": {key: [round(r, 2) for r in value] for key, value in rates.items()},
    }


def _optional_columns(conv: bool, rates: dict[str, list[float]]) -> dict:
    """Columns of the runners only some rows have: the A/A control, whole batches, PyTorch."""
    row = {}
    if "minimal_control" in rates:  # identical code: how far from 1 these ratios land by chance
        row["minimal_control_ratio"] = round(_best_ratio(rates["minimal_control"], rates["minimal"]), 3)
        row["minimal_control_ratio_median"] = round(
            _paired_ratio(rates["minimal_control"], rates["minimal"]), 3
        )
    if "fit_loop_whole_batch" in rates:
        row["fit_loop_whole_batch_steps_per_second"] = _median(rates, "fit_loop_whole_batch")
        row["fit_loop_vs_whole_batch_median"] = round(
            _paired_ratio(rates["fit_loop"], rates["fit_loop_whole_batch"]), 3
        )
    if "torch" in rates:
        row.update(_torch_columns(conv, rates))
    return row


def _torch_columns(conv: bool, rates: dict[str, list[float]]) -> dict:
    """PyTorch's rate and the fastest aejax mode over it (conv rows: also paired, round by round)."""
    row = {"torch_eager_steps_per_second": _median(rates, "torch")}
    aejax_modes = ("aejax", "fit_loop", "fused10", "fit_loop_whole_batch")
    best = max(statistics.median(rates[key]) for key in aejax_modes if key in rates)
    row["best_vs_torch_eager"] = round(best / statistics.median(rates["torch"]), 3)
    if conv:  # same rounds: the fastest mode's (by median) per-round ratio to PyTorch, median over rounds
        fastest = max((key for key in aejax_modes if key in rates), key=lambda k: statistics.median(rates[k]))
        row["best_vs_torch_eager_paired"] = round(_paired_ratio(rates[fastest], rates["torch"]), 3)
        row["fastest_mode"] = fastest
    return row


def bench_row(name: str, batch_size: int, steps: int, repeats: int) -> dict:
    """Every single-device column of one model x batch size, its runners timed in interleaved rounds."""
    conv = name.startswith("conv")
    n, repeats = _steps_and_rounds(name, steps, repeats)
    runners, info, microbatch = _row_runners(name, batch_size)
    rates = _row_rates(name, batch_size, runners, n, repeats)
    return {
        **_throughput_columns(name, batch_size, info, rates),
        **_comparison_columns(conv, rates, microbatch),
        **_optional_columns(conv, rates),
    }


def backend_row(name: str, batch_size: int, backend: str, steps: int, repeats: int) -> dict:
    """The plain step placed for `backend` over every visible device."""
    run, info = step_runner(name, batch_size, log_norms=False, backend=backend)
    n, repeats = _steps_and_rounds(name, steps, repeats)
    rate, spread = _median_and_spread(interleaved_rates({backend: run}, {backend: n}, repeats)[backend])
    return {
        "model": name,
        "batch_size": batch_size,
        "backend": backend,
        "devices": 1 if backend == "single" else len(Placement.create(backend, batch_size).devices),
        "steps_per_second": round(rate, 2),
        "spread": round(spread, 3),
        "samples_per_second": round(rate * batch_size, 1),
        "compile_seconds": round(info["compile_seconds"], 3) if backend != "pmap" else None,
        "final_loss": info["loss"](),
    }


def _measure_rows(models, batch_sizes, backends, steps: int, repeats: int) -> tuple[list[dict], list[dict]]:
    """Every model x batch size: its single-device row and one row per other backend, each printed as soon as
    it is measured."""
    rows, backend_rows = [], []
    for name in models:
        for batch_size in batch_sizes:
            if "single" in backends:
                row = bench_row(name, batch_size, steps, repeats)
                rows.append(row)
                print(json.dumps(row), flush=True)
            for backend in backends:
                if backend != "single":
                    backend_rows.append(backend_row(name, batch_size, backend, steps, repeats))
                    print(json.dumps(backend_rows[-1]), flush=True)
    return rows, backend_rows


def run(models, batch_sizes, steps: int, repeats: int, backends=None) -> dict:
    """Measure every model x batch size (x backend); the report `markdown` renders."""
    if steps < 1 or repeats < 1:
        raise ValueError(f"--steps and --repeats must be >= 1, got {steps} and {repeats}")
    if backends is None:
        backends = ["single"] + (["sharded"] if jax.device_count() > 1 else [])
    device = jax.devices()[0]
    size = 4096 if device.platform != "cpu" else 2048
    # the fraction of peak uses the best of two measurements, one before the models and one after them (a
    # single short measurement can land in a slow moment of a shared machine)
    peak = measured_matmul_peak(size)
    rows, backend_rows = _measure_rows(models, batch_sizes, backends, steps, repeats)
    peak = max(peak, measured_matmul_peak(size))
    for row in rows:
        if row["achieved_gflops"] is not None:
            row["fraction_of_peak"] = round(row["achieved_gflops"] / peak, 3)
    return {
        "device": f"{device.platform}:{device.device_kind}",
        "devices": jax.device_count(),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "torch": _torch_version(),
        "matmul_peak_gflops_f32": round(peak, 1),
        "memory": peak_memory(),
        "results": rows,
        "backend_results": backend_rows,
    }


def _header_lines(report: dict) -> list[str]:
    """The device and versions, what each column measures, and the table's head."""
    torch_version = report.get("torch")
    return [
        f"Train-step throughput on {report['device']} (jax {report['jax']}, Python {report['python']}"
        + (f", PyTorch {torch_version}" if torch_version else ", PyTorch not installed")
        + f"); measured float32 matmul peak {report['matmul_peak_gflops_f32']} GFLOP/s; memory {report['memory']}.",
        "The JAX columns of a row are timed in the same interleaved rounds (each round runs each variant once, "
        f"in an order shuffled every round), medians over the rounds (the conv rows run at most {CONV_MAX_ROUNDS}); PyTorch runs in the same rounds for the conv "
        f"rows (with a {TORCH_SETTLE_SECONDS} s pause before every timed run, for its spinning OpenMP threads to "
        "go idle) and in its own rounds after them for the others. `aejax` is `make_train_step` (fit's step) with "
        "`train.log_norms=False` on pre-made device batches (`log_norms`: on, the default); `minimal JAX` is a "
        "hand-written jitted step of the same model, loss and optimizer on the same batches, returning its loss "
        "(for the conv AE with `lax` convolutions, as a hand-written script has them; timed apart, in one short "
        "round: it is several times slower); `aejax / minimal` is the median over rounds of the ratio of the two "
        "in the same round (the machine's drift cancels within a round; conv rows: the ratio of the medians), in "
        "brackets the ratio of the fastest "
        "rounds (timeit's rule; the JSON has every round); `minimal A/A` is the same pair of figures for a second, "
        "independent instance of the hand-written step over the first: identical code, so its distance from 1 is "
        "the noise of these ratios in this run; `fit loop` is fit's single-device loop (rows gathered inside the "
        "step from a device-resident dataset) with the `train.microbatch_size` fit picks (`slices`: rows per "
        "slice; the conv AE's batches are sliced, `auto_microbatch_size`); `fused` is the same with "
        "`train.steps_per_dispatch=10`; `fused / fit loop` as `aejax / minimal`; `whole batches` is the fit loop "
        "with `train.microbatch_size` = the batch, in brackets fit loop over it (paired median); "
        "`PyTorch eager` is the same model and Adam in "
        "PyTorch, same process; `best / PyTorch` is the fastest aejax column over it, in brackets (conv rows) the "
        "median over rounds of that column's rate over PyTorch's in the same round.",
        "",
        "| model | batch | steps/s (spread) | samples/s | compile s | GFLOP/step | GFLOP/s | fraction of peak "
        "| minimal JAX steps/s | aejax / minimal | minimal A/A | log_norms steps/s | fit loop steps/s | fused steps/s "
        "| fused / fit loop | slices | whole batches steps/s | PyTorch eager steps/s | best / PyTorch |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]


def _result_line(r: dict) -> str:
    """One single-device row of the table."""
    control = (
        f"{r['minimal_control_ratio_median']} ({r['minimal_control_ratio']})"
        if "minimal_control_ratio" in r
        else "n/a"
    )
    whole = (
        f"{r['fit_loop_whole_batch_steps_per_second']} ({r['fit_loop_vs_whole_batch_median']})"
        if "fit_loop_whole_batch_steps_per_second" in r
        else "n/a"
    )
    return (
        f"| {r['model']} | {r['batch_size']} | {r['steps_per_second']} ({r['spread']:.0%}) | "
        f"{r['samples_per_second']} | {r['compile_seconds']} | {r['gflop_per_step']} | {r['achieved_gflops']} | "
        f"{r.get('fraction_of_peak')} | {r['minimal_jax_steps_per_second']} | {r['vs_minimal_jax_median']} "
        f"({r['vs_minimal_jax']}) | {control} | {r['steps_per_second_with_norms']} | "
        f"{r['fit_loop_steps_per_second']} | {r['fused10_steps_per_second']} | "
        f"{r['fused_vs_fit_loop_median']} ({r['fused_vs_fit_loop']}) | "
        f"{r.get('fit_microbatch_size') or 'whole'} | {whole} | "
        f"{r.get('torch_eager_steps_per_second', 'n/a')} | "
        f"{r.get('best_vs_torch_eager', 'n/a')}"
        + (f" ({r['best_vs_torch_eager_paired']})" if "best_vs_torch_eager_paired" in r else "")
        + " |"
    )


def _backend_lines(backend_results: list[dict]) -> list[str]:
    """The other backends' table, with its heading."""
    lines = [
        "",
        "Other backends (`train.backend`), the plain step over every visible device:",
        "",
        "| model | batch | backend | devices | steps/s (spread) | samples/s | compile s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in backend_results:
        lines.append(
            f"| {r['model']} | {r['batch_size']} | {r['backend']} | {r['devices']} | {r['steps_per_second']} "
            f"({r['spread']:.0%}) | {r['samples_per_second']} | {r['compile_seconds']} |"
        )
    return lines


def markdown(report: dict) -> str:
    """The report as markdown: what was measured, the single-device table, the other backends' table."""
    lines = _header_lines(report) + [_result_line(r) for r in report["results"]]
    if report.get("backend_results"):
        lines += _backend_lines(report["backend_results"])
    return "\n".join(lines) + "\n"


def write(report: dict, out: str | Path, readme: str | Path | None = None) -> Path:
    """JSON and markdown under `out`; with `readme`, the table between its markers is replaced."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"step_throughput-{report['device'].split(':')[0]}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    stem.with_suffix(".md").write_text(table)
    if readme is not None:
        replace_between_markers(Path(readme), MARKERS, table)
    return stem


def main(argv=None) -> None:
    args = add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args(argv)
    report = run(args.models, args.batch_sizes, args.steps, args.repeats, args.backends)
    stem = write(report, args.out, args.readme)
    print(markdown(report))
    print(f"wrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    main()
