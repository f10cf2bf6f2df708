"""The power-tuning chart: duration and cost per invocation against memory size, as PNG and as one
self-contained HTML page (inline SVG and the results table; opens anywhere with no network)."""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any


def _figure(report: dict[str, Any]):  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["results"] if "error" not in r]
    failed = [r for r in report["results"] if "error" in r]
    memory = [r["memory_mb"] for r in rows]
    fig, duration_ax = plt.subplots(figsize=(8, 4.5))
    duration_ax.plot(memory, [r["duration_ms"] for r in rows], "o-", color="#2b6cb0", label="duration")
    duration_ax.set_xlabel("memory (MB)")
    duration_ax.set_ylabel("duration (ms, trimmed mean)", color="#2b6cb0")
    duration_ax.set_xticks([r["memory_mb"] for r in report["results"]])
    duration_ax.tick_params(axis="x", labelrotation=45)
    cost_ax = duration_ax.twinx()
    cost_ax.plot(memory, [r["cost_usd"] * 1e6 for r in rows], "s--", color="#c05621", label="cost")
    cost_ax.set_ylabel("cost per invocation (USD x 1e-6)", color="#c05621")
    for row in failed:
        duration_ax.axvline(row["memory_mb"], color="#c53030", linestyle=":", linewidth=1)
        duration_ax.annotate("failed", (row["memory_mb"], duration_ax.get_ylim()[1]), fontsize=8, color="#c53030")
    best = report.get("recommended")
    title = f"Power tuning {report['function']}"
    if best:
        title += f" — {report['strategy']}: {best['memory_mb']} MB"
    duration_ax.set_title(title)
    fig.tight_layout()
    return fig


def write_png(report: dict[str, Any], path: Path) -> None:
    fig = _figure(report)
    fig.savefig(path, dpi=110)
    _close(fig)


def write_html(report: dict[str, Any], path: Path) -> None:
    fig = _figure(report)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    _close(fig)
    columns = ("memory_mb", "duration_ms", "billed_ms", "cost_usd", "cold_starts", "invocations", "error")
    head = "".join(f"<th>{c}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row.get(c, '')))}</td>" for c in columns) + "</tr>"
        for row in report["results"]
    )
    best = "".join(
        f"<li>{html.escape(name)}: {pick['memory_mb']} MB, {pick['duration_ms']} ms, {pick['cost_usd']:.3g} USD</li>"
        for name, pick in report["best"].items()
    )
    pricing = html.escape(str(report["pricing"]))
    title = html.escape(f"Power tuning {report['function']}")
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>"
        f"<h1>{title}</h1>{buffer.getvalue()}<h2>Results</h2><table><tr>{head}</tr>{body}</table>"
        f"<h2>Best</h2><ul>{best}</ul><p>Pricing: {pricing}</p></body></html>"
    )


def _close(fig) -> None:  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    plt.close(fig)
