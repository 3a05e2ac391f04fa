"""Train-step throughput (`aejax bench`, also `python benchmarks/step_throughput.py`): steps/s and samples/s
(median and spread over repeats after warm-up), compile time, GFLOP per step from XLA's cost analysis and as a
fraction of a float32 matmul peak measured in the same run, peak memory, and a hand-written minimal JAX step of
the same MLP as the zero-overhead reference. Runs unchanged on CPU, GPU or TPU.

    aejax bench [--batch-sizes 128 1024] [--models ...] [--steps 200] [--repeats 3] [--out benchmarks/results]
                [--readme README.md]

Writes `<out>/step_throughput-<platform>.json` and `.md`; with --readme, also the table between the README's
`<!-- step-throughput:begin -->` and `<!-- step-throughput:end -->` markers.
"""

from __future__ import annotations

import argparse
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
    # Opt-in (slow on CPU): 2 strided convs, a 16-d code, the mirrored decoder with transposed convs.
    "conv_28x28_32-64_16": (ModelSpec(encoder="conv", decoder="conv", latent_dim=16), (28, 28, 1)),
}
DEFAULT_MODELS = ("mlp_784-512-256-32", "mlp_784-256-64", "vae_784-512-256-32")
LAYER_WIDTHS = {  # the minimal hand-written reference exists for the plain MLPs
    "mlp_784-512-256-32": (784, 512, 256, 32, 256, 512, 784),
    "mlp_784-256-64": (784, 256, 64, 256, 784),
}
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


def bench_one(name: str, batch_size: int, steps: int, repeats: int, log_norms: bool) -> dict:
    spec, input_shape = MODELS[name]
    model = build_model(spec, input_shape)
    schedule = optax.constant_schedule(1e-3)
    state = create_train_state(model, optax.adam(schedule), input_shape, seed=0)
    step = make_train_step(model, _objective(spec), schedule, log_norms=log_norms)
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


def minimal_jax_step(widths: tuple[int, ...], batch_size: int, steps: int, repeats: int) -> float:
    """steps/s of a hand-written jitted MLP-AE step (no framework) with the same layers, loss and optimizer."""
    keys = jax.random.split(jax.random.PRNGKey(0), len(widths) - 1)
    params = [
        (jax.random.normal(k, (a, b), jnp.float32) / np.sqrt(a), jnp.zeros((b,), jnp.float32))
        for k, a, b in zip(keys, widths[:-1], widths[1:], strict=True)
    ]
    code_layer = len(widths) // 2 - 1  # identity activation at the code, as in aejax's default

    def loss_fn(params, x):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1 and i != code_layer:
                h = jax.nn.relu(h)
        return jnp.mean(jnp.square(jax.nn.sigmoid(h) - x))

    tx = optax.adam(1e-3)

    @jax.jit
    def step(params, opt_state, x):
        loss, grads = jax.value_and_grad(loss_fn)(params, x)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    step = jax.jit(step, donate_argnums=(0, 1))
    opt_state = tx.init(params)
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(batch_size, widths[0])), jnp.float32)
    params, opt_state, loss = step(params, opt_state, x)
    loss.block_until_ready()
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            params, opt_state, loss = step(params, opt_state, x)
        loss.block_until_ready()
        rates.append(steps / (time.perf_counter() - t))
    return statistics.median(rates)


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
        for batch_size in batch_sizes:
            row = bench_one(name, batch_size, steps, repeats, log_norms=False)
            with_norms = bench_one(name, batch_size, steps, repeats, log_norms=True)
            row["steps_per_second_with_norms"] = with_norms["steps_per_second"]
            if row["achieved_gflops"] is not None:
                row["fraction_of_peak"] = round(row["achieved_gflops"] / peak, 3)
            if name in LAYER_WIDTHS:
                minimal = minimal_jax_step(LAYER_WIDTHS[name], batch_size, steps, repeats)
                row["minimal_jax_steps_per_second"] = round(minimal, 2)
                row["vs_minimal_jax"] = round(row["steps_per_second"] / minimal, 3)
            row["fused10_steps_per_second"] = round(bench_fused(name, batch_size, steps, repeats), 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {
        "device": f"{device.platform}:{device.device_kind}",
        "devices": jax.device_count(),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "matmul_peak_gflops_f32": round(peak, 1),
        "memory": peak_memory(),
        "results": rows,
    }


def markdown(report: dict) -> str:
    lines = [
        f"Train-step throughput on {report['device']} (jax {report['jax']}, Python {report['python']}); measured "
        f"float32 matmul peak {report['matmul_peak_gflops_f32']} GFLOP/s; memory {report['memory']}.",
        "aejax steps run with `train.log_norms=False` (the `log_norms` column has them on, the default); "
        "`minimal JAX` is a hand-written jitted step of the same MLP, loss and optimizer, measured in the same run; "
        "`fused` runs 10 steps per dispatch (`train.steps_per_dispatch=10`).",
        "",
        "| model | batch | steps/s (spread) | samples/s | compile s | GFLOP/step | GFLOP/s | fraction of peak "
        "| minimal JAX steps/s | aejax / minimal | log_norms steps/s | fused steps/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['model']} | {r['batch_size']} | {r['steps_per_second']} ({r['spread']:.0%}) | "
            f"{r['samples_per_second']} | {r['compile_seconds']} | {r['gflop_per_step']} | {r['achieved_gflops']} | "
            f"{r.get('fraction_of_peak')} | {r.get('minimal_jax_steps_per_second', 'n/a')} | "
            f"{r.get('vs_minimal_jax', 'n/a')} | {r['steps_per_second_with_norms']} | "
            f"{r['fused10_steps_per_second']} |"
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
