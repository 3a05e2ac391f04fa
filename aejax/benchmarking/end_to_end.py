"""End-to-end benchmark: how long a user waits for a trained model, aejax against hand-written loops.

    python benchmarks/end_to_end.py [--rounds 3] [--jobs digits mnist] [--readme README.md]
                                    [--baseline-repo ../old --baseline-python python3]
    aejax bench --end-to-end [--rounds 3] [--readme README.md]        (the same)

Each job (`peer_data.JOBS`: the main job, ae_digits for 100 epochs without early stopping; ae_mnist on the 10k
MNIST test files, 30 epochs) runs as separate processes, one per variant, in interleaved rounds (every variant
of a job once per round, in an order shuffled per round with a fixed seed):

- `train`: `aejax train --config <job> --workdir <fresh temp dir> --config...` (the console script's code run by
  `python -c`, so that `--baseline-python` and PYTHONPATH pick the package); its results.json gives
  train_seconds and any other *_seconds. Default checkpoint and evaluation settings.
- `fit`: `fit_runner.py`, a script calling `aejax.fit(config, workdir=...)`.
- `jax`: `peer_jax.py`, the hand-written JAX loop (the ratios' reference); `torch`: `peer_torch.py`, PyTorch
  eager (when torch imports; fused Adam).
- `baseline` (with --baseline-repo PATH): the `train` command run with PYTHONPATH=PATH, e.g. a `git worktree` of
  an earlier commit, so that before and after come from one interleaved run.

The driver times each whole process and reads the figures it reports; medians over rounds and the medians of
the per-round ratios go to `<out>/end_to_end-<backend>.{json,md}` (`report.py`), and with --readme to the
README between `<!-- end-to-end:begin -->` and `<!-- end-to-end:end -->`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aejax.benchmarking import report as report_lib
from aejax.benchmarking.peer_data import DEFAULT_MNIST, JOBS, Job, parse_result

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parents[1]  # the directory that holds this aejax package
CLI_MAIN = "import sys; from aejax.cli import main; sys.exit(main())"  # what the `aejax` console script runs
VARIANTS = ("train", "fit", "jax", "torch")
SHUFFLE_SEED = 0


@dataclass(frozen=True)
class Variant:
    """One way of training a job: a command line builder's inputs."""

    name: str  # train | fit | jax | torch | baseline
    python: str = sys.executable
    pythonpath: str | None = None  # prepended to PYTHONPATH (train, fit, baseline)


@dataclass
class Settings:
    rounds: int = 3
    jobs: tuple[str, ...] = ("digits", "mnist")
    variants: tuple[str, ...] = VARIANTS
    mnist_path: str = DEFAULT_MNIST
    baseline_repo: str | None = None
    baseline_python: str = sys.executable
    epochs: int = 0  # > 0 replaces every job's epochs (quick checks)
    progress: bool = True
    skipped: list[str] = field(default_factory=list)


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def job_of(name: str, settings: Settings) -> Job:
    job = JOBS[name]
    return job._replace(epochs=settings.epochs) if settings.epochs > 0 else job


def select_variants(settings: Settings) -> list[Variant]:
    """The variants to run; torch is left out (with a note in settings.skipped) when it does not import."""
    chosen = []
    for name in settings.variants:
        if name == "torch" and not torch_available():
            settings.skipped.append("PyTorch eager: skipped, torch is not installed (pip install torch)")
            continue
        pythonpath = str(PACKAGE_ROOT) if name in ("train", "fit") else None
        chosen.append(Variant(name, sys.executable, pythonpath))
    if settings.baseline_repo:
        repo = str(Path(settings.baseline_repo).expanduser().resolve())
        chosen.append(Variant(report_lib.BASELINE, settings.baseline_python, repo))
    return chosen


def select_jobs(settings: Settings) -> list[str]:
    """The jobs to run; mnist is left out (with a note) when its IDX files are not there."""
    jobs = []
    for name in settings.jobs:
        if JOBS[name].source == "mnist" and not Path(settings.mnist_path).expanduser().is_dir():
            settings.skipped.append(
                f"{name}: skipped, no MNIST directory at {settings.mnist_path!r} (--mnist-path)"
            )
            continue
        jobs.append(name)
    return jobs


def aejax_overrides(job: Job, settings: Settings) -> list[str]:
    """The `--config.` overrides that make the job's aejax experiment the job."""
    overrides = [f"train.epochs={job.epochs}", "train.early_stopping_patience=0"]
    if job.source == "mnist":
        mnist = Path(settings.mnist_path).expanduser().resolve()
        overrides += [f"data.path={mnist}", f"train.warmup_steps={job.warmup_steps}"]
    return overrides


def command(variant: Variant, job_name: str, workdir: Path, settings: Settings) -> list[str]:
    job = job_of(job_name, settings)
    overrides = aejax_overrides(job, settings)
    if variant.name in ("train", report_lib.BASELINE):
        cli = ["train", "--config", job.config, "--workdir", str(workdir)]
        return [variant.python, "-c", CLI_MAIN, *cli, *(f"--config.{o}" for o in overrides)]
    if variant.name == "fit":
        runner = [str(HERE / "fit_runner.py"), "--config", job.config, "--workdir", str(workdir)]
        return [variant.python, *runner, *overrides]
    mnist = str(Path(settings.mnist_path).expanduser().resolve())
    peer = [str(HERE / f"peer_{variant.name}.py"), "--job", job_name, "--mnist-path", mnist]
    return [variant.python, *peer, "--epochs", str(job.epochs)]


def environment(variant: Variant) -> dict[str, str]:
    env = dict(os.environ)
    if variant.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (variant.pythonpath, env.get("PYTHONPATH")) if p)
    return env


EXPECTED_CONFIG = {  # config.json path -> the job field it must equal (None: the literal after it)
    "data.source": "source",
    "model.family": (None, "autoencoder"),
    "model.hidden": "hidden",
    "model.decoder_hidden": (None, [-1]),
    "model.latent_dim": "latent",
    "model.activation": "activation",
    "model.code_activation": (None, "identity"),
    "model.output_activation": (None, "sigmoid"),
    "loss.reconstruction": (None, "mse"),
    "train.optimizer": (None, "adam"),
    "train.schedule": (None, "warmup_cosine"),
    "train.epochs": "epochs",
    "train.batch_size": "batch_size",
    "train.learning_rate": "learning_rate",
    "train.warmup_steps": "warmup_steps",
    "train.grad_clip_norm": "grad_clip_norm",
    "train.min_learning_rate_ratio": "min_learning_rate_ratio",
    "train.early_stopping_patience": (None, 0),
    "checkpoint.keep_best": (None, True),
}


def config_mismatches(config: dict[str, Any], job: Job) -> list[str]:
    """Where an aejax run's config.json describes other work than the job the peers run."""
    found = []
    for path, expected in EXPECTED_CONFIG.items():
        value: Any = config
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        want = expected[1] if isinstance(expected, tuple) else getattr(job, expected)
        want = list(want) if isinstance(want, tuple) else want
        if value != want:
            found.append(f"{path}={value!r} (the job has {want!r})")
    return found


def read_figures(variant: Variant, stdout: str, workdir: Path, job: Job) -> dict[str, Any]:
    """What a finished run reports: results.json for `aejax train`, the printed JSON line otherwise."""
    if variant.name in ("train", report_lib.BASELINE):
        results = json.loads((workdir / "results.json").read_text())
        record = {k: v for k, v in results.items() if k.endswith("_seconds")}
        record.update(
            steps=results.get("steps"),
            best_val=results.get("best_val_reconstruction"),
            best_epoch=results.get("best_epoch"),
            test_mse=results.get("test", {}).get("mse"),
        )
    else:
        record = parse_result(stdout)
        if record is None:
            raise RuntimeError(f"{variant.name} printed no result line; its output ended:\n{stdout[-2000:]}")
    if variant.name not in ("jax", "torch"):
        record["mismatches"] = config_mismatches(json.loads((workdir / "config.json").read_text()), job)
    return record


def run_once(variant: Variant, job_name: str, settings: Settings) -> dict[str, Any]:
    """Run one variant of one job in a fresh temporary directory; its figures and the process's wall time."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # others' work on the machine
    with tempfile.TemporaryDirectory(prefix="aejax-e2e-") as tmp:
        workdir = Path(tmp) / "workdir"
        argv = command(variant, job_name, workdir, settings)
        started = time.perf_counter()
        done = subprocess.run(
            argv, cwd=tmp, env=environment(variant), capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(
                f"{variant.name} on {job_name} exited with {done.returncode}: {' '.join(argv)}\n"
                f"{(done.stdout + done.stderr)[-3000:]}"
            )
        record = read_figures(variant, done.stdout, workdir, job_of(job_name, settings))
    record.update(job=job_name, variant=variant.name, process_seconds=seconds, load_average=load)
    return record


def schedule(jobs: list[str], variants: list[Variant], rounds: int, seed: int = SHUFFLE_SEED):
    """(round, job, variant) in the order they run: rounds, then jobs, then the variants shuffled."""
    rng = random.Random(seed)
    order = []
    for round_index in range(rounds):
        for job in jobs:
            shuffled = list(variants)
            rng.shuffle(shuffled)
            order.extend((round_index, job, variant) for variant in shuffled)
    return order


def versions(python: str = sys.executable) -> dict[str, Any]:
    """Versions of Python and the libraries, the JAX backend and device, and the CPU count (a subprocess: the
    driver itself does not import JAX)."""
    probe = (
        "import importlib.metadata as m, json, platform, jax\n"
        "def v(name):\n"
        "    try:\n        return m.version(name)\n    except m.PackageNotFoundError:\n        return None\n"
        "print(json.dumps({'python': platform.python_version(), **{n: v(n) for n in "
        "('jax', 'jaxlib', 'flax', 'optax', 'torch')}, 'backend': jax.default_backend(), "
        "'device': jax.devices()[0].device_kind}))"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    found["cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return found


def git_commit(repo: str | Path) -> str | None:
    """The short commit of the checkout at `repo`, with '+changes' when tracked files differ from it."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", "-C", str(repo), *argv], capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    changed = git("status", "--porcelain", "--untracked-files=no")
    return (commit + ("+changes" if changed else "")) or None


def _line(round_index: int, rounds: int, record: dict[str, Any]) -> str:
    train = record.get("train_seconds")
    return (
        f"round {round_index + 1}/{rounds} {record['job']:<6} {report_lib.LABELS[record['variant']]}: process "
        f"{record['process_seconds']:.1f} s, train {'n/a' if train is None else f'{train:.1f}'} s"
        + ("" if record["load_average"] is None else f" (load average before: {record['load_average']:.2f})")
    )


def run(settings: Settings) -> dict[str, Any]:
    """Every round of every job and variant; the report (versions, settings, runs, summary, notes)."""
    from tqdm import tqdm

    variants, jobs = select_variants(settings), select_jobs(settings)
    for note in settings.skipped:
        print(note, flush=True)
    found = versions()
    print(
        ", ".join(f"{k} {v}" for k, v in found.items() if k not in ("backend", "device"))
        + f"; {found['backend']} ({found['device']})",
        flush=True,
    )
    order = schedule(jobs, variants, settings.rounds)
    records = []
    with tqdm(total=len(order), desc="end-to-end runs", unit="run", disable=not settings.progress) as bar:
        for round_index, job, variant in order:
            record = run_once(variant, job, settings)
            records.append({"round": round_index, **record})
            bar.write(_line(round_index, settings.rounds, record))
            bar.update()
    chosen = {k: v for k, v in vars(settings).items() if k not in ("skipped", "progress")}
    chosen["commit"] = git_commit(PACKAGE_ROOT)
    if settings.baseline_repo:
        chosen["baseline_commit"] = git_commit(settings.baseline_repo)
    return {
        "versions": found,
        "settings": chosen,
        "jobs": {job: job_of(job, settings)._asdict() for job in jobs},
        "runs": records,
        "summary": report_lib.summarize(records),
        "skipped": list(settings.skipped),
    }


def _add_unless_declared(group: argparse._ArgumentGroup, flag: str, **settings: Any) -> None:
    """Add `flag` to `group` unless its parser has it already (`aejax bench` declares --out and --readme: the
    two benchmarks share them)."""
    with contextlib.suppress(argparse.ArgumentError):
        group.add_argument(flag, **settings)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The benchmark's flags (on `aejax bench`'s parser, or on its own in benchmarks/end_to_end.py)."""
    group = parser.add_argument_group("end-to-end (aejax/benchmarking/end_to_end.py)")
    flags: dict[str, dict[str, Any]] = {
        "--rounds": {"type": int, "default": 3, "help": "interleaved rounds (medians over them)"},
        "--jobs": {"nargs": "+", "default": ["digits", "mnist"], "choices": sorted(JOBS)},
        "--variants": {"nargs": "+", "default": list(VARIANTS), "choices": list(VARIANTS)},
        "--mnist-path": {"default": DEFAULT_MNIST, "help": "the MNIST IDX directory (mnist job)"},
        "--baseline-repo": {"default": None, "help": "also run `aejax train` with PYTHONPATH=PATH"},
        "--baseline-python": {"default": sys.executable, "help": "the baseline's interpreter"},
        "--epochs": {"type": int, "default": 0, "help": "> 0: every job this many epochs (quick checks)"},
        "--out": {"default": "benchmarks/results"},
        "--readme": {"default": None, "help": "a README whose end-to-end table to replace"},
    }
    for flag, settings in flags.items():
        _add_unless_declared(group, flag, **settings)
    return parser


def run_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Run with parsed flags, write the files, print the table; returns the report."""
    if args.rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {args.rounds}")
    settings = Settings(
        rounds=args.rounds,
        jobs=tuple(args.jobs),
        variants=tuple(args.variants),
        mnist_path=args.mnist_path,
        baseline_repo=args.baseline_repo,
        baseline_python=args.baseline_python,
        epochs=args.epochs,
    )
    report = run(settings)
    stem = report_lib.write(report, getattr(args, "out", "benchmarks/results"), getattr(args, "readme", None))
    print(report_lib.markdown(report))
    print(f"wrote {stem}.json and {stem}.md")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    run_from_args(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
