"""An MLflow run as a metric writer (`train.writers = ("tensorboard", "mlflow")`), when MLflow is installed.

The run's scalars go to MLflow under the same tags as TensorBoard's (`<split>/<metric>`, at the record's
step) and the evaluation pictures as MLflow images. The tracking URI is `MLFLOW_TRACKING_URI` when set, else a
file store in `workdir/mlruns` (MLflow 3 refuses file stores unless `MLFLOW_ALLOW_FILE_STORE` is true; this
writer sets it for its own default store only). The run id is kept in `workdir/mlflow_run.json`, so a resumed
run logs into the same MLflow run; steps already logged before the kill are not logged again (MLflow cannot
delete metric points, and a resumed aejax run repeats them exactly).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from aejax.training.metrics_log import write_atomic

NOT_SCALARS = ("split", "step", "epoch")
RUN_FILE = "mlflow_run.json"


def _client(workdir: Path):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as err:
        raise ImportError(
            "train.writers names 'mlflow' but MLflow is not installed: `pip install mlflow-skinny` (or "
            "`mlflow`), or leave 'mlflow' out of train.writers"
        ) from err
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        uri = (workdir / "mlruns").resolve().as_uri()
    return MlflowClient(tracking_uri=uri)


class MlflowLog:
    """Scalars and images of a run in one MLflow run (experiment `MLFLOW_EXPERIMENT_NAME`, default 'aejax';
    run name: the workdir's name)."""

    def __init__(self, workdir: str | Path):
        self.workdir = Path(workdir)
        self.client = _client(self.workdir)
        self.run_id = self._run_id()
        self.logged: dict[str, int] = {}  # tag: the last step MLflow holds for it (set on resume)

    def _run_id(self) -> str:
        path = self.workdir / RUN_FILE
        if path.is_file():
            return json.loads(path.read_text())["run_id"]
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "aejax")
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = (
            experiment.experiment_id if experiment is not None else self.client.create_experiment(name)
        )
        run = self.client.create_run(experiment_id, run_name=self.workdir.resolve().name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"run_id": run.info.run_id, "experiment_id": experiment_id}) + "\n")
        return run.info.run_id

    def append(self, record: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        step = int(record.get("step", 0))
        split, stamp = record.get("split", "train"), int(time.time() * 1000)
        metrics = [
            Metric(f"{split}/{key}", float(value), stamp, step)
            for key, value in sorted(record.items())
            if key not in NOT_SCALARS and isinstance(value, int | float) and not isinstance(value, bool)
        ]
        metrics = [m for m in metrics if step > self.logged.get(m.key, -1)]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def append_images(self, step: int, images: dict[str, np.ndarray]) -> None:
        # pictures are drawn right after a validation record: held already when that record is
        if step <= max((s for tag, s in self.logged.items() if tag.startswith("val/")), default=-1):
            return
        for tag, image in sorted(images.items()):
            pixels = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
            self.client.log_image(self.run_id, pixels, key=tag.replace("/", "_"), step=step)

    def truncate_after(self, step: int) -> None:
        """A resumed run: what MLflow holds after `step` stays, and each tag's points up to the last step
        MLflow holds for it are skipped rather than logged twice."""
        keys = self.client.get_run(self.run_id).data.metrics
        self.logged = {
            key: max((m.step for m in self.client.get_metric_history(self.run_id, key)), default=-1)
            for key in keys
        }

    def close(self) -> None:
        self.client.set_terminated(self.run_id)
