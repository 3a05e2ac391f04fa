#!/usr/bin/env bash
# The GPU checks of issue 22 in one command, from the repository root, on a machine whose python3 has JAX with
# its GPU plugin, flax, optax, orbax-checkpoint, chex, scikit-learn and pytest (the lent H100/H200 images do):
#
#   bash benchmarks/gpu_checks.sh [OUT]   (OUT: logs and results; default $OUT or gpu-results; about 10 minutes at most)
#
# 1. the devices JAX sees; 2. the tests that must hold on an accelerator (steps, fused and microbatched steps,
# convolutions against lax, objectives, fit, checkpoints, best weights, the VAE), with float32 matmuls at full
# precision (JAX_DEFAULT_MATMUL_PRECISION=highest: the tests compare against float32 references, and an H100
# otherwise runs them in TF32); 3. `aejax bench` (train-step throughput, the same table as on CPU); 4. the
# end-to-end benchmark (benchmarks/end_to_end.py). Each stage's output goes to OUT/<stage>.log; a failed stage
# is reported and the next one still runs; the exit status counts the failed stages.
#
# aejax itself is not installed: the checkout goes on PYTHONPATH. Python packages the image lacks (aejax needs
# ml-collections; tensorflow-datasets only for named tfds data) come as wheels in .whl/ (see the device notes:
# `pip download --no-deps --only-binary=:all: ... -d .whl ml-collections`), installed to a temporary directory.
set -u
out="${1:-${OUT:-gpu-results}}"
mkdir -p "$out"
python="${PYTHON:-python3}"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/aejax-site .whl/*.whl
  export PYTHONPATH="/tmp/aejax-site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
failed=0

stage() {  # stage NAME TIMEOUT_SECONDS COMMAND...: run it, log it, count a failure
  local name="$1" limit="$2"
  shift 2
  echo "== $name: $*"
  local started=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local status=$?
  echo "   exit $status after $((SECONDS - started)) s (log: $out/$name.log)"
  tail -n 5 "$out/$name.log"
  [ "$status" -eq 0 ] || failed=$((failed + 1))
}

stage devices 120 "$python" -c "import jax, jaxlib; print('jax', jax.__version__, 'jaxlib', jaxlib.__version__); print(jax.devices())"
# the tests' conftest picks the CPU unless JAX_PLATFORMS is set: here it names the GPU
stage tests 240 env JAX_PLATFORMS=cuda JAX_DEFAULT_MATMUL_PRECISION=highest "$python" -m pytest -q -x -p no:cacheprovider \
  tests/test_steps.py tests/test_fused.py tests/test_microbatch.py tests/test_conv_ops.py tests/test_objectives.py \
  tests/test_fit.py tests/test_checkpoint.py tests/test_best_weights.py tests/test_vae.py
stage bench 180 "$python" -m aejax.cli bench --batch-sizes 128 1024 --steps 20 --repeats 3 --out "$out"
stage end_to_end 150 "$python" benchmarks/end_to_end.py --rounds 3 --out "$out"
echo "failed stages: $failed"
exit "$failed"
