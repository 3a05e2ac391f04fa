"""The k-sparse table: `aejax task --config ksparse_mnist`, one k-sparse autoencoder per k: test MSE, dead units,
linear-probe and k-NN accuracy of the codes."""

from __future__ import annotations

from pathlib import Path

from . import common

NAME = "ksparse-mnist"
MARKERS = ("<!-- ksparse-mnist:begin -->", "<!-- ksparse-mnist:end -->")
SUMMARY = "k-sparse AE over k (a few min)"
CONFIG = "ksparse_mnist"


def run(workdir: Path) -> dict:
    return common.single_task(CONFIG, "ksparse.json", workdir)


def prose(rows: list[dict]) -> str:
    ks = ", ".join(str(r["k"]) for r in rows)
    dead = ", ".join(str(r["dead_units"]) for r in rows[:-1]) + f" and {rows[-1]['dead_units']}"
    probes = [r["linear_probe"] for r in rows]
    units = rows[0]["code_size"]
    return (
        "Every training code has exactly k non-zero units (tested). Annealing k from 100 matters: without it "
        f"(an earlier run, on the code of 2026-11-28, same settings otherwise) 744, 422, 217 and 45 of the {units} units "
        f"were never used at "
        f"k = {ks}, against {dead} with it. Keeping {rows[0]['eval_k'] // rows[0]['k']}k units when encoding "
        f"revives most of the rest for the probes. The probe accuracy moves little with k ({min(probes):.3f} to "
        f"{max(probes):.3f})."
    )


def render(record: dict) -> str:
    run_ = record["runs"][CONFIG]
    rows = run_["report"]["rows"]
    caption = (
        f"`{common.display(run_['command'])}` ({rows[0]['code_size']} linear code units, tied decoder, k annealed "
        f"from 100 over the first half of training, {rows[0]['eval_k'] // rows[0]['k']}k units kept when "
        f"encoding for the probes; {run_['wall_seconds']:.0f} s, {common.wall(record['meta'])}). "
        + common.regenerate(NAME)
    )
    return common.captioned_table(caption, run_["report"]["table"], prose(rows))
