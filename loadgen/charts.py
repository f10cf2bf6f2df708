"""Charts of a load report: a latency histogram and latency over time, as PNG and as one
self-contained HTML page (the SVG is inlined, so the page opens anywhere with no network)."""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any


def _figure(report: dict[str, Any]):  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeline = report["timeline"]
    fig, (hist_ax, time_ax) = plt.subplots(1, 2, figsize=(12, 4.2))
    ok = [p["latency_ms"] for p in timeline if p["outcome"].startswith("2")]
    bad = [p for p in timeline if not p["outcome"].startswith("2")]
    hist_ax.hist(ok or [0], bins=40, color="#2b6cb0")
    hist_ax.set_xlabel("latency (ms)")
    hist_ax.set_ylabel("requests")
    hist_ax.set_title("Latency of successful requests")
    for name in ("p50", "p95", "p99"):
        value = report["latency_ms_ok"].get(name)
        if value is not None:
            hist_ax.axvline(value, linestyle="--", linewidth=1, color="#444")
            hist_ax.annotate(name, (value, hist_ax.get_ylim()[1] * 0.9), fontsize=8, rotation=90)
    time_ax.scatter([p["t_s"] for p in timeline if p["outcome"].startswith("2")], ok, s=4, label="2xx")
    if bad:
        time_ax.scatter([p["t_s"] for p in bad], [p["latency_ms"] for p in bad], s=8, color="#c53030", label="error")
    time_ax.set_xlabel("request start (s)")
    time_ax.set_ylabel("latency (ms)")
    time_ax.set_title("Latency over time")
    time_ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def write_png(report: dict[str, Any], path: Path) -> None:
    fig = _figure(report)
    fig.savefig(path, dpi=110)
    _close(fig)


def write_html(report: dict[str, Any], path: Path, title: str = "Load test") -> None:
    fig = _figure(report)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    _close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # the XML prolog and DOCTYPE do not belong inside HTML
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in report.items()
        if k != "timeline"
    )
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{svg}<table>{rows}</table></body></html>"
    )


def _close(fig) -> None:  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    plt.close(fig)
