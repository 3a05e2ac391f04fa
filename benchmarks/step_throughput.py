"""Train-step throughput of aejax models: the same as `aejax bench` (see aejax/bench.py for the flags).

python benchmarks/step_throughput.py [--batch-sizes 128 1024] [--steps 200] [--readme README.md]
"""

from aejax.host_memory import keep_freed_memory

if __name__ == "__main__":
    keep_freed_memory()  # as `aejax bench` does on CPU: glibc keeps freed memory for XLA's next step
    from aejax.bench import main  # JAX starts its threads after the allocator settings

    main()
