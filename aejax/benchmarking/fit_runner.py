"""`aejax.fit` called from a Python script, as the README's Python API shows, for the end-to-end benchmark.

    python aejax/benchmarking/fit_runner.py --config ae_digits --workdir DIR [key.path=value ...]

It applies `keep_freed_memory` first (as the README asks a script to, before JAX is imported), imports aejax's
fit (which imports JAX, flax and optax), builds the config with the overrides, and times `fit(config,
workdir=...)`. It prints one JSON line (`peer_data.emit`'s format): import_seconds, fit_seconds and the
results.json figures (train_seconds and any other *_seconds).
"""

from __future__ import annotations

import argparse
import json
import time

from aejax.benchmarking.peer_data import emit


def main() -> None:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("overrides", nargs="*", help="key.path=value, as --config.key.path=value on the CLI")
    args = parser.parse_args()
    from aejax.host_memory import computes_on_cpu, keep_freed_memory

    if computes_on_cpu():
        keep_freed_memory()
    from aejax.config import apply_overrides, get_config
    from aejax.fitting import fit

    imported = time.perf_counter()
    config = get_config(args.config)
    apply_overrides(config, args.overrides)
    fit_started = time.perf_counter()
    trained = fit(config, workdir=args.workdir)
    done = time.perf_counter()
    results = json.loads(json.dumps(trained.results, default=float))
    record = {key: value for key, value in results.items() if key.endswith("_seconds")}
    record.update(
        import_seconds=imported - started,
        config_seconds=fit_started - imported,
        fit_seconds=done - fit_started,
        steps=results.get("steps"),
        best_val=results.get("best_val_reconstruction"),
        best_epoch=results.get("best_epoch"),
        test_mse=results.get("test", {}).get("mse"),
    )
    emit(record)


if __name__ == "__main__":
    main()
