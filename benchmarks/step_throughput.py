"""Train-step throughput of aejax models: the same as `aejax bench` (see aejax/bench.py for the flags).

python benchmarks/step_throughput.py [--batch-sizes 128 1024] [--steps 200] [--readme README.md]
"""

from aejax.bench import main

if __name__ == "__main__":
    main()
