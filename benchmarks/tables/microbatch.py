"""The microbatch-slices table of the Speed section: fit's single-device loop with `train.microbatch_size` = m
against the same loop on whole batches, timed in interleaved rounds (`aejax.bench`), paired medians."""

from __future__ import annotations

from pathlib import Path

from . import common

NAME = "microbatch-slices"
MARKERS = ("<!-- microbatch-slices:start -->", "<!-- microbatch-slices:end -->")
SUMMARY = "rows per microbatch slice vs whole batches, conv AE and MLP (about 15 min on an idle CPU)"
ROWS = (  # (label, aejax.bench model, batch, slice sizes)
    ("conv AE 28x28x1", "conv_28x28_32-64_16", 128, (16, 32, 64)),
    ("conv AE 28x28x1", "conv_28x28_32-64_16", 1024, (16, 32, 64, 128, 256)),
    ("conv AE 32x32x3 (latent 64)", "conv_32x32x3_32-64_64", 256, (8, 16, 32, 64)),
    ("MLP 784-512-256-32", "mlp_784-512-256-32", 1024, (128, 256)),
)
STEPS, ROUNDS = 5, 7


def _row(bench, label: str, model: str, batch: int, sizes: tuple[int, ...]) -> dict:
    runners = {"whole": bench.fit_loop_runner(model, batch, microbatch_size=batch)}
    runners |= {str(m): bench.fit_loop_runner(model, batch, microbatch_size=m) for m in sizes}
    rates = bench.interleaved_rates(runners, dict.fromkeys(runners, STEPS), ROUNDS)
    ratios = {m: round(bench._paired_ratio(rates[m], rates["whole"]), 3) for m in runners if m != "whole"}
    return {"label": label, "model": model, "batch_size": batch, "ratios": ratios, "rates": rates}


def run(workdir: Path) -> dict:
    """Measured in this process, as `aejax bench` measures (glibc keeps freed memory, set before JAX starts)."""
    from aejax.host_memory import keep_freed_memory

    keep_freed_memory()
    from aejax import bench
    from aejax.models import ModelSpec

    bench.MODELS["conv_32x32x3_32-64_64"] = (
        ModelSpec(encoder="conv", decoder="conv", latent_dim=64),
        (32, 32, 3),
    )
    started = common.load()
    rows = [_row(bench, label, model, batch, sizes) for label, model, batch, sizes in ROWS]
    meta = {**common.machine(), "load_before": started, "load_after": common.load(), "steps": STEPS}
    return {"meta": {**meta, "rounds": ROUNDS}, "rows": rows}


def render(record: dict) -> str:
    caption = (
        f"Fit's single-device loop, {record['meta']['rounds']} interleaved rounds of {record['meta']['steps']} "
        f"steps, paired medians over the same loop on whole batches; {common.wall(record['meta'])}. "
        + common.regenerate(NAME)
    )
    lines = [
        common.paragraph(caption),
        "",
        "| model, batch | rows per slice: speed over whole batches |",
        "|---|---|",
    ]
    for r in record["rows"]:
        cells = ", ".join(f"{m}: {ratio:.2f}" for m, ratio in r["ratios"].items())
        lines.append(f"| {r['label']}, {r['batch_size']} | {cells} |")
    return "\n".join(lines) + "\n"
