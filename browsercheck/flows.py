"""What a person does on the page, as reusable steps for the end-to-end tests and the page benchmark."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from browsercheck.cdp import Page

# The FHR trace's colour in ctg.js (#1a4fa0) and how far a drawn pixel may stray (anti-aliasing).
FHR_RGB = (26, 79, 160)
COLOUR_TOLERANCE = 90

# Runs in the page: samples the canvas where the result says the trace is, and where it says it is not.
DRAWN_CHECK_JS = """
(async (gapStart, gapEnd) => {
  const u = fhrPage.chart.u, r = fhrPage.result;
  if (gapStart !== null) {
    u.setScale("x", {min: gapStart - 15, max: gapEnd + 15});
    await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  }
  const canvas = u.ctx.canvas, w = canvas.width, h = canvas.height;
  const data = u.ctx.getImageData(0, 0, w, h).data;
  const [R, G, B] = __RGB__;
  const isTrace = (x, y, radius) => {
    for (let dy = -radius; dy <= radius; dy++) for (let dx = -radius; dx <= radius; dx++) {
      const px = Math.round(x) + dx, py = Math.round(y) + dy;
      if (px < 0 || py < 0 || px >= w || py >= h) continue;
      const i = (py * w + px) * 4;
      if (Math.abs(data[i] - R) + Math.abs(data[i + 1] - G) + Math.abs(data[i + 2] - B) < __TOL__) return true;
    }
    return false;
  };
  const {fs, t0, bpm} = r.fhr, lo = u.scales.x.min, hi = u.scales.x.max;
  let checked = 0, drawn = 0;
  const step = Math.max(1, Math.floor(bpm.length / 400));
  for (let k = 1; k + 1 < bpm.length; k += step) {
    const v = bpm[k], t = t0 + k / fs;
    if (v === null || bpm[k - 1] === null || bpm[k + 1] === null || v < 55 || v > 205 || t < lo || t > hi) continue;
    checked++;
    if (isTrace(u.valToPos(t, "x", true), u.valToPos(v, "y", true), 3)) drawn++;
  }
  let gapColumns = 0, gapInk = 0;
  if (gapStart !== null) {
    const a = Math.ceil(u.valToPos(gapStart + 0.75, "x", true)), b = Math.floor(u.valToPos(gapEnd - 0.75, "x", true));
    const top = Math.round(u.bbox.top), bottom = Math.round(u.bbox.top + u.bbox.height);
    for (let x = a; x <= b; x++) {
      gapColumns++;
      for (let y = top; y < bottom; y++) if (isTrace(x, y, 0)) { gapInk++; break; }
    }
  }
  return {checked, drawn, gapColumns, gapInk, view: [lo, hi]};
})
""".replace("__RGB__", json.dumps(list(FHR_RGB))).replace("__TOL__", str(COLOUR_TOLERANCE))


async def open_page(page: Page, api_url: str, token: str | None = None) -> float:
    """Load the page and wait until it is wired; returns the seconds from navigation to ready."""
    started = time.perf_counter()
    await page.goto(api_url.rstrip("/") + "/")
    await page.wait_for("document.body.dataset.ready === '1'")
    elapsed = time.perf_counter() - started
    if token:
        await page.evaluate(f"document.getElementById('token').value = {json.dumps(token)}")
        await page.click("#save-token")
    return elapsed


async def upload(page: Page, files: list[Path], timeout: float = 120) -> tuple[float, dict[str, Any]]:
    """Choose ``files``, press Upload, wait for the chart or an error; returns (seconds, outcome)."""
    await page.evaluate("delete document.body.dataset.rendered; document.getElementById('error').hidden = true")
    await page.set_files("#file", files)
    started = time.perf_counter()
    await page.click("#upload")
    await page.wait_for("document.body.dataset.rendered || !document.getElementById('error').hidden", timeout=timeout)
    elapsed = time.perf_counter() - started
    outcome = await page.evaluate(
        """({rendered: document.body.dataset.rendered || null,
             error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
             errorStatus: document.getElementById('error').dataset.status || null,
             errorCode: document.getElementById('error').dataset.code || null})"""
    )
    return elapsed, outcome


async def drawn_check(page: Page, gap: tuple[float, float] | None = None) -> dict[str, Any]:
    """Sample the canvas: trace pixels where the result has values; none inside ``gap`` (seconds)."""
    start, end = gap if gap else (None, None)
    return await page.evaluate(f"({DRAWN_CHECK_JS})({json.dumps(start)}, {json.dumps(end)})")


async def summary_shown(page: Page) -> dict[str, str]:
    """The summary panel as the person sees it: data-key -> text."""
    return await page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#summary dd')].map(d => [d.dataset.key, d.textContent]))"
    )


async def figo_shown(page: Page) -> dict[str, Any]:
    """The FIGO box as the person sees it: class, why there is none, the reasons listed."""
    return await page.evaluate(
        """({class: document.getElementById('figo-class').textContent,
             undecided: (document.getElementById('figo-undecided') || {}).textContent || null,
             reasons: [...document.querySelectorAll('#figo-reasons li')].map(li => li.textContent)})"""
    )


# Runs in the page: the minute STV the strip under the CTG holds, and how many bars it drew (a bar's
# colour (#74c476) searched along its centre line, from its top down to the axis).
STV_SHOWN_JS = """
(() => {
  const u = fhrPage.chart.stv, values = u.data[1];
  const data = u.ctx.getImageData(0, 0, u.ctx.canvas.width, u.ctx.canvas.height).data, w = u.ctx.canvas.width;
  const isBar = (x, y) => {
    const i = (y * w + x) * 4;
    return Math.abs(data[i] - 116) + Math.abs(data[i + 1] - 196) + Math.abs(data[i + 2] - 118) < 60;
  };
  let bars = 0;
  values.forEach((v, m) => {
    if (v === null) return;
    const x = Math.round(u.valToPos(u.data[0][m], "x", true));
    const top = Math.round(u.valToPos(v, "y", true)), bottom = Math.round(u.valToPos(0, "y", true));
    for (let y = top; y <= bottom; y++) if (isBar(x, y)) { bars++; break; }
  });
  return {values: Array.from(values), bars};
})()
"""


async def stv_shown(page: Page) -> dict[str, Any]:
    """The STV strip's values (ms, null = no valid minute) and the number of bars found drawn."""
    return await page.evaluate(STV_SHOWN_JS)
