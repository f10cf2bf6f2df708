/* A CTG strip on uPlot: FHR and maternal HR against time on cardiotocography paper.
 * Paper: 50–210 bpm, minor lines every 10 bpm and 20 s, major every 30 bpm and minute; the normal
 * 110–160 bpm band shaded; accelerations and decelerations shaded over their spans; nulls in the
 * result are drawn as gaps (signal loss), never bridged. Under it, the minute STV from the fetal
 * beats as bars on the same time axis (zoom and pan move both); a minute without a valid STV has
 * no bar: lost signal is shown as lost, not filled in. */
"use strict";

const CTG = (() => {
  const PX_PER_CM = 96 / 2.54;          // CSS pixels per centimetre
  const BPM_MIN = 50, BPM_MAX = 210;
  const COLORS = { fhr: "#1a4fa0", mhr: "#c0392b", band: "rgba(46,160,67,0.12)",
                   grid: "#f6cfcf", gridMajor: "#e39a9a", acc: "rgba(46,160,67,0.22)", dec: "rgba(230,126,34,0.25)",
                   stv: "#74c476", stvWarning: "#c0392b" };
  const Y_AXIS_PX = 44;                 // both strips: the same axis width keeps their plots aligned
  const STV_HEIGHT = 110;
  const STV_WARNING_MS = 3;             // Dawes-Redman: an STV under 3 ms is the classic warning

  /* Minute STV as [minute centres (s), values or null] from the result's "variability" block. */
  function stvData(result) {
    const v = result.variability || {};
    const values = v.stv_ms || [];
    const t0 = v.minute_t0 || 0;
    return [values.map((_, m) => t0 + 60 * m + 30), values.map(x => (x === null ? null : x))];
  }

  function series(trace) {
    const n = trace && trace.bpm ? trace.bpm.length : 0;
    const xs = new Float64Array(n);
    for (let k = 0; k < n; k++) xs[k] = trace.t0 + k / trace.fs;
    return { xs, ys: trace ? trace.bpm : [] };
  }

  /* Align the maternal trace on the fetal trace's time base (both are 4 Hz in our results). */
  function alignedData(result) {
    const fhr = series(result.fhr);
    const mhr = series(result.mhr);
    const mhrOnFhr = new Array(fhr.xs.length).fill(null);
    if (mhr.xs.length) {
      const fs = result.mhr.fs, t0 = result.mhr.t0;
      for (let k = 0; k < fhr.xs.length; k++) {
        const j = Math.round((fhr.xs[k] - t0) * fs);
        if (j >= 0 && j < mhr.ys.length) mhrOnFhr[k] = mhr.ys[j];
      }
    }
    return [Array.from(fhr.xs), fhr.ys.map(v => (v === null ? null : v)), mhrOnFhr];
  }

  function eventSpans(summary, name) {
    const list = (summary && Array.isArray(summary[name])) ? summary[name] : [];
    return list.map(e => ({
      start: e.start_s ?? e.start ?? e.t_start ?? null,
      end: e.end_s ?? e.end ?? e.t_end ?? null,
    })).filter(e => e.start !== null && e.end !== null);
  }

  function minutesLabel(seconds) {
    const whole = Math.round(seconds);
    return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
  }

  /* The smallest step (s) whose gap is at least minPx pixels wide (canvas pixels when canvasPx). */
  function stepFor(u, minPx, canvasPx, steps) {
    const width = canvasPx ? u.bbox.width : u.bbox.width / devicePixelRatio;
    const perSecond = width / Math.max(1e-9, u.scales.x.max - u.scales.x.min);
    return steps.find(step => step * perSecond >= minPx) ?? steps[steps.length - 1];
  }

  function drawPaper(u, events) {
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    const x0 = u.scales.x.min, x1 = u.scales.x.max;
    ctx.save();
    ctx.beginPath(); ctx.rect(left, top, width, height); ctx.clip();
    // Normal band.
    const yHi = u.valToPos(160, "y", true), yLo = u.valToPos(110, "y", true);
    ctx.fillStyle = COLORS.band; ctx.fillRect(left, yHi, width, yLo - yHi);
    // Events under the traces.
    for (const [kind, color] of [["accelerations", COLORS.acc], ["decelerations", COLORS.dec]]) {
      ctx.fillStyle = color;
      for (const e of events[kind]) {
        const a = u.valToPos(e.start, "x", true), b = u.valToPos(e.end, "x", true);
        ctx.fillRect(a, top, Math.max(1, b - a), height);
      }
    }
    // Grid: 10 bpm / 20 s minor, 30 bpm / 1 min major.
    ctx.lineWidth = 1;
    for (let bpm = BPM_MIN; bpm <= BPM_MAX; bpm += 10) {
      const y = Math.round(u.valToPos(bpm, "y", true)) + 0.5;
      ctx.strokeStyle = (bpm % 30 === 0) ? COLORS.gridMajor : COLORS.grid;
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + width, y); ctx.stroke();
    }
    const minorStep = stepFor(u, 6 * devicePixelRatio, true, [20, 60, 300]);
    for (let t = Math.ceil(x0 / minorStep) * minorStep; t <= x1; t += minorStep) {
      const x = Math.round(u.valToPos(t, "x", true)) + 0.5;
      ctx.strokeStyle = (t % 60 === 0) ? COLORS.gridMajor : COLORS.grid;
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
    }
    ctx.restore();
  }

  class Chart {
    constructor(el, stvEl) {
      this.el = el;
      this.stvEl = stvEl || null;
      this.stv = null;
      this.u = null;
      this.result = null;
      this.data = null;
      this.paper = false;
    }

    setResult(result) {
      this.result = result;
      this.data = alignedData(result);
      const events = {
        accelerations: eventSpans(result.summary, "accelerations"),
        decelerations: eventSpans(result.summary, "decelerations"),
      };
      this.events = events;
      if (this.u) this.u.destroy();
      const opts = {
        width: this.viewWidth(), height: 8 * PX_PER_CM + 60,
        scales: { x: { time: false }, y: { range: [BPM_MIN, BPM_MAX] } },
        legend: { show: true, live: true },
        cursor: { drag: { x: true, y: false, setScale: true } },
        axes: [
          { label: "time (min:s)", values: (u, ticks) => ticks.map(minutesLabel),
            splits: (u, i, min, max) => this.timeSplits(u, min, max), grid: { show: false } },
          { label: "bpm", splits: () => [60, 90, 120, 150, 180, 210], grid: { show: false }, size: Y_AXIS_PX },
        ],
        series: [
          { label: "t", value: (u, v) => (v == null ? "–" : minutesLabel(v)) },
          { label: "FHR", stroke: COLORS.fhr, width: 1.6, spanGaps: false, points: { show: false },
            value: (u, v) => (v == null ? "loss" : v.toFixed(0) + " bpm") },
          { label: "MHR", stroke: COLORS.mhr, width: 1.1, spanGaps: false, points: { show: false },
            value: (u, v) => (v == null ? "–" : v.toFixed(0) + " bpm") },
        ],
        hooks: { drawClear: [u => drawPaper(u, events)], setScale: [(u, key) => key === "x" && this.syncStv()] },
      };
      this.u = new uPlot(opts, this.data, this.el);
      if (!this.wheelBound) {
        this.el.addEventListener("wheel", ev => this.onWheel(ev), { passive: false });
        this.wheelBound = true;
      }
      this.makeStv(result);
    }

    /* The STV bars under the strip: same x range and plot width as the strip. */
    makeStv(result) {
      if (!this.stvEl) return;
      if (this.stv) this.stv.destroy();
      const [xs, values] = stvData(result);
      const top = Math.max(10, ...values.filter(v => v !== null).map(v => Math.ceil(v * 1.15)));
      const warning = u => {
        const y = Math.round(u.valToPos(STV_WARNING_MS, "y", true)) + 0.5;
        const { ctx } = u, { left, width } = u.bbox;
        ctx.save(); ctx.strokeStyle = COLORS.stvWarning; ctx.setLineDash([3, 3]); ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + width, y); ctx.stroke(); ctx.restore();
      };
      const opts = {
        width: this.u.width, height: STV_HEIGHT,
        scales: { x: { time: false, range: () => [this.u.scales.x.min, this.u.scales.x.max] }, y: { range: [0, top] } },
        legend: { show: true, live: true },
        cursor: { drag: { x: false, y: false } },
        axes: [
          { values: (u, ticks) => ticks.map(minutesLabel), splits: (u, i, min, max) => this.timeSplits(u, min, max) },
          { label: "STV ms", size: Y_AXIS_PX },
        ],
        series: [
          { label: "minute", value: (u, v) => (v == null ? "–" : minutesLabel(v - 30)) },
          { label: "STV", fill: COLORS.stv, stroke: COLORS.stv, width: 0,
            paths: uPlot.paths.bars({ size: [0.9, Infinity], align: 0 }), points: { show: false },
            value: (u, v) => (v == null ? "no valid STV" : v.toFixed(1) + " ms") },
        ],
        hooks: { draw: [warning] },
      };
      this.stv = new uPlot(opts, [xs, values], this.stvEl);
    }

    syncStv() {
      if (!this.stv || !this.u) return;
      if (this.stv.width !== this.u.width) this.stv.setSize({ width: this.u.width, height: STV_HEIGHT });
      this.stv.setScale("x", { min: this.u.scales.x.min, max: this.u.scales.x.max });
    }

    timeSplits(u, min, max) {
      const step = stepFor(u, 56, false, [5, 10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600]);
      const out = [];
      for (let t = Math.ceil(min / step) * step; t <= max; t += step) out.push(t);
      return out;
    }

    viewWidth() {
      return Math.max(480, this.el.clientWidth || 900);
    }

    bounds() {
      const xs = this.data[0];
      return [xs[0] ?? 0, xs[xs.length - 1] ?? 1];
    }

    setRange(min, max) {
      const [lo, hi] = this.bounds();
      const span = Math.max(10, Math.min(max - min, hi - lo));
      min = Math.max(lo, Math.min(min, hi - span));
      this.u.setScale("x", { min, max: min + span });
    }

    zoom(factor, centre) {
      const { min, max } = this.u.scales.x;
      const c = centre ?? (min + max) / 2;
      this.setRange(c - (c - min) * factor, c + (max - c) * factor);
    }

    pan(fraction) {
      const { min, max } = this.u.scales.x;
      const d = (max - min) * fraction;
      this.setRange(min + d, max + d);
    }

    reset() {
      this.paper = false;
      this.u.setSize({ width: this.viewWidth(), height: 8 * PX_PER_CM + 60 });
      const [lo, hi] = this.bounds();
      this.u.setScale("x", { min: lo, max: hi });
      this.syncStv();
    }

    /* 1 cm per minute across, 20 bpm per cm up: the proportions of CTG paper at 1 cm/min. */
    paperScale() {
      this.paper = true;
      const [lo, hi] = this.bounds();
      const plotWidth = ((hi - lo) / 60) * PX_PER_CM;
      const plotHeight = ((BPM_MAX - BPM_MIN) / 20) * PX_PER_CM;
      const extraW = this.u.width - this.u.bbox.width / devicePixelRatio;
      const extraH = this.u.height - this.u.bbox.height / devicePixelRatio;
      this.u.setSize({ width: Math.round(plotWidth + extraW), height: Math.round(plotHeight + extraH) });
      this.u.setScale("x", { min: lo, max: hi });
      this.syncStv();
    }

    onWheel(ev) {
      if (!this.u) return;
      ev.preventDefault();
      const rect = this.u.over.getBoundingClientRect();
      const t = this.u.posToVal(ev.clientX - rect.left, "x");
      if (ev.shiftKey) this.pan(ev.deltaY > 0 ? 0.1 : -0.1);
      else this.zoom(ev.deltaY > 0 ? 1.25 : 0.8, t);
    }
  }

  function csv(result) {
    const [xs, fhr, mhr] = alignedData(result);
    const q = (result.fhr && result.fhr.quality) || [];
    const lines = ["time_s,fhr_bpm,fhr_quality,mhr_bpm"];
    for (let k = 0; k < xs.length; k++) {
      lines.push([xs[k].toFixed(2), fhr[k] ?? "", q[k] ?? "", mhr[k] ?? ""].join(","));
    }
    return lines.join("\n") + "\n";
  }

  return { Chart, csv, alignedData, stvData, COLORS, PX_PER_CM };
})();
