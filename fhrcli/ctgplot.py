"""A CTG-style chart of an estimator result: FHR and MHR against time, the normal band shaded.

Conventions of paper CTG: the 110-160 bpm normal baseline band is shaded, the y axis runs
50-210 bpm, time in minutes. Signal loss (null samples) is left as a visible gap in the trace and
marked along the bottom, never bridged, so a reader cannot mistake a guess for a measurement.
Accelerations and decelerations from the summary are shaded; below the strip, the minute STV from
the fetal beats (Dawes-style, ms; a gap where a minute has too few valid epochs) and the FHR
quality. Used by ``fhr estimate --plot`` and by the local-cloud demo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _trace(part: dict[str, Any]) -> tuple[Any, Any]:
    import numpy as np

    bpm = np.array([np.nan if v is None else v for v in part["bpm"]], dtype=float)
    times = part.get("t0", 0.0) + np.arange(bpm.size) / float(part["fs"])
    return times, bpm


def plot_ctg(result: dict[str, Any], out: str | Path, *, title: str | None = None) -> Path:
    """Write the chart as PNG to ``out`` and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    t_fhr, fhr = _trace(result["fhr"])
    t_mhr, mhr = _trace(result["mhr"])
    minutes = max(float(result["record"].get("duration_s", t_fhr[-1] if t_fhr.size else 1.0)) / 60.0, 1e-3)
    width = float(np.clip(4.0 + 2.0 * minutes, 8.0, 30.0))
    fig, (ax, sax, qax) = plt.subplots(
        3, 1, figsize=(width, 6.0), sharex=True, gridspec_kw={"height_ratios": [4, 1.2, 1]}, constrained_layout=True
    )
    ax.axhspan(110, 160, color="#cfe8cf", alpha=0.6, label="normal baseline 110-160 bpm")
    summary = result.get("summary", {})
    for event in summary.get("accelerations") or []:
        ax.axvspan(event["start_s"] / 60, event["end_s"] / 60, color="#9ecae1", alpha=0.4)
    for event in summary.get("decelerations") or []:
        ax.axvspan(event["start_s"] / 60, event["end_s"] / 60, color="#fcbba1", alpha=0.5)
    ax.plot(t_fhr / 60, fhr, color="#08306b", lw=1.0, label="FHR")
    ax.plot(t_mhr / 60, mhr, color="#cb181d", lw=0.8, alpha=0.8, label="MHR")
    lost = ~np.isfinite(fhr)
    if lost.any():
        ax.plot(t_fhr[lost] / 60, np.full(lost.sum(), 55.0), "|", color="0.4", ms=6, label="FHR signal loss")
    baseline = summary.get("baseline_bpm")
    if baseline:
        ax.axhline(baseline, color="#08306b", ls="--", lw=0.7, label=f"baseline {baseline} bpm")
    ax.set_ylim(50, 210)
    ax.set_yticks(range(50, 211, 20))
    ax.grid(True, which="major", color="0.85", lw=0.5)
    ax.set_ylabel("bpm")
    loss = summary.get("signal_loss_percent")
    heading = title or str(result["record"].get("source", ""))
    if loss is not None:
        heading += f"  (FHR signal loss {loss:.1f} %)"
    ax.set_title(heading, fontsize=10)
    ax.legend(loc="upper right", fontsize=7, ncol=3)
    stv = [np.nan if v is None else v for v in result.get("variability", {}).get("stv_ms", [])]
    if stv:
        sax.bar(np.arange(len(stv)) + 0.5, stv, width=0.9, color="#74c476")
        sax.axhline(3.0, color="#cb181d", lw=0.7, ls=":")  # the Dawes-Redman warning level
    sax.set_ylabel("STV (ms)", fontsize=8)
    q = np.asarray(result["fhr"]["quality"], dtype=float)
    qax.fill_between(t_fhr / 60, q, step="mid", color="#6baed6")
    qax.set_ylim(0, 1)
    qax.set_ylabel("FHR quality", fontsize=8)
    qax.set_xlabel("time (min)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
