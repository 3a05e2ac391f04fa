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
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from aejax.models import ModelSpec, build_model
from aejax.objectives import Objective
from aejax.training import create_train_state, make_train_step
from aejax.training.metrics_log import replace_between_markers
from aejax.training.steps import make_fused_train_steps

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
MICROBATCH = 32  # the train.microbatch_size column (conv models)
MARKERS = ("<!-- step-throughput:begin -->", "<!-- step-throughput:end -->")


def _objective(spec: ModelSpec) -> Objective:
    if spec.family == "vae":
        return Objective("bernoulli", regularizers=(("kl", "kl_standard_normal", 1.0),))
    return Objective("mse")


def measured_matmul_peak(n: int, repeats: int = 5) -> float:
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


def bench_one(
    name: str, batch_size: int, steps: int, repeats: int, log_norms: bool, microbatch_size: int = 0
) -> dict:
    spec, input_shape = MODELS[name]
    model = build_model(spec, input_shape)
    schedule = optax.constant_schedule(1e-3)
    state = create_train_state(model, optax.adam(schedule), input_shape, seed=0)
    step = make_train_step(
        model, _objective(spec), schedule, log_norms=log_norms, microbatch_size=microbatch_size
    )
    rng = np.random.default_rng(0)
    batches = [
        {"x": jnp.asarray(rng.uniform(size=(batch_size, *input_shape)), jnp.float32)} for _ in range(8)
    ]

    t = time.perf_counter()
    compiled = jax.jit(step).lower(state, batches[0]).compile()
    compile_seconds = time.perf_counter() - t
    flops = _flops(compiled)
    state, metrics = step(state, batches[0])  # first call compiles the donated step
    jax.block_until_ready(metrics)

    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for i in range(steps):
            state, metrics = step(state, batches[i % len(batches)])
        jax.block_until_ready((state, metrics))
        rates.append(steps / (time.perf_counter() - t))
    steps_per_second = statistics.median(rates)
    spread = (max(rates) - min(rates)) / steps_per_second if len(rates) > 1 else 0.0
    return {
        "model": name,
        "batch_size": batch_size,
        "log_norms": log_norms,
        "steps_per_second": round(steps_per_second, 2),
        "spread": round(spread, 3),  # (max - min) / median over the repeats
        "samples_per_second": round(steps_per_second * batch_size, 1),
        "compile_seconds": round(compile_seconds, 3),
        "gflop_per_step": None if flops is None else round(flops / 1e9, 4),
        "achieved_gflops": None if flops is None else round(flops * steps_per_second / 1e9, 1),
        "final_loss": float(metrics["loss"]),
    }


def bench_fused(name: str, batch_size: int, steps: int, repeats: int, k: int = 10) -> float:
    """steps/s of aejax's scan-fused training (train.steps_per_dispatch = k): k steps per dispatch, batches
    gathered on the device from a device-resident dataset, as the fit loop does."""
    spec, input_shape = MODELS[name]
    model = build_model(spec, input_shape)
    schedule = optax.constant_schedule(1e-3)
    state = create_train_state(model, optax.adam(schedule), input_shape, seed=0)
    fused = make_fused_train_steps(model, _objective(spec), schedule, log_norms=False)
    rng = np.random.default_rng(0)
    data = jax.device_put(rng.uniform(size=(8 * batch_size, *input_shape)).astype(np.float32))
    idx = jnp.asarray(np.stack([rng.permutation(8 * batch_size)[:batch_size] for _ in range(k)]))
    state, metrics = fused(state, data, None, idx)
    jax.block_until_ready(metrics)
    rates = []
    dispatches = max(1, steps // k)
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(dispatches):
            state, metrics = fused(state, data, None, idx)
        jax.block_until_ready((state, metrics))
        rates.append(dispatches * k / (time.perf_counter() - t))
    return statistics.median(rates)


def _time_loop(step, carry, x, steps: int, repeats: int) -> float:
    """Median steps/s of `carry = step(*carry, x)` after one warm-up call."""
    carry = step(*carry, x)
    jax.block_until_ready(carry)
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            carry = step(*carry, x)
        jax.block_until_ready(carry)
        rates.append(steps / (time.perf_counter() - t))
    return statistics.median(rates)


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


def _minimal_loss(name: str):
    """(params, loss(params, x)) of a hand-written model: the same layers, loss and initial scale as aejax's."""
    key = jax.random.PRNGKey(0)
    if name in LAYER_WIDTHS:
        widths = LAYER_WIDTHS[name]
        params = _dense_params(key, widths)
        code_layer = len(widths) // 2 - 1  # identity activation at the code, as in aejax's default

        def loss(params, x):
            return jnp.mean(jnp.square(jax.nn.sigmoid(_mlp(params, x, (code_layer,))) - x))

        return params, loss
    if name == "vae_784-512-256-32":
        encoder, decoder = _dense_params(key, (784, 512, 256, 64)), _dense_params(key, (32, 256, 512, 784))

        def loss(params, x):
            mean, log_variance = jnp.split(_mlp(params[0], x), 2, axis=-1)
            eps = jax.random.normal(jax.random.PRNGKey(1), mean.shape)
            logits = _mlp(params[1], mean + jnp.exp(0.5 * log_variance) * eps)
            nll = jnp.maximum(logits, 0) - logits * x + jnp.log1p(jnp.exp(-jnp.abs(logits)))
            kl = 0.5 * (jnp.square(mean) + jnp.exp(log_variance) - 1.0 - log_variance)
            return jnp.mean(jnp.sum(nll, axis=-1)) + jnp.mean(jnp.sum(kl, axis=-1))

        return (encoder, decoder), loss
    if name == "conv_28x28_32-64_16":  # what a hand-written Flax/JAX script runs: lax convolutions
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
        params = [
            (normal(k, s, int(np.prod(s[:-1]))), jnp.zeros(s[-1])) for k, s in zip(keys, shapes, strict=True)
        ]
        dims = ("NHWC", "HWIO", "NHWC")

        def conv(h, w, b, stride):
            return jax.lax.conv_general_dilated(h, w, (stride, stride), "SAME", dimension_numbers=dims) + b

        def convt(h, w, b):
            return jax.lax.conv_transpose(h, w, (2, 2), "SAME", dimension_numbers=dims) + b

        def loss(params, x):
            (c0, c1, code, project, u0, u1, out) = params
            h = jax.nn.relu(conv(jax.nn.relu(conv(x, *c0, 2)), *c1, 2))
            z = h.reshape(h.shape[0], -1) @ code[0] + code[1]
            h = jax.nn.relu(z @ project[0] + project[1]).reshape(-1, 7, 7, 64)
            h = jax.nn.relu(convt(jax.nn.relu(convt(h, *u0)), *u1))
            return jnp.mean(jnp.square(jax.nn.sigmoid(conv(h, *out, 1)) - x))

        return params, loss
    raise ValueError(f"no minimal reference for {name!r}")


def minimal_jax_step(name: str, batch_size: int, steps: int, repeats: int) -> float:
    """steps/s of a hand-written jitted train step (no framework) of the same model, loss and optimizer."""
    params, loss_fn = _minimal_loss(name)
    tx = optax.adam(1e-3)

    def step(params, opt_state, x):
        grads = jax.grad(loss_fn)(params, x)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    step = jax.jit(step, donate_argnums=(0, 1))
    _, input_shape = MODELS[name]
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(batch_size, *input_shape)), jnp.float32)
    return _time_loop(step, (params, tx.init(params)), x, steps, repeats)


def torch_eager_step(name: str, batch_size: int, steps: int, repeats: int) -> float | None:
    """steps/s of the same model in PyTorch eager mode (Adam, same loss), or None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    from torch import nn

    torch.manual_seed(0)
    if name in LAYER_WIDTHS or name == "vae_784-512-256-32":
        widths = LAYER_WIDTHS.get(name, (784, 512, 256, 32, 256, 512, 784))
        layers = [nn.Linear(a, b) for a, b in itertools.pairwise(widths)]
        if name.startswith("vae"):
            layers[len(widths) // 2 - 1] = nn.Linear(
                widths[len(widths) // 2 - 1], 2 * widths[len(widths) // 2]
            )
        code_layer = len(widths) // 2 - 1

        def run(h):
            stats = None
            for i, layer in enumerate(layers):
                h = layer(h)
                if i == code_layer and name.startswith("vae"):
                    mean, log_variance = h.chunk(2, dim=-1)
                    stats = (mean, log_variance)
                    h = mean + torch.exp(0.5 * log_variance) * torch.randn_like(mean)
                elif i < len(layers) - 1 and i != code_layer:
                    h = torch.relu(h)
            return h, stats

        module = nn.ModuleList(layers)

        def loss_fn(x):
            logits, stats = run(x)
            if stats is None:
                return torch.mean((torch.sigmoid(logits) - x) ** 2)
            mean, log_variance = stats
            nll = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
            kl = 0.5 * torch.sum(mean**2 + torch.exp(log_variance) - 1.0 - log_variance) / x.shape[0]
            return nll + kl

        x = torch.rand(batch_size, widths[0])
    elif name == "conv_28x28_32-64_16":
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

        x = torch.rand(batch_size, 1, 28, 28)
    else:
        return None
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(x)
        loss.backward()
        optimizer.step()

    step()
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps / (time.perf_counter() - t))
    return statistics.median(rates)


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
    parser.add_argument("--steps", type=int, default=200, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--readme", default=None, help="a README whose step-throughput table to replace")
    return parser


def run(models, batch_sizes, steps: int, repeats: int) -> dict:
    """Measure every model x batch size; the report `markdown` renders."""
    if steps < 1 or repeats < 1:
        raise ValueError(f"--steps and --repeats must be >= 1, got {steps} and {repeats}")
    device = jax.devices()[0]
    peak = measured_matmul_peak(4096 if device.platform != "cpu" else 2048)
    rows = []
    for name in models:
        model_steps = max(5, steps // 10) if name.startswith("conv") else steps  # ~20x slower per step
        for batch_size in batch_sizes:
            row = bench_one(name, batch_size, model_steps, repeats, log_norms=False)
            with_norms = bench_one(name, batch_size, model_steps, repeats, log_norms=True)
            row["steps_per_second_with_norms"] = with_norms["steps_per_second"]
            if row["achieved_gflops"] is not None:
                row["fraction_of_peak"] = round(row["achieved_gflops"] / peak, 3)
            # the hand-written conv step runs lax convolutions, 10-20x slower on CPU: one timed repeat
            minimal = minimal_jax_step(
                name, batch_size, model_steps, 1 if name.startswith("conv") else repeats
            )
            row["minimal_jax_steps_per_second"] = round(minimal, 2)
            row["vs_minimal_jax"] = round(row["steps_per_second"] / minimal, 3)
            row["fused10_steps_per_second"] = round(bench_fused(name, batch_size, model_steps, repeats), 2)
            if name.startswith("conv") and batch_size > MICROBATCH:
                sliced = bench_one(
                    name, batch_size, model_steps, repeats, log_norms=False, microbatch_size=MICROBATCH
                )
                row["microbatch_steps_per_second"] = sliced["steps_per_second"]
            torch_rate = torch_eager_step(name, batch_size, model_steps, repeats)
            if torch_rate is not None:
                row["torch_eager_steps_per_second"] = round(torch_rate, 2)
                best = max(row["steps_per_second"], row.get("microbatch_steps_per_second", 0.0))
                row["best_vs_torch_eager"] = round(best / torch_rate, 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {
        "device": f"{device.platform}:{device.device_kind}",
        "devices": jax.device_count(),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "torch": _torch_version(),
        "matmul_peak_gflops_f32": round(peak, 1),
        "memory": peak_memory(),
        "results": rows,
    }


def markdown(report: dict) -> str:
    torch_version = report.get("torch")
    lines = [
        f"Train-step throughput on {report['device']} (jax {report['jax']}, Python {report['python']}"
        + (f", PyTorch {torch_version}" if torch_version else ", PyTorch not installed")
        + f"); measured float32 matmul peak {report['matmul_peak_gflops_f32']} GFLOP/s; memory {report['memory']}.",
        "aejax steps run through `make_train_step` (fit's step) with `train.log_norms=False` (the `log_norms` "
        "column has them on, the default); `minimal JAX` is a hand-written jitted step of the same model, loss and "
        "optimizer (for the conv AE, with `lax` convolutions as a hand-written script has them), measured in the "
        f"same run; `fused` runs 10 steps per dispatch (`train.steps_per_dispatch=10`); `microbatch` is "
        f"`train.microbatch_size={MICROBATCH}`; `PyTorch eager` is the same model and Adam in PyTorch, same process; "
        "`best / PyTorch` is the faster aejax column over it.",
        "",
        "| model | batch | steps/s (spread) | samples/s | compile s | GFLOP/step | GFLOP/s | fraction of peak "
        "| minimal JAX steps/s | aejax / minimal | log_norms steps/s | fused steps/s | microbatch steps/s "
        "| PyTorch eager steps/s | best / PyTorch |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['model']} | {r['batch_size']} | {r['steps_per_second']} ({r['spread']:.0%}) | "
            f"{r['samples_per_second']} | {r['compile_seconds']} | {r['gflop_per_step']} | {r['achieved_gflops']} | "
            f"{r.get('fraction_of_peak')} | {r.get('minimal_jax_steps_per_second', 'n/a')} | "
            f"{r.get('vs_minimal_jax', 'n/a')} | {r['steps_per_second_with_norms']} | "
            f"{r['fused10_steps_per_second']} | {r.get('microbatch_steps_per_second', 'n/a')} | "
            f"{r.get('torch_eager_steps_per_second', 'n/a')} | {r.get('best_vs_torch_eager', 'n/a')} |"
        )
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
    report = run(args.models, args.batch_sizes, args.steps, args.repeats)
    stem = write(report, args.out, args.readme)
    print(markdown(report))
    print(f"wrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    main()
