"""End-to-end time to a trained model: the same as `aejax bench --end-to-end` (aejax/benchmarking/end_to_end.py).

python benchmarks/end_to_end.py [--rounds 3] [--jobs digits mnist] [--readme README.md] [--baseline-repo PATH]
"""

import sys

from aejax.benchmarking.end_to_end import main

if __name__ == "__main__":
    sys.exit(main())
