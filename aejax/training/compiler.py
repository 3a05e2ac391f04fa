"""XLA compiler options for aejax's compiled train steps.

On CPU the train steps compile with `xla_cpu_copy_insertion_use_region_analysis`. A step donates its state, so
each new parameter is written into the buffer its old value came in. XLA's default copy insertion then copies
every weight that the backward pass still reads (all but the first layer's) into a temporary at the start of
the step; with region analysis it sees that those reads come before the update and leaves them out. Whether
the copies cost time depends on where the scheduler puts them, which follows the order of the step's
parameters: for the flax parameter dicts (sorted keys: the decoder's layers before the encoder's) the MLP AE
and VAE steps at batch 128 ran 3-5% slower than the same program with its parameters in layer order, and
region analysis removed the difference (measured in interleaved rounds on a 2-core CPU; the batch-1024 and
conv steps were unchanged). The numbers the step computes are the same: only copies are left out.

`AEJAX_XLA_CPU_REGION_ANALYSIS=0` turns it off (XLA's default copy insertion).
"""

from __future__ import annotations

import os

import jax

ENV = "AEJAX_XLA_CPU_REGION_ANALYSIS"
CPU_OPTIONS = {"xla_cpu_copy_insertion_use_region_analysis": True}


def train_step_compiler_options() -> dict[str, bool] | None:
    """The `compiler_options` for `jax.jit` of a train step: CPU_OPTIONS when JAX's default backend is the CPU
    (and ENV is not '0'), else None (XLA's defaults)."""
    if os.environ.get(ENV, "1") == "0" or jax.default_backend() != "cpu":
        return None
    return dict(CPU_OPTIONS)


class TrainStepJit:
    """`jax.jit(fn, **jit_kwargs)` with `train_step_compiler_options()` when called at the top level. JAX
    refuses compiler options on a jit nested in another trace (a user's own `jax.jit`, `vmap` or `scan`
    around the step), so there the step runs as a plain nested jit, inlined into the caller's program."""

    def __init__(self, fn, **jit_kwargs):
        self._plain = jax.jit(fn, **jit_kwargs)
        options = train_step_compiler_options()
        self._top = jax.jit(fn, compiler_options=options, **jit_kwargs) if options else self._plain

    def _pick(self, args):
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(args)):
            return self._plain
        return self._top

    def __call__(self, *args):
        jitted = self._pick(args)
        try:
            return jitted(*args)
        except ValueError as error:  # concrete arguments inside an outer trace (closed over by it)
            if jitted is self._plain or "top-level" not in str(error):
                raise
            return self._plain(*args)

    def lower(self, *args):
        return self._pick(args).lower(*args)

    def __getattr__(self, name):
        return getattr(self._top, name)
