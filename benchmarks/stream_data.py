"""Streamed input pipeline (issue 27): host memory and speed of data larger than memory.

    python benchmarks/stream_data.py [--dir /tmp/aejax_stream_data] [--rows 2000000] [--subset 100000]

1. Generates (once; not committed) `rows` x 784 float32 in [0, 1] as .npy shards of 50,000 rows under --dir
   (2M rows: 6.3 GB on disk).
2. Trains one epoch on all of it streamed (`aejax.fit`, data.pipeline='stream', batch 1024, in a child
   process) and reports the child's peak RSS (ru_maxrss) and steps/s.
3. Trains the in-memory path on a subset that fits (`--subset` rows, in a child process) and reports its peak
   RSS: the factor behind data.pipeline='auto''s threshold (aejax/data/streamed.py).
4. Compares steps/s of the two steppers (same model: MLP 784-256-64-256-784, Adam; batch 128 and 1024) in
   interleaved rounds in one process: the in-memory stepper on the subset, the streamed one on the full set.

Writes benchmarks/results/stream_data.{json,md}. The CPU is shared: the load average is recorded beside the
figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARD_ROWS = 50_000
FEATURES = 784


def generate(directory: Path, rows: int) -> Path:
    """`rows` x 784 float32 shards (seeded, written atomically one by one; existing complete shards are kept)."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, rows, SHARD_ROWS)):
        path = directory / f"part-{i:05d}.npy"
        n = min(SHARD_ROWS, rows - start)
        if path.is_file() and path.stat().st_size == 128 + n * FEATURES * 4:
            continue
        x = np.random.default_rng(i).random((n, FEATURES), np.float32)
        tmp = directory / f".part-{i:05d}.tmp.npy"
        np.save(tmp, x)
        os.replace(tmp, path)
    return directory


def _config(path: Path, pipeline: str, batch: int, max_examples: int = 0):
    from aejax.config import load_default

    config = load_default()
    config.data.source, config.data.path, config.data.pipeline = "npy_dir", str(path), pipeline
    config.data.val_fraction = config.data.test_fraction = 0.0
    config.data.max_examples = max_examples
    config.model.hidden, config.model.latent_dim = (256,), 64
    config.train.epochs, config.train.batch_size, config.train.progress = 1, batch, False
    config.train.steps_per_dispatch = 1
    config.eval.plots, config.eval.compare_pca, config.eval.jacobian_examples = False, False, 0
    return config


def child_fit(path: str, pipeline: str, batch: int, max_examples: int) -> None:
    """(in a child process) one epoch of `aejax.fit`; prints a JSON line with peak RSS and steps/s."""
    import aejax

    aejax.keep_freed_memory()
    started = time.perf_counter()
    trained = aejax.fit(_config(Path(path), pipeline, batch, max_examples))
    seconds = trained.results["train_seconds"]
    record = {
        "pipeline": pipeline,
        "batch_size": batch,
        "rows": trained.results["steps"] * batch,
        "steps": trained.results["steps"],
        "train_seconds": seconds,
        "steps_per_s": trained.results["steps"] / seconds,
        "wall_seconds": time.perf_counter() - started,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print("RESULT " + json.dumps(record), flush=True)


def run_child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def _steppers(path: Path, subset: int, batch: int):
    """The in-memory stepper on the first `subset` rows and the streamed one on every row, same plan."""
    import optax

    from aejax.data.row_sources import NpyShards
    from aejax.families import build_model, get_family
    from aejax.models import ModelSpec
    from aejax.objectives import Objective
    from aejax.training import create_train_state
    from aejax.training.parallel import Placement
    from aejax.training.stepper import StepFactories, StepPlan, make_stepper
    from aejax.training.stream_stepper import make_stream_stepper

    source = NpyShards(path)
    model = build_model(ModelSpec(latent_dim=64, hidden=(256,)), (FEATURES,))
    schedule = optax.constant_schedule(1e-3)
    plan = StepPlan(model, Objective(), schedule, batch, family=get_family("autoencoder"))
    placement = Placement.create("single", batch)
    memory = make_stepper(plan, placement, source.head(subset))
    stream = make_stream_stepper(plan, placement, source, StepFactories())
    state = create_train_state(model, optax.adam(1e-3), (FEATURES,), 0)
    return (memory, subset), (stream, source.num_rows), state


def interleaved(path: Path, subset: int, batch: int, rounds: int, steps: int) -> dict:
    """steps/s of each stepper in `rounds` alternating rounds of `steps` steps (after a warm-up round each)."""
    import jax

    from aejax.training.specs import epoch_permutation

    (memory, n_memory), (stream, n_stream), state = _steppers(path, subset, batch)
    steppers = {"memory": (memory, n_memory), "stream": (stream, n_stream)}
    rates: dict[str, list[float]] = {"memory": [], "stream": []}
    at = {name: [0, 0] for name in steppers}  # (epoch, position) of each
    for stepper, n in steppers.values():
        stepper.begin_epoch(epoch_permutation(0, 0, n))
    for round_ in range(rounds + 1):
        for name, (stepper, n) in steppers.items():
            started = time.perf_counter()
            for _ in range(steps):
                if at[name][1] == n // batch:  # the next epoch (the subset's are short)
                    at[name] = [at[name][0] + 1, 0]
                    stepper.begin_epoch(epoch_permutation(0, at[name][0], n))
                state, metrics = stepper.advance(state, at[name][1], 1)
                at[name][1] += 1
            jax.block_until_ready((state, metrics))
            if round_:  # the first round compiles and fills the prefetch queue
                rates[name].append(steps / (time.perf_counter() - started))
    stream.close()
    medians = {name: float(np.median(values)) for name, values in rates.items()}
    return {
        "batch_size": batch,
        "rounds": rounds,
        "steps_per_round": steps,
        "memory_steps_per_s": rates["memory"],
        "stream_steps_per_s": rates["stream"],
        "median_memory": medians["memory"],
        "median_stream": medians["stream"],
        "ratio": medians["stream"] / medians["memory"],
    }


def write(record: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "stream_data.json").write_text(json.dumps(record, indent=2) + "\n")
    full, mem = record["stream_epoch"], record["memory_subset"]
    lines = [
        "# Streamed input pipeline (benchmarks/stream_data.py)",
        "",
        f"Command: `{record['command']}`; {record['rows']:,} x 784 float32 ({record['dataset_gb']:.2f} GB) as .npy "
        f"shards; CPU shared with other jobs: load average {record['load_before']} before, {record['load_after']} "
        "after (1, 5, 15 min).",
        "",
        "| run | rows | batch | steps/s | peak host RSS |",
        "|---|---:|---:|---:|---:|",
        f"| one epoch streamed (`aejax.fit`) | {full['rows']:,} | {full['batch_size']} | {full['steps_per_s']:.0f} | "
        f"{full['peak_rss_mib']:.0f} MiB |",
        f"| one epoch in memory (subset) | {mem['rows']:,} | {mem['batch_size']} | {mem['steps_per_s']:.0f} | "
        f"{mem['peak_rss_mib']:.0f} MiB |",
        "",
        "Interleaved rounds in one process (median steps/s; in-memory stepper on the subset, streamed on all rows):",
        "",
        "| batch | in memory | streamed | streamed / in memory |",
        "|---:|---:|---:|---:|",
    ]
    for row in record["interleaved"]:
        lines.append(
            f"| {row['batch_size']} | {row['median_memory']:.0f} | {row['median_stream']:.0f} | {row['ratio']:.2f} |"
        )
    (RESULTS / "stream_data.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/aejax_stream_data")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--subset", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", nargs=4, metavar=("PATH", "PIPELINE", "BATCH", "MAX_EXAMPLES"))
    args = parser.parse_args()
    if args.child:
        path, pipeline, batch, max_examples = args.child
        child_fit(path, pipeline, int(batch), int(max_examples))
        return
    load_before = [round(v, 2) for v in os.getloadavg()]
    path = generate(Path(args.dir), args.rows)
    stream_epoch = run_child(str(path), "stream", "1024", "0")
    memory_subset = run_child(str(path), "memory", "1024", str(args.subset))
    rows = [
        interleaved(path, args.subset, batch, args.rounds, 1000 // (batch // 128)) for batch in (128, 1024)
    ]
    record = {
        "command": "python " + " ".join(["benchmarks/stream_data.py", *sys.argv[1:]]),
        "rows": args.rows,
        "subset": args.subset,
        "dataset_gb": args.rows * FEATURES * 4 / 1e9,
        "stream_epoch": stream_epoch,
        "memory_subset": memory_subset,
        # what holding a split in memory costs beyond a streamed run's RSS, per byte of the split
        "memory_rss_per_dataset_byte": (memory_subset["peak_rss_mib"] - stream_epoch["peak_rss_mib"])
        * 2**20
        / (args.subset * FEATURES * 4),
        "interleaved": rows,
        "load_before": load_before,
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
    }
    write(record)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
