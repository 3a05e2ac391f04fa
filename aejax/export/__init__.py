"""Model export: a trained model's encode / decode / reconstruct / score as a self-contained file.

    aejax export --workdir runs/ae_digits --what reconstruct --format stablehlo --out ae.stablehlo
    aejax.load("runs/ae_digits").export("score", "onnx", "ae_score.onnx")

Each artifact computes exactly what the `Trained` method computes (its own jitted function, traced), in
float32, with the trained weights baked in as constants, for any batch size (a symbolic first dimension).
A JSON sidecar `<out>.json` says what it computes, the input shape without the batch, the dtype, the output
shape, the jax version, the family and the model's description.

StableHLO (`jax.export`; plain jax, no aejax needed, jax at least the exporting version's serialization
compatibility window; x float32 of shape (batch, *input_shape)):

    exported = jax.export.deserialize(open("ae.stablehlo", "rb").read())
    y = exported.call(x)

ONNX (operator set 18; our own converter from the function's jaxpr, `aejax.export.onnx_export`):

    session = onnxruntime.InferenceSession("ae_score.onnx")
    (y,) = session.run(None, {"x": x})

What cannot export raises `ExportError` (a ValueError): an unknown `what` or format, a model that cannot be
traced with a symbolic batch (the message gives jax's reason), or to ONNX a function using a primitive the
converter does not cover (the message names it and the model): a VAE's `score`, which draws its posterior
sample with JAX's random bits (`random_seed`, ...), and the sequence families' recurrences (`scan`); those
export to StableHLO.
"""

from aejax.export.artifact import FORMATS, export_trained, sidecar_path
from aejax.export.errors import ExportError
from aejax.export.functions import WHATS

__all__ = ["FORMATS", "WHATS", "ExportError", "export_trained", "sidecar_path"]
