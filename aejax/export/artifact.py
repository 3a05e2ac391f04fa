"""`export_trained`: one of a trained model's functions to a StableHLO or ONNX file plus a JSON sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import jax

from aejax.export.errors import ExportError
from aejax.export.functions import describe, exported_function
from aejax.training.metrics_log import write_atomic

FORMATS = ("stablehlo", "onnx")


def sidecar_path(out: str | Path) -> Path:
    """Where the description of the artifact `out` goes: `out` with '.json' appended."""
    return Path(f"{out}.json")


def export_trained(trained, what: str, format: str, out: str | Path) -> dict:
    """Write `trained.<what>` (encode, decode, reconstruct or score) as a self-contained float32 artifact with a
    symbolic batch dimension to `out`, and its sidecar (see `sidecar_path`); returns the sidecar's record."""
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; valid: {', '.join(FORMATS)}")
    fn, input_shape = exported_function(trained, what)
    label = f"{what!r} of the {describe(trained)} model"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if format == "stablehlo":
        from aejax.export.stablehlo import to_stablehlo

        details = to_stablehlo(fn, input_shape, out, label)
    else:
        from aejax.export.onnx_export import to_onnx

        details = to_onnx(fn, input_shape, out, label)
    record = {
        "format": format,
        "what": what,
        "file": out.name,
        "input_shape": list(input_shape),
        "dtype": "float32",
        "batch": "axis 0 of input and output, any size (symbolic)",
        **details,
        "jax_version": jax.__version__,
        "family": trained.family.name,
        "config": _config_record(trained),
        "load": LOADERS[format].format(file=out.name),
    }
    write_atomic(sidecar_path(out), json.dumps(record, indent=2) + "\n")
    return record


def _config_record(trained) -> dict:
    """What identifies the model: its workdir (a workdir does not record the experiment's name) and shape."""
    model = trained.config.model
    return {
        "workdir": str(trained.workdir) if trained.workdir is not None else None,
        "data_source": trained.config.data.source,
        "encoder": model.encoder,
        "decoder": model.decoder,
        "latent_dim": int(model.latent_dim),
        "display_shape": list(trained.display_shape),
        "step": trained.step,
    }


LOADERS = {
    "stablehlo": "exported = jax.export.deserialize(open({file!r}, 'rb').read()); y = exported.call(x)",
    "onnx": "session = onnxruntime.InferenceSession({file!r}); (y,) = session.run(None, {{'x': x}})",
}
