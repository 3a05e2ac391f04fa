"""The sequence anomaly table: `aejax task --config sequence_anomaly_sines` (an LSTM autoencoder trained on clean
generated sines) against the moving-average z-score, AUROC per sequence, per time step and per kind."""

from __future__ import annotations

from pathlib import Path

from . import common

NAME = "sequence-anomaly"
MARKERS = ("<!-- sequence-anomaly:start -->", "<!-- sequence-anomaly:end -->")
SUMMARY = "LSTM AE vs moving-average z-score on generated sines (about 1 min)"
CONFIG = "sequence_anomaly_sines"
COLUMNS = ("sequence", "timestep", "spike", "level_shift", "frequency_change")


def run(workdir: Path) -> dict:
    return common.single_task(CONFIG, "sequence_anomaly.json", workdir)


def _cells(scores: dict, other: dict) -> list[str]:
    """AUROCs to 3 places, the better of the two methods in bold."""
    cells = []
    for column in COLUMNS:
        value, rival = scores[f"auroc_{column}"], other[f"auroc_{column}"]
        cells.append(f"**{value:.3f}**" if round(value, 3) >= round(rival, 3) else f"{value:.3f}")
    return cells


def render(record: dict) -> str:
    run_ = record["runs"][CONFIG]
    report, test = run_["report"], run_["results"]["test"]
    ae, ma = report["autoencoder"], report["moving_average_zscore"]
    n, bad = report["test_sequences"], report["anomalous_sequences"]
    caption = (
        f"`{common.display(run_['command'])}` (LSTM AE, {test['pca_components']}-d code; {report['data']}; "
        f"{n} generated test sequences, {bad / n:.0%} anomalous; {run_['wall_seconds']:.0f} s, "
        f"{common.wall(record['meta'])}). " + common.regenerate(NAME)
    )
    closing = (
        f"The per-kind columns use one generated test set per kind. The LSTM's clean test MSE "
        f"({report['test_mse_clean']:.3f}) is far above PCA's at the same {test['pca_components']} dimensions "
        f"({test['pca_mse']:.4f}): these sines are nearly linear, and the recurrent model learns them slowly."
    )
    lines = [
        common.paragraph(caption),
        "",
        "| scores | AUROC per sequence | per time step | spikes | level shifts | frequency changes |",
        "|---|---|---|---|---|---|",
        "| LSTM autoencoder reconstruction error | " + " | ".join(_cells(ae, ma)) + " |",
        f"| moving-average z-score (window {ma['window']}) | " + " | ".join(_cells(ma, ae)) + " |",
        "",
        common.paragraph(closing),
    ]
    return "\n".join(lines) + "\n"
