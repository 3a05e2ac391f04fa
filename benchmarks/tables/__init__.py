"""README results tables, each registered under the name of its README markers.

A table run here is a module with NAME, MARKERS, SUMMARY, `run(workdir) -> record` (runs the experiments,
returns the JSON record) and `render(record) -> str` (a pure function of the record); a table made by an older
script (`scripts.TABLES`) has `script(workdir, readme)` instead of `run`, and RESULT, its JSON's stem. A table
with PENDING (the reason) has a generator but no committed results yet: the README still shows the numbers
pasted before the generator existed, until `reproduce.py NAME --readme README.md` runs.
"""

from . import (
    applications,
    compress,
    generative,
    generative_other,
    hashing,
    images,
    ksparse,
    microbatch,
    scripts,
    sequence_anomaly,
)

TABLES = (
    images,
    generative,
    generative_other,
    compress,
    hashing,
    ksparse,
    sequence_anomaly,
    applications,
    microbatch,
    *scripts.TABLES,
)
REGISTRY = {table.NAME: table for table in TABLES}


def result_stem(table) -> str:
    """The name of the table's committed `benchmarks/results/<stem>.json`."""
    return getattr(table, "RESULT", table.NAME)
