"""The `aejax` command: train, eval and info. This module owns the flags; all logic is importable.

aejax train --config experiments/ae_digits.py --workdir runs/ae_digits [--config.train.epochs=5 ...]
aejax eval --workdir runs/ae_digits [--split test]
aejax info --workdir runs/ae_digits
aejax task --config experiments/autorec_ml100k.py --workdir runs/autorec   (task.name: see aejax.tasks.TASKS)
aejax bench [--batch-sizes 128 1024] [--readme README.md]                 (train-step throughput, aejax/bench.py)
aejax bench --end-to-end [--rounds 3] [--readme README.md]     (time to a trained model, aejax/benchmarking)
aejax export --workdir runs/ae_digits --what encode|decode|reconstruct|score --format stablehlo|onnx --out F
                                                           (a self-contained file and F.json, aejax/export)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aejax import config as config_lib
from aejax.preemption import PREEMPTED_EXIT_STATUS, RunPreempted  # standard library only: no JAX yet
from aejax.workdir_lock import WorkdirInUseError, workdir_lock

logger = logging.getLogger("aejax")
KEEP_FREED_MEMORY_OFF = "--no-keep-freed-memory"


def _split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate `--config.a.b=value` / `--config.a.b value` overrides from the other arguments."""
    rest, overrides = [], []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        if item.startswith("--config."):
            body = item[len("--config.") :]
            if "=" not in body:
                if i + 1 >= len(items):
                    raise SystemExit(f"aejax: {item} needs a value (--config.key.path=value)")
                body = f"{body}={items[i + 1]}"
                i += 1
            overrides.append(body)
        else:
            rest.append(item)
        i += 1
    return rest, overrides


def _parser(bench_arguments: bool = True) -> argparse.ArgumentParser:
    """The flags; `bench_arguments=False` leaves out `aejax bench`'s own (they come from aejax.bench, which
    imports JAX: the other commands take the workdir lock and tune the allocator before that)."""
    parser = argparse.ArgumentParser(prog="aejax", description="Autoencoders in JAX/Flax.")
    parser.add_argument(  # main() reads it before JAX is imported, wherever it stands on the command line
        KEEP_FREED_MEMORY_OFF,
        action="store_true",
        help="leave glibc's allocator settings alone; by default, computing on the CPU, aejax keeps freed memory "
        "for XLA's next step (aejax/host_memory.py; AEJAX_KEEP_FREED_MEMORY=0 does the same)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train (or resume) an experiment; --config.a.b=value overrides keys")
    train.add_argument("--config", required=True, help="experiment file (experiments/*.py) or its name")
    train.add_argument("--workdir", required=True, help="directory for checkpoints, metrics and pictures")
    group = train.add_argument_group(
        "several processes (jax.distributed: one per host, all with the same flags but --process-id)"
    )
    group.add_argument("--coordinator-address", help="HOST:PORT of process 0's coordinator")
    group.add_argument("--num-processes", type=int, help="how many processes train together")
    group.add_argument("--process-id", type=int, help="this process's index, 0 to num-processes - 1")
    evaluate = sub.add_parser("eval", help="print test metrics of a trained workdir as JSON")
    evaluate.add_argument("--workdir", required=True)
    evaluate.add_argument("--split", default="test", choices=("train", "val", "test"))
    info = sub.add_parser("info", help="print what a workdir holds as JSON")
    info.add_argument("--workdir", required=True)
    task = sub.add_parser("task", help="run the application named by config.task.name; prints its report")
    task.add_argument("--config", required=True, help="experiment file (experiments/*.py) or its name")
    task.add_argument("--workdir", required=True)
    _add_export_parser(sub)
    bench = sub.add_parser("bench", help="measure train-step throughput; writes JSON and a markdown table")
    if bench_arguments:
        from aejax.bench import add_arguments
        from aejax.benchmarking import end_to_end

        add_arguments(bench)
        bench.add_argument(
            "--end-to-end",
            action="store_true",
            help="time whole training runs instead (aejax train, aejax.fit, hand-written JAX and PyTorch)",
        )
        end_to_end.add_arguments(bench)  # --out and --readme: the step benchmark's, shared
    return parser


EXPORT_HELP = """\
Writes one function of the trained model (what Trained.encode/decode/reconstruct/score computes) in float32
with the weights baked in and any batch size, and OUT.json saying the input shape (without the batch), dtype,
output shape, jax version and family. Run it without aejax:

  stablehlo (plain jax):  exported = jax.export.deserialize(open(OUT, "rb").read()); y = exported.call(x)
  onnx (opset 18):        (y,) = onnxruntime.InferenceSession(OUT).run(None, {"x": x})

x: float32 (batch, *input_shape). What cannot export (a VAE's score or a recurrent model to ONNX, ...) exits
with status 2 and says why (aejax.export.ExportError)."""


def _add_export_parser(sub) -> None:
    export = sub.add_parser(
        "export",
        help="write a trained model's encode/decode/reconstruct/score as a StableHLO or ONNX file",
        description=EXPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("--workdir", required=True, help="a trained workdir (aejax train)")
    export.add_argument("--what", required=True, choices=("encode", "decode", "reconstruct", "score"))
    export.add_argument("--format", required=True, choices=("stablehlo", "onnx"))
    export.add_argument("--out", required=True, help="the file to write; its description goes to OUT.json")


def export_command(args: argparse.Namespace, overrides: Sequence[str]) -> None:
    """`aejax export`: the workdir's model's function to a file and its JSON sidecar (aejax/export)."""
    import aejax

    if overrides:
        raise ValueError("aejax export takes no --config.* overrides")
    record = aejax.load(args.workdir).export(args.what, args.format, args.out)
    print(json.dumps(record, indent=2))
    print(f"wrote {args.out} and {args.out}.json")


def join_processes(
    coordinator_address: str | None, num_processes: int | None, process_id: int | None
) -> bool:
    """`aejax train`'s distributed flags: join the run when they are given (all three, or none)."""
    given = [v is not None for v in (coordinator_address, num_processes, process_id)]
    if not any(given):
        return False
    if not all(given):
        raise ValueError(
            "several processes need all of --coordinator-address HOST:PORT, --num-processes N and --process-id I"
        )
    from aejax.training.parallel import initialize_distributed

    initialize_distributed(coordinator_address, num_processes, process_id)
    return True


def train_command(config_path: str, workdir: str, overrides: Sequence[str]) -> dict[str, Any]:
    import aejax

    config = config_lib.get_config(config_path)
    config_lib.apply_overrides(config, overrides)
    if config_lib.sweep_values(config):  # a vmapped sweep: one results dict per member
        return {"members": [member.results for member in aejax.sweep(config, workdir=workdir)]}
    trained = aejax.fit(config, workdir=workdir)
    return trained.results


def task_command(config_path: str, workdir: str, overrides: Sequence[str]) -> dict[str, Any]:
    import aejax

    config = config_lib.get_config(config_path)
    config_lib.apply_overrides(config, overrides)
    return aejax.run_task(config, workdir)


def task_summaries(workdir: Path) -> dict[str, Any]:
    """The task reports a workdir holds (reduce.json, features.json, ...), keyed by task."""
    from aejax.tasks.registry import TASKS

    return {
        name: json.loads((workdir / task.report_file).read_text())
        for name, task in TASKS.items()
        if (workdir / task.report_file).is_file()
    }


def task_lines(name: str, report: dict[str, Any]) -> list[str]:
    """A few lines of text a person reads instead of the task's JSON (the registered task's summary)."""
    from aejax.tasks.registry import report_lines

    return report_lines(name, report)


def eval_command(workdir: str, split: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    import aejax
    from aejax.fitting import evaluate_split

    trained = aejax.load(workdir)
    config = trained.config
    config_lib.apply_overrides(config, overrides)
    tasks = task_summaries(Path(workdir))
    if config.data.source == "arrays" and tasks:
        return {"step": trained.step, "tasks": tasks}
    if config.data.source == "arrays":
        raise ValueError(
            "this run was trained on in-memory arrays (data.source='arrays'); evaluate it in Python with "
            "aejax.load(workdir).evaluate(x), or name a source: --config.data.source=... --config.data.path=..."
        )
    dataset = aejax.get_dataset(config)
    x, _ = dataset.split(split)
    if x is None:
        raise ValueError(f"the dataset {dataset.name!r} has no {split!r} split")
    metrics: dict[str, Any] = {"split": split, "examples": int(x.shape[0]), "step": trained.step}
    metrics.update(evaluate_split(trained, dataset, x))
    if tasks:
        metrics["tasks"] = tasks
    return metrics


def info_command(workdir: str) -> dict[str, Any]:
    from aejax.trained import CONFIG_FILE, RUN_FILE
    from aejax.training import Checkpointer, MetricsLog
    from aejax.training.run_files import read_json_file

    path = Path(workdir)
    if not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{workdir!r} is not an aejax workdir: {CONFIG_FILE} is missing")
    config = config_lib.read_config_file(path / CONFIG_FILE)
    run = read_json_file(path / RUN_FILE) if (path / RUN_FILE).is_file() else {}
    checkpointer = Checkpointer(path / "checkpoints", max_to_keep=config.checkpoint.max_to_keep)
    steps = checkpointer.all_steps()
    checkpointer.close()
    records = MetricsLog(path / "metrics.jsonl").read()
    last = {
        split: next((r for r in reversed(records) if r.get("split") == split), None)
        for split in ("train", "val")
    }
    results_file = path / "results.json"
    return {
        "workdir": str(path.resolve()),
        "data": config.data.to_dict(),
        "model": config.model.to_dict(),
        "loss": {
            "reconstruction": config.loss.reconstruction,
            "regularizers": config.loss.regularizers.to_dict(),
        },
        "input_shape": run.get("input_shape"),
        "total_steps": run.get("total_steps"),
        "checkpoint_steps": steps,
        "latest_step": steps[-1] if steps else None,
        "last_train": last["train"],
        "last_val": last["val"],
        "results": read_json_file(results_file) if results_file.is_file() else None,
        "pictures": sorted(p.name for p in path.glob("*.png")),
        "tasks": task_summaries(path),
    }


def bench_command(args: argparse.Namespace, overrides: Sequence[str]) -> None:
    """`aejax bench`: train-step throughput (aejax/bench.py), or with --end-to-end whole training runs
    (aejax/benchmarking/end_to_end.py); each writes its JSON and markdown and prints the table."""
    if overrides:
        raise ValueError("aejax bench takes no --config.* overrides")
    if args.end_to_end:
        from aejax.benchmarking.end_to_end import run_from_args

        run_from_args(args)
        return
    from aejax import bench

    report = bench.run(args.models, args.batch_sizes, args.steps, args.repeats, args.backends)
    stem = bench.write(report, args.out, args.readme)
    print(bench.markdown(report))
    print(f"wrote {stem}.json and {stem}.md")


def _print_train_summary(results: dict[str, Any]) -> None:
    if "members" in results:
        first = results["members"][0]
        print(
            f"sweep of {len(results['members'])} members in one program: data {first['data']}; "
            f"{first['steps']}/{first['total_steps']} steps each in {first['sweep']['seconds_all_members']:.1f} s"
        )
        for member in results["members"]:
            swept = ", ".join(f"{k}={v}" for k, v in member["sweep"]["values"].items())
            test = member.get("test", {})
            mse = f"test MSE per feature {test['mse']:.5f}" if "mse" in test else "no test split"
            print(f"member_{member['sweep']['member']}: {swept}: {mse}")
        return
    print(
        f"data: {results['data']}; {results['params']} params; {results['steps']}/{results['total_steps']} steps "
        f"in {results['train_seconds']:.1f} s" + (" (stopped early)" if results["stopped_early"] else "")
    )
    if "eval_seconds" in results:  # runs evaluated before these timings were recorded lack them
        print(
            f"time: startup {results['startup_seconds']:.1f} s, training {results['train_seconds']:.1f} s (of which "
            f"checkpoints {results['checkpoint_seconds']:.2f} s), evaluation and pictures {results['eval_seconds']:.1f} s"
        )
    for split in ("val", "test"):
        if split in results:
            m = results[split]
            line = f"{split} MSE per feature: autoencoder {m['mse']:.5f}"
            if "pca_mse" in m:
                line += f" | PCA ({m['pca_components']} components) {m['pca_mse']:.5f}"
            print(line)
            if "elbo" in m:
                line = (
                    f"{split} ELBO {m['elbo']:.2f} nats (reconstruction {m['reconstruction']:.2f}, KL {m['kl']:.2f}); "
                    f"active units {m['active_units']}"
                )
                if "nll" in m:
                    line += f"; NLL {m['nll']:.2f} nats ({m['nll_bits_per_dim']:.4f} bits/dim, k={m['nll_samples']})"
                print(line)


def _tune_host_memory(argv: list[str]) -> list[str]:
    """Keep freed memory for XLA-CPU's next step unless --no-keep-freed-memory says no; argv without the flag.

    Runs before anything imports JAX (the parser imports aejax.bench): glibc's allocator settings must go in
    first. The flag counts wherever it stands on the command line (aejax.host_memory).
    """
    keep_freed_memory = KEEP_FREED_MEMORY_OFF not in argv
    argv = [item for item in argv if item != KEEP_FREED_MEMORY_OFF]
    if keep_freed_memory:
        from aejax import host_memory

        if host_memory.computes_on_cpu():
            host_memory.keep_freed_memory()
    return argv


def _workdir_lock(args: argparse.Namespace):
    """The workdir's one-writer lock, taken before JAX is imported and the data loaded, so that a second run
    there refuses at once (one of several processes: process 0 holds it; fit re-enters it)."""
    primary = getattr(args, "process_id", None) in (None, 0)
    return workdir_lock(args.workdir if primary else None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = _tune_host_memory(list(sys.argv[1:] if argv is None else argv))  # first: before JAX is imported
    rest, overrides = _split_overrides(argv)
    command = next((item for item in rest if not item.startswith("-")), None)
    args = _parser(bench_arguments=command in (None, "bench")).parse_args(rest)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("absl", "jax", "orbax"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command == "train":
            with _workdir_lock(args):
                joined = join_processes(args.coordinator_address, args.num_processes, args.process_id)
                results = train_command(args.config, args.workdir, overrides)
            if joined and args.process_id != 0:  # process 0 prints the summary
                return 0
            _print_train_summary(results)
            what = (
                "member_<i>/ per member"
                if "members" in results
                else "metrics.jsonl, results.json, checkpoints/, *.png"
            )
            print(f"workdir: {args.workdir} ({what})")
        elif args.command == "task":
            with _workdir_lock(args):
                report = task_command(args.config, args.workdir, overrides)
            print("\n".join(task_lines(report["task"], report)))
            print(f"workdir: {args.workdir} ({report['task']}.json and pictures)")
        elif args.command in ("bench", "export"):  # commands that read their own flags
            {"bench": bench_command, "export": export_command}[args.command](args, overrides)
        elif args.command == "eval":
            metrics = eval_command(args.workdir, args.split, overrides)
            print(json.dumps({k: v for k, v in metrics.items() if k != "tasks"}, indent=2))
            for name, report in metrics.get("tasks", {}).items():
                print("\n".join(task_lines(name, report)))
        else:
            if overrides:
                raise ValueError("aejax info takes no --config.* overrides")
            print(json.dumps(info_command(args.workdir), indent=2, default=str))
    except RunPreempted as stop:
        print(f"aejax {args.command}: {stop}", file=sys.stderr)
        return PREEMPTED_EXIT_STATUS
    # OSError: a missing file, and a full or read-only disk (aejax's WorkdirWriteError, or the lock's own open)
    except (ValueError, OSError, TypeError, FloatingPointError, WorkdirInUseError) as err:
        print(f"aejax {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
