"""The Trained handle: encode / decode / reconstruct / score / evaluate, save and load."""

from __future__ import annotations

import dataclasses
import json
import math
from functools import cached_property
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from aejax import config as config_lib
from aejax.data.batching import padded_batches
from aejax.data.dataset import check_array
from aejax.data.row_sources import RowSource
from aejax.diagnostics import code_statistics, psnr
from aejax.families import Family, get_family, model_from_config
from aejax.objectives import Corruption, Objective
from aejax.objectives.jacobian import jacobian_frobenius_sq
from aejax.training import Checkpointer, TrainSpec, TrainState, create_train_state, evaluate, make_eval_step
from aejax.training.metrics_log import write_atomic
from aejax.training.run_files import read_json_file
from aejax.training.steps import evaluation_terms

RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
SWEEP_RECORD = "sweep.json"  # a sweep's workdir: its grid (aejax.sweep), the members in member_<i>/


def objective_from_config(config: ml_collections.ConfigDict) -> Objective:
    if config.data.binarize not in ("none", "dynamic"):
        raise ValueError(f"unknown data.binarize {config.data.binarize!r}; valid: none, dynamic")
    objective = Objective.from_mapping(
        config.loss.reconstruction,
        config.loss.regularizers.to_dict(),
        config.loss.corruption.to_dict(),
        iwae_samples=config.loss.iwae_samples,
        binarize=config.data.binarize == "dynamic",
        reconstruction_weight=config.loss.reconstruction_weight,
        augment=config.loss.augment.to_dict(),
    )
    if objective.iwae_samples > 1 and not get_family(config.model.family).variational:
        raise ValueError("loss.iwae_samples > 1 needs a variational model (model.family='vae')")
    for label, fn, *_ in objective.regularizers:
        if fn == "kl_sparsity" and config.model.code_activation != "sigmoid":
            raise ValueError(
                f"loss.regularizers.{label} (kl_sparsity) reads code units as firing rates in (0, 1); set "
                f"model.code_activation='sigmoid' (got {config.model.code_activation!r})"
            )
    if objective.reconstruction == "bernoulli" and config.model.output_activation != "sigmoid":
        raise ValueError(
            "loss.reconstruction='bernoulli' reads decoder logits as Bernoulli means through a sigmoid; "
            f"set model.output_activation='sigmoid' (got {config.model.output_activation!r})"
        )
    return objective


@dataclasses.dataclass
class Trained:
    """A trained model with its state and config; array methods take and return NumPy, batch first."""

    model: Any  # the family's flax Module
    objective: Objective
    state: TrainState
    config: ml_collections.ConfigDict
    display_shape: tuple[int, ...]
    total_steps: int
    workdir: Path | None = None
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    batch_size: int = 1024

    @cached_property
    def family(self) -> Family:
        """The model's family record (aejax.families), from `config.model.family`."""
        return get_family(self.config.model.family)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.model.input_shape)

    @property
    def params(self):
        return self.state.params

    @property
    def step(self) -> int:
        return int(self.state.step)

    def _variables(self):
        return {"params": self.state.params, **self.state.model_state}

    @cached_property
    def _fns(self):
        model = self.model
        return {
            "encode": jax.jit(lambda v, x: model.apply(v, x, train=False, method="encode")),
            "decode": jax.jit(lambda v, z: model.apply(v, z, train=False, method="decode")),
            "reconstruct": jax.jit(lambda v, x: model.apply(v, x, train=False).reconstruction),
            "score": jax.jit(
                lambda v, x: evaluation_terms(model, self.objective, self.family, v, x)[
                    self.family.anomaly_term
                ]
            ),
            "code_indices": jax.jit(lambda v, x: model.apply(v, x, method="code_indices")),
            "code_symbols": jax.jit(lambda v, x: model.apply(v, x, method="code_symbols")),
            "decode_symbols": jax.jit(lambda v, s: model.apply(v, s, method="decode_symbols")),
            "eval_step": make_eval_step(model, self.objective, self.family),
            "jacobian_frobenius_sq": jax.jit(
                lambda v, x: jacobian_frobenius_sq(
                    lambda inputs: model.apply(v, inputs, train=False, method="encode"), x
                )
            ),
        }

    def _check(self, x, expected: tuple[int, ...], what: str) -> np.ndarray | RowSource:
        if isinstance(x, RowSource):  # a streamed split: read in chunks by the caller
            shape = tuple(x.example_shape)
            if shape != expected and math.prod(shape) == math.prod(expected) and shape == self.display_shape:
                return x.reshaped(expected)
            if shape != expected:
                raise ValueError(
                    f"{what} expects examples of shape {expected}, the source {x.name} holds {shape}"
                )
            return x
        array = check_array(what, x, value_range=None)
        if tuple(array.shape[1:]) != expected:
            if (
                math.prod(array.shape[1:]) == math.prod(expected)
                and tuple(array.shape[1:]) == self.display_shape
            ):
                return array.reshape(array.shape[0], *expected)
            raise ValueError(
                f"{what} expects (batch, {', '.join(map(str, expected))}), got {tuple(array.shape)}"
            )
        return array

    def _batched(self, name: str, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Run in fixed-size chunks (the last one padded) so any input length compiles once."""
        fn, variables = self._fns[name], self._variables()
        size = min(batch_size or self.batch_size, x.shape[0])
        chunks = x.padded_batches(size) if isinstance(x, RowSource) else padded_batches(x, size)
        outputs = [np.asarray(fn(variables, jnp.asarray(batch.rows)))[: batch.count] for batch in chunks]
        return np.concatenate(outputs)

    def encode(self, x) -> np.ndarray:
        """Codes, shape (batch, latent_dim)."""
        return self._batched("encode", self._check(x, self.input_shape, "encode"))

    def decode(self, z) -> np.ndarray:
        """Reconstructions in data space from codes (batch, latent_dim)."""
        return self._batched("decode", self._check(z, (self.model.latent_dim,), "decode"))

    def reconstruct(self, x) -> np.ndarray:
        return self._batched("reconstruct", self._check(x, self.input_shape, "reconstruct"))

    def score(self, x) -> np.ndarray:
        """Per-example anomaly score, higher = more anomalous: the family's `anomaly_term` of evaluation, by
        default the configured reconstruction loss; for a variational model the -ELBO in nats (one posterior
        sample with a fixed key plus the closed-form KL); `log_likelihood` gives the importance-sampled
        -log p(x) instead."""
        return self._batched("score", self._check(x, self.input_shape, "score"))

    def jacobian_norm(self, x) -> np.ndarray:
        """Per-example Frobenius norm ||d code / d input||_F of the encoder at each row of `x` (exact)."""
        x = self._check(x, self.input_shape, "jacobian_norm")
        # Each example's Jacobian is materialised: keep a chunk's Jacobians under about 256 MB.
        per_example = math.prod(self.input_shape) * self.model.latent_dim
        size = max(1, min(self.batch_size, (64 << 20) // per_example))
        return np.sqrt(self._batched("jacobian_frobenius_sq", x, size))

    def code_statistics(self, x, threshold: float | None = None) -> dict[str, float]:
        """Sparsity of the codes of `x` (see aejax.diagnostics.code_statistics)."""
        if threshold is None:
            threshold = self.config.eval.active_threshold
        return code_statistics(self.encode(x), threshold)

    def denoising(self, x, corruption: Corruption | None = None, seed: int = 0) -> dict[str, float]:
        """PSNR (dB) of the corrupted input and of its reconstruction against the clean `x`.

        The corruption defaults to the one the model was trained with (`loss.corruption`).
        """
        x = self._check(x, self.input_shape, "denoising")
        corruption = corruption or self.objective.corruption
        noisy = np.asarray(jax.jit(corruption)(jnp.asarray(x), jax.random.PRNGKey(seed)))
        return {
            "psnr_noisy_input": psnr(x, noisy),
            "psnr_reconstruction": psnr(x, self.reconstruct(noisy)),
            "psnr_clean_reconstruction": psnr(x, self.reconstruct(x)),
        }

    # ------------------------------------------------------------------ generative families
    def _require(self, capability: str, what: str):
        if not getattr(self.family, capability):
            raise ValueError(
                f"{what} needs a {capability} model (model.family='vae'"
                + (" or 'aae'" if capability == "generative" else "")
                + f"), got {self.family.name!r}"
            )

    def sample(self, num: int, seed: int = 0) -> np.ndarray:
        """`num` draws z from the model's prior, decoded to the data space (the decoder's mean)."""
        self._require("generative", "sample")
        if num < 1:
            raise ValueError(f"sample needs num >= 1, got {num}")
        z = self.model.apply(self._variables(), jax.random.PRNGKey(seed), num, method="prior_sample")
        return self.decode(np.asarray(z))

    def interpolate(self, x_from, x_to, steps: int = 8) -> np.ndarray:
        """(pairs, steps, *input_shape): decodings of codes on the line between the codes of each pair."""
        a = self.encode(x_from)
        b = self.encode(x_to)
        if a.shape != b.shape:
            raise ValueError(
                f"interpolate needs as many x_from as x_to rows, got {a.shape[0]} and {b.shape[0]}"
            )
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
        codes = (1 - t) * a[:, None, :] + t * b[:, None, :]
        decoded = self.decode(codes.reshape(-1, a.shape[1]))
        return decoded.reshape(a.shape[0], steps, *decoded.shape[1:])

    def traverse(self, x, dims=None, values=None) -> np.ndarray:
        """(len(dims), len(values), *input_shape): the code of one example with one dimension swept
        (default: the first 8 dimensions over -3..3)."""
        values = np.linspace(-3.0, 3.0, 9) if values is None else np.asarray(values)
        base = self.encode(np.asarray(x)[:1])[0]
        dims = list(range(min(8, base.shape[0]))) if dims is None else list(dims)
        codes = np.repeat(base[None, None, :], len(values), axis=1).repeat(len(dims), axis=0)
        for row, d in enumerate(dims):
            codes[row, :, d] = values
        decoded = self.decode(codes.reshape(-1, base.shape[0]).astype(np.float32))
        return decoded.reshape(len(dims), len(values), *decoded.shape[1:])

    def log_likelihood(self, x, num_samples: int = 5000, chunk: int = 500, seed: int = 0) -> np.ndarray:
        """Per-example importance-sampled estimate of log p(x) in nats, log (1/k) sum_i p(x, z_i) / q(z_i|x)
        with k = num_samples, accumulated `chunk` samples at a time (memory does not grow with k)."""
        self._require("variational", "log_likelihood")
        x = self._check(x, self.input_shape, "log_likelihood")
        chunk = max(1, min(chunk, num_samples))
        if num_samples % chunk:
            raise ValueError(f"num_samples ({num_samples}) must be a multiple of chunk ({chunk})")
        model = self.model
        fn = self._fns.setdefault(
            f"log_weights_{chunk}",
            jax.jit(lambda v, xs, key: model.apply(v, xs, chunk, method="log_weights", rngs={"latent": key})),
        )
        per_example = chunk * math.prod(self.input_shape)
        size = max(1, min(self.batch_size, (32 << 20) // per_example))
        variables, out = self._variables(), []
        for batch in padded_batches(x, size):
            total = np.full(size, -np.inf)
            for i in range(num_samples // chunk):
                key = jax.random.fold_in(jax.random.PRNGKey(seed), batch.start * 1_000_003 + i)
                lw = np.asarray(fn(variables, jnp.asarray(batch.rows), key), np.float64)
                total = np.logaddexp(total, _logsumexp(lw))
            out.append((total - np.log(num_samples))[: batch.count])
        return np.concatenate(out)

    def code_indices(self, x) -> np.ndarray:
        """VQ-VAE: (batch, num_latents) codebook indices of each example's code vectors."""
        x = self._check(x, self.input_shape, "code_indices")
        try:
            return self._batched("code_indices", x)
        except AttributeError as error:  # flax: the module has no such method
            raise ValueError(
                f"code_indices needs a model with a codebook (model.family='vqvae'), got {self.family.name!r}"
            ) from error

    def output_field(self, x, field: str) -> np.ndarray:
        """One array field of the model's output record for each row of `x` (evaluation mode), e.g. a capsule
        model's 'lengths' (batch, capsules) or 'poses', a sequence model's 'reconstruction'."""
        x = self._check(x, self.input_shape, "output_field")
        key = f"field:{field}"
        if key not in self._fns:
            model = self.model

            def fn(v, inputs):
                value = getattr(model.apply(v, inputs, train=False), field, None)
                if value is None or not hasattr(value, "shape"):
                    raise ValueError(f"{type(model).__name__}'s output has no array field {field!r}")
                return value

            self._fns[key] = jax.jit(fn)
        return self._batched(key, x)

    def attention(self, x) -> dict[str, np.ndarray]:
        """Attention weights of an attention-family model for a few examples: name -> (batch, heads, Tq, Tk)."""
        x = self._check(x, self.input_shape, "attention")
        out = self.model.apply(self._variables(), jnp.asarray(x), train=False)
        if getattr(out, "attention", None) is None:
            raise ValueError(
                f"attention weights need model.family='attention', got {type(self.model).__name__}"
            )
        return {name: np.asarray(a) for name, a in zip(out.attention_names, out.attention, strict=True)}

    def _require_discrete(self, what: str) -> None:
        if getattr(self.model, "bottleneck", "none") not in ("quantize", "binary"):
            raise ValueError(
                f"{what} needs a discrete code: model.bottleneck 'quantize' or 'binary' (this model has "
                f"{getattr(self.model, 'bottleneck', 'none')!r})"
            )

    def code_symbols(self, x) -> np.ndarray:
        """Integer symbols of a discrete code, (batch, latent_dim) int32: quantization levels or bits."""
        self._require_discrete("code_symbols")
        return self._batched("code_symbols", self._check(x, self.input_shape, "code_symbols"))

    def decode_symbols(self, symbols) -> np.ndarray:
        """Reconstructions from integer symbols (batch, latent_dim), the inverse of code_symbols."""
        self._require_discrete("decode_symbols")
        symbols = np.asarray(symbols)
        if symbols.ndim != 2 or symbols.shape[1] != self.model.latent_dim:
            raise ValueError(f"decode_symbols expects (batch, {self.model.latent_dim}), got {symbols.shape}")
        return self._batched("decode_symbols", symbols.astype(np.int32))

    def active_units(self, x, threshold: float = 0.01) -> dict[str, Any]:
        """Burda et al. (2016): unit u is active when Cov_x(E_q[z_u | x]) > threshold."""
        variance = np.var(self.encode(x), axis=0)
        return {"active_units": int(np.sum(variance > threshold)), "unit_variances": variance.tolist()}

    def evaluate(self, x) -> dict[str, float]:
        """Mean reconstruction loss and per-feature MSE over every example of `x`."""
        x = self._check(x, self.input_shape, "evaluate")
        return evaluate(self._fns["eval_step"], self.state, x, self.batch_size)

    def export(self, what: str, format: str, out: str | Path) -> dict[str, Any]:
        """Write `what` (encode, decode, reconstruct or score) as a self-contained float32 file with a symbolic
        batch dimension: `format` 'stablehlo' (jax.export, loadable with plain jax) or 'onnx' (opset 18), plus
        a JSON sidecar `<out>.json` (see aejax.export); returns the sidecar's record. Raises
        aejax.export.ExportError for what cannot export."""
        from aejax.export import export_trained

        return export_trained(self, what, format, out)

    def save(self, directory: str | Path) -> Path:
        """Write config, run description and a checkpoint of the state; `aejax.load(directory)` reads it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_run_files(directory, self.config, self.input_shape, self.display_shape, self.total_steps)
        checkpointer = Checkpointer(directory / "checkpoints", max_to_keep=self.config.checkpoint.max_to_keep)
        if checkpointer.latest_step() != self.step:
            checkpointer.save(self.state, {"finished": True, "exported": True})
        checkpointer.close()
        return directory


def _logsumexp(a: np.ndarray) -> np.ndarray:
    peak = np.max(a, axis=1)
    return peak + np.log(np.sum(np.exp(a - peak[:, None]), axis=1))


def write_run_files(
    directory: Path,
    config: ml_collections.ConfigDict,
    input_shape: tuple[int, ...],
    display_shape: tuple[int, ...],
    total_steps: int,
) -> None:
    write_atomic(directory / CONFIG_FILE, config_lib.to_json(config) + "\n")
    run = {"input_shape": list(input_shape), "display_shape": list(display_shape), "total_steps": total_steps}
    write_atomic(directory / RUN_FILE, json.dumps(run, indent=2) + "\n")


def load(workdir: str | Path, step: int | None = None, last: bool = False) -> Trained:
    """Rebuild a Trained from a workdir written by `aejax.fit` (or `Trained.save`), from its newest complete
    checkpoint (or `step`): the run's result, i.e. the best-validation weights where the run kept them
    (checkpoint.keep_best with a validation split; results.json's `weights` says which), else the newest state.
    `last=True` gives the newest state itself (what a resume continues from)."""
    workdir = Path(workdir)
    for name in (CONFIG_FILE, RUN_FILE):
        if not (workdir / name).is_file():
            raise FileNotFoundError(f"{str(workdir)!r} is not an aejax workdir: {name} is missing")
    config = config_lib.read_config_file(workdir / CONFIG_FILE)
    run = read_json_file(workdir / RUN_FILE)
    input_shape = tuple(run["input_shape"])
    model = model_from_config(config, input_shape)
    train_spec = TrainSpec(**config.train.to_dict())
    tx, _ = train_spec.build_optimizer(run["total_steps"])
    family = get_family(config.model.family)
    template = create_train_state(model, tx, input_shape, config.seed, family.init_extras)
    checkpointer = Checkpointer(workdir / "checkpoints", max_to_keep=config.checkpoint.max_to_keep)
    try:
        state, _ = checkpointer.restore(template, step)
        keep_best = config.checkpoint.keep_best and not last  # a resume may have turned it off since
        best = checkpointer.restore_best(template, step) if keep_best else None
    finally:
        checkpointer.close()
    if best is not None:
        state = state.replace(**best)
    results_file = workdir / "results.json"
    results = read_json_file(results_file) if results_file.is_file() else {}
    return Trained(
        model=model,
        objective=objective_from_config(config),
        state=state,
        config=config,
        display_shape=tuple(run["display_shape"]),
        total_steps=run["total_steps"],
        workdir=workdir,
        results=results,
        batch_size=config.train.eval_batch_size,
    )
