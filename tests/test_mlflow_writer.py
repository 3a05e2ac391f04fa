"""The MLflow writer: the same scalars and steps as metrics.jsonl, pictures, one MLflow run per workdir that a
resumed run continues without logging a step twice. Against an in-memory stand-in for MLflow's client (always),
and against MLflow itself when it is installed."""

import sys
import types
import typing
from collections import defaultdict

import numpy as np
import pytest

import aejax
from aejax.training import MetricsLog


class FakeClient:
    """MlflowClient's calls the writer makes, kept in memory (one store shared by every client)."""

    store: typing.ClassVar[dict] = {}

    def __init__(self, tracking_uri):
        self.uri = tracking_uri
        self.store.setdefault("runs", {})

    def get_experiment_by_name(self, name):
        return None if name not in self.store else types.SimpleNamespace(experiment_id=self.store[name])

    def create_experiment(self, name):
        self.store[name] = "1"
        return "1"

    def create_run(self, experiment_id, run_name):
        run_id = f"run{len(self.store['runs'])}"
        self.store["runs"][run_id] = {"metrics": defaultdict(list), "images": [], "status": "RUNNING"}
        return types.SimpleNamespace(info=types.SimpleNamespace(run_id=run_id))

    def log_batch(self, run_id, metrics):
        for m in metrics:
            self.store["runs"][run_id]["metrics"][m.key].append(m)

    def log_image(self, run_id, image, key, step):
        self.store["runs"][run_id]["images"].append((key, step, image.shape))

    def get_run(self, run_id):
        metrics = self.store["runs"][run_id]["metrics"]
        return types.SimpleNamespace(
            data=types.SimpleNamespace(metrics={k: v[-1].value for k, v in metrics.items()})
        )

    def get_metric_history(self, run_id, key):
        return list(self.store["runs"][run_id]["metrics"][key])

    def set_terminated(self, run_id):
        self.store["runs"][run_id]["status"] = "FINISHED"


@pytest.fixture
def fake_mlflow(monkeypatch):
    FakeClient.store = {}
    mlflow = types.ModuleType("mlflow")
    tracking = types.ModuleType("mlflow.tracking")
    entities = types.ModuleType("mlflow.entities")
    tracking.MlflowClient = FakeClient
    entities.Metric = lambda key, value, timestamp, step: types.SimpleNamespace(
        key=key, value=value, step=step
    )
    for name, module in (("mlflow", mlflow), ("mlflow.tracking", tracking), ("mlflow.entities", entities)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return FakeClient.store


def _expected(workdir):
    return sorted(
        (f"{r['split']}/{k}", r["step"])
        for r in MetricsLog(workdir / "metrics.jsonl").read()
        for k, v in r.items()
        if k not in ("split", "step", "epoch")
    )


def test_a_killed_and_resumed_run_logs_every_step_once_into_one_mlflow_run(
    fake_mlflow, tiny_config, tmp_path, monkeypatch
):
    tiny_config.train.epochs = 3
    tiny_config.checkpoint.every_epochs = 1
    tiny_config.train.writers = ("jsonl", "mlflow")
    tiny_config.eval.plots = True
    original = MetricsLog.append
    kill_at = {}

    def crash(self, record):
        if record["split"] == "val" and record["epoch"] == 2:
            kill_at["step"] = record["step"]
            raise KeyboardInterrupt("killed")
        original(self, record)

    monkeypatch.setattr(MetricsLog, "append", crash)
    with pytest.raises(KeyboardInterrupt):
        aejax.fit(tiny_config, workdir=tmp_path)
    monkeypatch.setattr(MetricsLog, "append", original)
    trained = aejax.fit(tiny_config, workdir=tmp_path)
    assert trained.results["resumed_from"] < kill_at["step"]
    (run,) = fake_mlflow["runs"].values()  # the resumed run went on in the same MLflow run
    logged = sorted((key, m.step) for key, points in run["metrics"].items() for m in points)
    assert logged == _expected(tmp_path) and len(set(logged)) == len(logged)
    losses = {
        r["step"]: r["loss"] for r in MetricsLog(tmp_path / "metrics.jsonl").read() if r["split"] == "train"
    }
    assert {m.step: m.value for m in run["metrics"]["train/loss"]} == pytest.approx(losses)
    assert [key for key, _, _ in run["images"]] == ["val_reconstructions"] * 3 and run["status"] == "FINISHED"
    assert (tmp_path / "mlflow_run.json").is_file()


def test_without_mlflow_installed_the_error_says_how_to_get_it(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    tiny_config.train.writers = ("mlflow",)
    with pytest.raises(ImportError, match="pip install mlflow-skinny"):
        aejax.fit(tiny_config, workdir=tmp_path)


def test_with_mlflow_itself(tiny_config, tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="MLflow is optional (pip install mlflow-skinny)")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tiny_config.train.writers = ("mlflow",)
    aejax.fit(tiny_config, workdir=tmp_path)
    client = MlflowClient((tmp_path / "mlruns").resolve().as_uri())
    import json

    run_id = json.loads((tmp_path / "mlflow_run.json").read_text())["run_id"]
    keys = client.get_run(run_id).data.metrics
    logged = sorted((key, m.step) for key in keys for m in client.get_metric_history(run_id, key))
    assert logged == _expected(tmp_path)
    assert np.isfinite([m.value for m in client.get_metric_history(run_id, "train/loss")]).all()
