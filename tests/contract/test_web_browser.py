"""The web page in a real browser (Debian's headless Chromium) against the contract target.

A person's path: open the page, upload a set-a record (WFDB pair), see the CTG strip; upload a
generated 30-minute record with known signal loss and see gaps exactly there; upload garbage and
read a clear error. Assertions are on what is drawn (canvas pixels) and on the numbers shown,
compared with what the API itself answers for the same object. Screenshots go to out/e2e/.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from browsercheck.cdp import Chromium, Page, find_chromium
from browsercheck.flows import drawn_check, figo_shown, open_page, stv_shown, summary_shown, upload

SCREENSHOTS = Path(__file__).resolve().parents[2] / "out" / "e2e"


@pytest.fixture
async def page(target) -> AsyncIterator[Page]:  # type: ignore[no-untyped-def]
    if find_chromium() is None:
        pytest.fail("Chromium is required for the page's end-to-end tests (apt-get install chromium)")
    async with Chromium() as browser:
        tab = await browser.new_page()
        await open_page(tab, target.api_url, target.token)
        yield tab


def api_result(target, key: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What the API answers a client for the same object (cached by now: no recomputation)."""
    filename = urllib.parse.quote(f"s3://{target.outputs['ecg_bucket']}/{key}", safe=":/")
    request = urllib.request.Request(f"{target.api_url}/fhr?filename={filename}", headers=target.auth_headers())
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def null_runs(bpm: list[float | None], fs: float, t0: float, min_s: float = 3.0) -> list[tuple[float, float]]:
    runs, k = [], 0
    while k < len(bpm):
        if bpm[k] is None:
            j = k
            while j < len(bpm) and bpm[j] is None:
                j += 1
            if (j - k) / fs >= min_s:
                runs.append((t0 + k / fs, t0 + (j - 1) / fs))
            k = j
        else:
            k += 1
    return runs


async def test_a_set_a_record_uploaded_from_the_page_is_drawn_as_the_api_computed_it(  # type: ignore[no-untyped-def]
    page, target, set_a_dir
) -> None:
    target.uploaded_names.update({"a01.hea", "a01.dat"})
    _, outcome = await upload(page, [set_a_dir / "a01.hea", set_a_dir / "a01.dat"])
    assert outcome["error"] is None, outcome
    key = outcome["rendered"]
    assert key.startswith(target.prefix() + "uploads/") and key.endswith("/a01.hea")
    await page.screenshot(SCREENSHOTS / "a01.png")

    shown_result = await page.evaluate("fhrPage.result")
    from_api = api_result(target, key)
    assert shown_result["fhr"]["bpm"] == from_api["fhr"]["bpm"]
    summary = await summary_shown(page)
    # one minute supports no baseline or events (FIGO needs 10 min): the page says so, and why
    assert from_api["summary"]["baseline_bpm"] is None and from_api["summary"]["accelerations"] is None
    assert summary["baseline_bpm"] == summary["accelerations"] == "not assessed (record too short)"
    assert summary["fetal_beats"].startswith(f"{len(from_api['beats']['fqrs_s'])} (")
    figo = await figo_shown(page)
    assert figo["class"] == "no class" and "10 min" in figo["undecided"]
    stv = await stv_shown(page)
    assert stv["values"] == from_api["variability"]["stv_ms"] and stv["bars"] == 1, stv

    drawn = await drawn_check(page)
    assert drawn["checked"] >= 50
    assert drawn["drawn"] >= 0.95 * drawn["checked"], drawn

    listed = await page.evaluate("[...document.querySelectorAll('#recordings option')].map(o => o.value)")
    assert key in listed


async def test_a_generated_30_minute_record_shows_its_signal_loss_as_gaps(  # type: ignore[no-untyped-def]
    page, target, tmp_path
) -> None:
    from handlers.fhr.synth import synthesize
    from handlers.fhr.writers import write_record

    record, truth = synthesize(30, 4, 1000.0, seed=7, signal_loss=3)
    files = write_record(record, tmp_path / "synth30.hea", "wfdb")
    target.uploaded_names.update(f.name for f in files)
    seconds, outcome = await upload(page, sorted(files), timeout=240)
    assert outcome["error"] is None, outcome
    await page.screenshot(SCREENSHOTS / "synth30.png")

    result = await page.evaluate("fhrPage.result")
    assert result["record"]["duration_s"] == pytest.approx(1800, abs=1)
    runs = null_runs(result["fhr"]["bpm"], result["fhr"]["fs"], result["fhr"]["t0"])
    truth_gaps = [(g["start_s"], g["end_s"]) for g in truth.to_dict()["signal_loss"]]
    # The page draws what the result says; the result's gaps sit on the generator's signal loss.
    assert runs and all(any(a - 2 <= s and e <= b + 2 for a, b in truth_gaps) for s, e in runs)

    whole = await drawn_check(page)
    assert whole["drawn"] >= 0.9 * whole["checked"], whole
    # 30 minutes: the FIGO class (or why there is none) with its reasons, and STV bars minute by minute
    figo = await figo_shown(page)
    expected = result["summary"]["figo"]
    assert figo["class"] == (expected["class"] or "no class")
    assert figo["reasons"] == expected["reasons"] and figo["reasons"]
    stv = await stv_shown(page)
    assert len(stv["values"]) == 30 and stv["bars"] == sum(v is not None for v in stv["values"]) >= 20, stv
    gap = max(runs, key=lambda r: r[1] - r[0])
    zoomed = await drawn_check(page, gap)
    await page.screenshot(SCREENSHOTS / "synth30-gap.png")
    assert zoomed["gapColumns"] >= 20, zoomed
    assert zoomed["gapInk"] == 0, zoomed
    assert zoomed["drawn"] >= 0.9 * zoomed["checked"] > 0, zoomed


async def test_a_garbage_file_gets_a_readable_error(page, target, tmp_path) -> None:  # type: ignore[no-untyped-def]
    garbage = tmp_path / "Smith_John_garbage.csv"
    target.uploaded_names.add(garbage.name)
    garbage.write_bytes(bytes(range(256)) * 64)
    _, outcome = await upload(page, [garbage])
    await page.screenshot(SCREENSHOTS / "garbage.png")
    assert outcome["rendered"] is None
    assert outcome["errorStatus"] == "422", outcome
    assert outcome["errorCode"], outcome
    assert "Traceback" not in outcome["error"]


async def test_a_lone_wfdb_header_is_refused_before_any_upload(page, set_a_dir) -> None:  # type: ignore[no-untyped-def]
    _, outcome = await upload(page, [set_a_dir / "a02.hea"])
    assert outcome["errorStatus"] == "400" and outcome["errorCode"] == "invalid_files", outcome
    assert ".dat" in outcome["error"]
