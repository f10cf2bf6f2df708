/* The page's behaviour: pick or upload a recording, ask the API for its FHR, draw the CTG strip.
 * Every call goes to the stack's own API (same origin), to the path the app definition's route table
 * gives its operation id (route(), from the page's config); uploads go straight to S3 with a presigned
 * POST whose policy enforces the size and content type. */
"use strict";

(() => {
  const cfg = window.FHR_CONFIG || {};
  const $ = id => document.getElementById(id);
  const state = { nextToken: null, result: null, chart: null, token: sessionStorage.getItem("fhr-token") || "",
                  listings: 0 };
  window.fhrPage = state;  // what the end-to-end tests read back

  class ApiError extends Error {
    constructor(status, body) {
      const message = (body && (body.message || body.Message)) || `HTTP ${status}`;
      super(message);
      this.status = status;
      this.code = (body && body.code) || null;
      this.requestId = (body && body.requestId) || null;
    }
  }

  // The path of an API operation, from the route table the page is served with (relative: same origin).
  function route(operationId) {
    const path = (cfg.routes || {})[operationId];
    if (!path) throw new Error(`the API serves no operation ${operationId}`);
    return path.replace(/^\//, "");
  }

  function headers(extra = {}) {
    const h = { ...extra };
    if (state.token) h.authorization = `Bearer ${state.token}`;
    return h;
  }

  async function api(method, path, body) {
    const init = { method, headers: headers(body ? { "content-type": "application/json" } : {}) };
    if (body) init.body = JSON.stringify(body);
    const response = await fetch(path, init);
    let payload = null;
    try { payload = await response.json(); } catch (_) { payload = null; }
    if (response.status === 401) $("auth").hidden = false;  // the stack wants a JWT: ask for one
    if (!response.ok) throw new ApiError(response.status, payload);
    return { status: response.status, body: payload };
  }

  function showStatus(text) {
    const el = $("status");
    el.textContent = text;
    el.hidden = !text;
  }

  function showError(err) {
    const el = $("error");
    if (!err) { el.hidden = true; el.textContent = ""; return; }
    const head = err.status ? `${err.status}${err.code ? " " + err.code : ""}: ` : "";
    const tail = err.requestId ? ` (request ${err.requestId})` : "";
    el.textContent = `${head}${err.message || String(err)}${tail}`;
    el.dataset.status = err.status || "";
    el.dataset.code = err.code || "";
    el.hidden = false;
    showStatus("");
  }

  // A listing's error is shown only while it is the latest one: the page's first listing (before a token
  // is saved, a 401 on a JWT stack) must not overwrite what the user did since.
  function refreshRecordings(append, quiet = false) {
    const listing = ++state.listings;
    return loadRecordings(append).catch(err => { if (!quiet && listing === state.listings) showError(err); });
  }

  async function loadRecordings(append) {
    const query = new URLSearchParams({ limit: "50" });
    if (append && state.nextToken) query.set("nextToken", state.nextToken);
    const { body } = await api("GET", `${route("listRecordings")}?${query}`);
    const select = $("recordings");
    if (!append) select.innerHTML = "";
    for (const rec of body.recordings) {
      const opt = document.createElement("option");
      opt.value = rec.key;  // the full key; shown without the caller's own tenants/<tenant>/ prefix
      const shown = body.prefix && rec.key.startsWith(body.prefix) ? rec.key.slice(body.prefix.length) : rec.key;
      opt.textContent = `${shown}  (${(rec.size / 1e6).toFixed(2)} MB)`;
      select.appendChild(opt);
    }
    state.nextToken = body.nextToken || null;
    $("more").hidden = !state.nextToken;
  }

  function uploadOne(target, file, onProgress) {
    return new Promise((resolve, reject) => {
      const form = new FormData();
      for (const [k, v] of Object.entries(target.fields)) form.append(k, v);
      form.append("file", file);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", target.url);
      xhr.upload.onprogress = ev => ev.lengthComputable && onProgress(ev.loaded);
      xhr.onload = () => (xhr.status >= 200 && xhr.status < 300)
        ? resolve()
        : reject(new ApiError(xhr.status, { code: "upload_rejected",
            message: `the storage refused the upload of ${file.name} (${s3Reason(xhr.responseText)})` }));
      xhr.onerror = () => reject(new ApiError(0, { code: "upload_failed", message: `upload of ${file.name} failed` }));
      xhr.send(form);
    });
  }

  function s3Reason(xml) {
    const m = /<Message>([^<]*)<\/Message>/.exec(xml || "");
    return m ? m[1] : "unknown reason";
  }

  async function uploadAndAnalyse() {
    const files = Array.from($("file").files);
    if (!files.length) return;
    showError(null);
    const bar = $("upload-progress");
    try {
      const spec = files.map(f => ({ name: f.name, size: f.size, contentType: f.type || "application/octet-stream" }));
      const { body } = await api("POST", route("createUploads"), { files: spec });
      const total = files.reduce((s, f) => s + f.size, 0) || 1;
      const sent = new Array(files.length).fill(0);
      bar.hidden = false; bar.value = 0;
      showStatus(`Uploading ${files.length} file(s)…`);
      await Promise.all(body.uploads.map((target, i) => {
        const file = files.find(f => f.name === target.name) || files[i];
        return uploadOne(target, file, loaded => {
          sent[i] = loaded;
          bar.value = sent.reduce((a, b) => a + b, 0) / total;
        });
      }));
      bar.value = 1;
      await analyse(body.record);
      refreshRecordings(false, true);  // the result is what the user came for: a failed listing stays quiet
    } catch (err) {
      showError(err);
    } finally {
      bar.hidden = true;
    }
  }

  async function analyse(key) {
    showError(null);
    const started = performance.now();
    showStatus(`Estimating FHR for ${key}…`);
    const filename = `s3://${cfg.bucket}/${key}`;
    try {
      let { status, body } = await api("GET", `${route("getFhr")}?filename=${encodeURIComponent(filename)}`);
      if (status === 202) body = await waitForJob(body, key, started);
      if (body.resultLink) body = { ...await fetchLinked(body.resultLink), cached: body.cached };
      render(key, body);
      showStatus(`${key}: done in ${((performance.now() - started) / 1000).toFixed(1)} s` +
                 (body.cached ? " (cached)" : ""));
    } catch (err) {
      showError(err);
    }
  }

  /* A result too large for an API answer comes as a presigned S3 GET (no API token: the URL is signed). */
  async function fetchLinked(link) {
    const response = await fetch(link.url);
    if (!response.ok) throw new ApiError(response.status, { code: "result_unavailable",
      message: `the stored result could not be fetched (HTTP ${response.status}); ask again for a fresh link` });
    return response.json();
  }

  async function waitForJob(accepted, key, started) {
    const location = accepted.location.replace(/^\//, "");
    for (;;) {
      await new Promise(r => setTimeout(r, 1000));
      const { body } = await api("GET", location);
      const secs = ((performance.now() - started) / 1000).toFixed(0);
      showStatus(`${key}: ${body.status} (${secs} s)${body.progress != null ? ` — ${Math.round(body.progress * 100)} %` : ""}`);
      if (body.status === "done") {
        const file = (body.files && body.files[0]) || {};
        const link = body.resultLink || file.resultLink;
        return body.result || file.result || (link && { resultLink: link, cached: file.cached });
      }
      if (body.status === "failed") {
        const error = body.error || (body.files && body.files[0] && body.files[0].error) || {};
        throw new ApiError(422, error);
      }
    }
  }

  function fmt(v, unit) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") return `${Number.isInteger(v) ? v : v.toFixed(1)}${unit ? " " + unit : ""}`;
    if (typeof v === "boolean") return v ? "yes" : "no";
    return String(v);
  }

  const esc = text => String(text).replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const REASONS = {
    insufficient_duration: "record too short",
    signal_loss: "too much signal loss",
    indeterminate: "no stable segment",
    needs_uterine_activity: "needs uterine activity",
  };

  /* A summary value, or "not assessed (why)" when the summary says the record does not support it. */
  function item(s, key, value) {
    if (s[key] !== null && s[key] !== undefined) return value;
    const missing = (s.not_assessed || []).find(e => e.item === key);
    return missing ? `not assessed (${REASONS[missing.reason] || missing.reason})` : "–";
  }

  function count(list) { return Array.isArray(list) ? String(list.length) : "–"; }

  function renderSummary(result) {
    const s = result.summary || {};
    const beats = result.beats || {};
    const rows = [
      ["Baseline FHR", item(s, "baseline_bpm", fmt(s.baseline_bpm, "bpm") + (s.baseline_class ? ` (${s.baseline_class})` : "")),
       "baseline_bpm"],
      ["Variability", item(s, "variability_bpm",
        fmt(s.variability_bpm, "bpm") + (s.variability_class ? ` (${s.variability_class})` : "")), "variability_bpm"],
      ["Accelerations", item(s, "accelerations", count(s.accelerations)), "accelerations"],
      ["Decelerations", item(s, "decelerations", count(s.decelerations)), "decelerations"],
      ["Sinusoidal pattern", item(s, "sinusoidal", fmt(s.sinusoidal)), "sinusoidal"],
      ["STV (record)", item(s, "stv_ms", fmt(s.stv_ms, "ms") + (s.stv_warning ? " (under 3 ms)" : "")), "stv_ms"],
      ["LTV (record)", item(s, "ltv_ms", fmt(s.ltv_ms, "ms")), "ltv_ms"],
      ["High / low variation episodes", item(s, "high_variation_episodes",
        `${count(s.high_variation_episodes)} / ${count(s.low_variation_episodes)}`), "high_variation_episodes"],
      ["Fetal beats", `${fmt(beats.fqrs_s ? beats.fqrs_s.length : null)} (${fmt(beats.trusted_rr_percent, "%")} RR trusted)`,
       "fetal_beats"],
      ["Signal loss", fmt(s.signal_loss_percent, "%"), "signal_loss_percent"],
      ["Maternal HR (median)", fmt(s.mhr_median_bpm, "bpm"), "mhr_median_bpm"],
      ["Duration", fmt(result.record && result.record.duration_s, "s"), "duration_s"],
      ["Channels", fmt(result.record && result.record.channels && result.record.channels.length), "channels"],
    ];
    const dl = rows.map(([label, value, key]) => `<dt>${label}</dt><dd data-key="${key}">${esc(value)}</dd>`).join("");
    const figo = s.figo || {};
    const reasons = (figo.reasons || []).map(r => `<li>${esc(r)}</li>`).join("");
    const figoHtml = `<div class="figo" data-class="${esc(figo.class || "none")}">
      <h3>FIGO 2015: <span id="figo-class">${esc(figo.class || "no class")}</span></h3>
      ${figo.undecided ? `<p class="muted" id="figo-undecided">${esc(figo.undecided)}</p>` : ""}
      <ul id="figo-reasons">${reasons}</ul></div>`;
    const never = (s.not_assessed || []).map(e => `<li data-item="${esc(e.item)}">${esc(e.item.replace(/_/g, " "))}: ` +
      `${esc(REASONS[e.reason] || e.reason)}</li>`).join("");
    $("summary").innerHTML = `<h2>Summary</h2>${figoHtml}<dl>${dl}</dl>` +
      `<details id="not-assessed"><summary>Not assessed (${(s.not_assessed || []).length})</summary><ul>${never}</ul></details>`;
  }

  function render(key, result) {
    state.result = result;
    $("result").hidden = false;
    $("record-name").textContent = key;
    if (!state.chart) state.chart = new CTG.Chart($("ctg"), $("stv"));
    state.chart.setResult(result);
    renderSummary(result);
    const json = new Blob([JSON.stringify(result, null, 1)], { type: "application/json" });
    const csv = new Blob([CTG.csv(result)], { type: "text/csv" });
    const stem = key.split("/").pop().replace(/\.[^.]*$/, "");
    Object.assign($("download-json"), { href: URL.createObjectURL(json), download: `${stem}.fhr.json` });
    Object.assign($("download-csv"), { href: URL.createObjectURL(csv), download: `${stem}.fhr.csv` });
    state.renderedAt = performance.now();
    document.body.dataset.rendered = key;
  }

  function wire() {
    $("stage").textContent = cfg.stage ? `stage ${cfg.stage} · bucket ${cfg.bucket}` : "";
    $("token").value = state.token;
    $("save-token").onclick = () => {
      state.token = $("token").value.trim();
      sessionStorage.setItem("fhr-token", state.token);
      showError(null);
      refreshRecordings(false);
    };
    $("file").onchange = () => { $("upload").disabled = !$("file").files.length; };
    $("upload").onclick = uploadAndAnalyse;
    $("recordings").onchange = () => { $("analyse").disabled = !$("recordings").value; };
    $("analyse").onclick = () => analyse($("recordings").value);
    $("more").onclick = () => refreshRecordings(true);
    document.querySelectorAll("[data-action]").forEach(btn => {
      btn.onclick = () => {
        const c = state.chart;
        if (!c) return;
        ({ "zoom-in": () => c.zoom(0.5), "zoom-out": () => c.zoom(2), "pan-left": () => c.pan(-0.25),
           "pan-right": () => c.pan(0.25), paper: () => c.paperScale(), reset: () => c.reset() })[btn.dataset.action]();
      };
    });
    refreshRecordings(false);
    document.body.dataset.ready = "1";
  }

  wire();
})();
