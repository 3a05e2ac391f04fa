"""The end-to-end benchmark's arithmetic and its outputs: medians over rounds, per-round ratios, the markdown
table, the JSON and markdown files, and the README block between its markers (standard library only)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MARKERS = ("<!-- end-to-end:begin -->", "<!-- end-to-end:end -->")
REFERENCE = "jax"  # the hand-written JAX loop: the ratios' denominator
BASELINE = "baseline"
TIMES = ("process_seconds", "train_seconds")  # the two figures every variant has
LABELS = {
    "train": "`aejax train`",
    "fit": "`aejax.fit` in a script",
    "jax": "hand-written JAX",
    "torch": "PyTorch eager",
    BASELINE: "`aejax train` (baseline)",
}


def median_or_none(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def per_round_ratios(
    records: list[dict[str, Any]], job: str, variant: str, reference: str, figure: str
) -> list[float]:
    """figure(variant) / figure(reference) in each round where both ran `job`."""
    by_round: dict[int, dict[str, float]] = {}
    for record in records:
        if record["job"] == job and record.get(figure) is not None:
            by_round.setdefault(record["round"], {})[record["variant"]] = record[figure]
    return [
        pair[variant] / pair[reference]
        for _, pair in sorted(by_round.items())
        if variant in pair and reference in pair and pair[reference] > 0
    ]


def _seconds_keys(records: list[dict[str, Any]]) -> list[str]:
    keys = {key for record in records for key in record if key.endswith("_seconds")}
    return sorted(keys - set(TIMES))


def summarize_variant(records: list[dict[str, Any]], job: str, variant: str) -> dict[str, Any]:
    """Medians over rounds of one variant's figures for one job, and its per-round ratios."""
    mine = [r for r in records if r["job"] == job and r["variant"] == variant]
    summary: dict[str, Any] = {"rounds": len(mine)}
    for key in (*TIMES, *_seconds_keys(mine), "test_mse", "best_val", "best_epoch", "steps"):
        summary[key] = median_or_none(r.get(key) for r in mine)
    summary["outside_train_seconds"] = median_or_none(
        r["process_seconds"] - r["train_seconds"] for r in mine if r.get("train_seconds") is not None
    )
    for figure in TIMES:
        for other, name in ((REFERENCE, "vs_jax"), (BASELINE, "vs_baseline")):
            if other == variant:
                continue
            ratios = per_round_ratios(records, job, variant, other, figure)
            if ratios:
                summary[f"{figure}_{name}"] = statistics.median(ratios)
    summary["mismatches"] = sorted({m for r in mine for m in r.get("mismatches", [])})
    return summary


def summarize(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """job -> variant -> summary, in the order the jobs and variants first appear."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for record in records:
        out.setdefault(record["job"], {}).setdefault(record["variant"], {})
    for job, variants in out.items():
        for variant in variants:
            variants[variant] = summarize_variant(records, job, variant)
    return out


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _row(job: str, variant: str, s: dict[str, Any]) -> str:
    others = ", ".join(
        f"{key.removesuffix('_seconds')} {s[key]:.2f}"
        for key in sorted(s)
        if key.endswith("_seconds") and key not in (*TIMES, "outside_train_seconds") and s[key] is not None
    )
    cells = [
        job,
        LABELS.get(variant, variant),
        _number(s["process_seconds"], 1),
        _number(s["train_seconds"], 1),
        _number(s["outside_train_seconds"], 1),
        _number(s.get("process_seconds_vs_jax"), 3),
        _number(s.get("train_seconds_vs_jax"), 3),
        others or "",
        _number(s["test_mse"], 5),
        _number(s["best_epoch"], 0),
    ]
    return "| " + " | ".join(cells) + " |"


def header_line(report: dict[str, Any]) -> str:
    v = report["versions"]
    torch = v.get("torch") or "not installed"
    return (
        f"End-to-end time to a trained model on {v.get('backend', '?')} ({v.get('device', '?')}, "
        f"{v.get('cpus', '?')} CPUs): Python {v.get('python')}, jax {v.get('jax')}, jaxlib {v.get('jaxlib')}, "
        f"flax {v.get('flax')}, optax {v.get('optax')}, PyTorch {torch}; {report['settings']['rounds']} "
        "interleaved round(s), each running every variant of a job once in a shuffled order."
    )


def markdown(report: dict[str, Any]) -> str:
    """The table (medians over rounds; ratios: the median over rounds of the ratio within a round)."""
    lines = [
        header_line(report),
        "`process s`: the whole process (interpreter start, imports, data, training, evaluation, files); "
        "`train s`: the training loop as each variant times it (compilation included); `outside` = process - "
        "train; `/ JAX`: the median over rounds of the variant's time over the hand-written JAX loop's in the "
        "same round; `other s`: the other times the variant reports (medians). PyTorch: `Adam(fused=True)`, "
        "default threads.",
        "",
        "| job | variant | process s | train s | outside s | process / JAX | train / JAX | other s "
        "| test MSE | best epoch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for job, variants in report["summary"].items():
        lines.extend(_row(job, variant, s) for variant, s in variants.items())
    for job, variants in report["summary"].items():
        train = variants.get("train", {})
        if "process_seconds_vs_baseline" in train:
            lines.append(
                f"\n{job}: `aejax train` over the baseline ({report['settings'].get('baseline_repo')}): process "
                f"{train['process_seconds_vs_baseline']:.3f}, train {train['train_seconds_vs_baseline']:.3f} "
                "(medians of the per-round ratios)."
            )
        for variant, s in variants.items():
            if s["mismatches"]:
                lines.append(
                    f"\n{job}, {LABELS.get(variant, variant)}: differs from the job: {s['mismatches']}"
                )
    loads = [r["load_average"] for r in report.get("runs", []) if r.get("load_average") is not None]
    if loads:
        lines.append(
            f"\nThe machine's 1-minute load average as each run started: {min(loads):.2f} to {max(loads):.2f} "
            f"({report['versions'].get('cpus', '?')} CPUs; above that, other work shared the cores)."
        )
    lines.extend(f"\n{note}" for note in report.get("skipped", []))
    return "\n".join(lines)


def replace_marked(text: str, block: str, markers: tuple[str, str] = MARKERS) -> str:
    """`text` with what stands between the two markers replaced by `block` (the markers stay)."""
    begin, end = markers
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"expected the markers {begin} and {end} (in that order) in the README")
    return text[: start + len(begin)] + "\n" + block.strip() + "\n" + text[stop:]


def write(report: dict[str, Any], out: str | Path, readme: str | Path | None = None) -> Path:
    """Write `<out>/end_to_end-<backend>.json` and `.md` (and the README block); returns the stem path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"end_to_end-{report['versions'].get('backend', 'unknown')}"
    table = markdown(report)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    stem.with_suffix(".md").write_text(table + "\n")
    if readme is not None:
        path = Path(readme)
        path.write_text(replace_marked(path.read_text(), table))
    return stem
