"""Keep freed host memory for reuse, so that XLA on CPU does not page-fault its temporaries on every step.

XLA's CPU runtime allocates the temporaries of each execution as one block and frees it when the call ends.
glibc maps blocks above its mmap threshold (which it never raises past 32 MiB) as fresh pages and unmaps them on
free, and a thread's own arena cannot hold a block over 64 MiB, so every step faults its whole temporary memory
in again, zeroed by the kernel. Measured on a 2-core CPU, the conv autoencoder's plain train step at batch 128
took about 26,000 minor page faults and 60 ms of kernel time per step, and ran at 10-11 steps/s; with the
settings below, 0 faults and 16-21 steps/s in most processes (in some, the main heap fragments and part of the
block, 2,000-12,000 pages, is still faulted in per step). Steps whose temporaries stay under the threshold (microbatched, or
fused by `lax.scan`, which allocates once per dispatch) do not change.

`keep_freed_memory()` asks glibc to serve blocks from its heaps instead of fresh mappings (`M_MMAP_MAX=0`)
and to keep what is freed there for the next block (`M_TRIM_THRESHOLD` at its maximum). With
`AEJAX_SINGLE_ARENA=1` it also puts every thread on the main heap (`M_ARENA_MAX=1`), which a block over 64 MiB
allocated by one of XLA's threads needs (the conv AE's whole-batch step at batch 128: 19 against 14 steps/s,
and no faults); it is off by default because every thread then shares one heap's lock, and small steps pay for
it: the main job's MLP step took 1.00 ms against 0.75 ms with it (interleaved rounds, 2-core CPU), while the
conv AE's default microbatched step ran level at batch 128 (20.2 against 20.9 steps/s) and ~5% faster at 1024. The cost is that the
process keeps its peak heap size until it exits. It changes the whole process, so nothing applies it on import:
the `aejax` command does, first thing, when JAX will compute on the CPU (`computes_on_cpu`; `aejax
--no-keep-freed-memory ...` leaves glibc's defaults), and a Python script calls `aejax.keep_freed_memory()`
itself, before it imports JAX. `AEJAX_KEEP_FREED_MEMORY=0` turns it off in both. It only reaches threads that
have not allocated yet: a script that imports JAX first, or starts its computations before the call, gets part
of the effect (the conv step above: 5,800 faults per step instead of 0).
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Callable

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
# What keep_freed_memory sets, in this order. M_ARENA_MAX comes last because it cannot be undone: glibc ignores
# mallopt(M_ARENA_MAX, 0), so its default (0: a limit from the core count) cannot be set back.
SETTINGS = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1))
SINGLE_ARENA = (M_ARENA_MAX, 1)  # with AEJAX_SINGLE_ARENA=1 (see above), applied last
SINGLE_ARENA_ENV = "AEJAX_SINGLE_ARENA"
# glibc's defaults (mallopt(3)), set back when a later setting fails. Setting either of these also freezes
# glibc's dynamic mmap threshold where it stands, which no mallopt call undoes.
GLIBC_DEFAULTS = {M_MMAP_MAX: 65536, M_TRIM_THRESHOLD: 128 * 1024}
ENV = "AEJAX_KEEP_FREED_MEMORY"

_applied = False


def _glibc_mallopt() -> Callable[[int, int], int] | None:
    """glibc's mallopt, or None where the C library is not glibc (musl has no mallopt; macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version"):
        return None
    mallopt = libc.mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt


def keep_freed_memory() -> bool:
    """Apply the settings above once per process, all or none; True when they are in effect (Linux with glibc,
    not turned off by AEJAX_KEEP_FREED_MEMORY=0), False otherwise, with glibc's defaults in place."""
    global _applied
    if _applied:
        return True
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    done = []
    single = os.environ.get(SINGLE_ARENA_ENV, "0").strip().lower() in ("1", "true", "yes", "on")
    for param, value in (*SETTINGS, SINGLE_ARENA) if single else SETTINGS:
        if mallopt(param, value) != 1:  # mallopt returns 1 on success
            for applied in reversed(done):
                mallopt(applied, GLIBC_DEFAULTS[applied])
            return False
        done.append(param)
    _applied = True
    return True


def computes_on_cpu() -> bool:
    """Whether JAX will run its computations on the CPU, judged without importing it: JAX_PLATFORMS names cpu
    first, or it is unset and no accelerator plugin (jax_plugins, libtpu) is installed."""
    platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
    if platforms:
        return platforms.split(",")[0].strip() == "cpu"
    if importlib.util.find_spec("libtpu") is not None or os.environ.get("TPU_LIBRARY_PATH"):
        return False
    if importlib.metadata.entry_points(group="jax_plugins"):
        return False
    namespace = importlib.util.find_spec("jax_plugins")  # CUDA and ROCm plugins install modules here
    return namespace is None or not any(pkgutil.iter_modules(namespace.submodule_search_locations or []))
