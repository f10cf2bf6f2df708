"""The JSON Schema (draft 2020-12) of the estimator's result: every field, its unit and when it is null.

:func:`handlers.fhr.result.build` produces it, ``tests/handlers/fhr/test_result_schema.py`` validates real
results against it, and the API's OpenAPI document serves it as ``FhrResult`` (:mod:`handlers.api.fhr`
adds the ``cached`` flag). Objects are closed (``additionalProperties: false``): a field added to the result
without being described here fails the tests instead of surprising a client. Plain data: no numpy here.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

RESULT_VERSION = 2  # 2: beats, variability, summary items null with reasons, FIGO class


def _obj(description: str, required: tuple[str, ...] | None = None, **properties: Schema) -> Schema:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(properties if required is None else required),
        "additionalProperties": False,
    }


def _num(description: str, **keywords: Any) -> Schema:
    return {"type": "number", "description": description, **keywords}


def _int(description: str, **keywords: Any) -> Schema:
    return {"type": "integer", "description": description, **keywords}


def _str(description: str, **keywords: Any) -> Schema:
    return {"type": "string", "description": description, **keywords}


def _or_null(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _list(items: Schema, description: str) -> Schema:
    return {"type": "array", "items": items, "description": description}


NON_NEGATIVE = {"minimum": 0}
PERCENT = {"minimum": 0, "maximum": 100}


def trace(what: str) -> Schema:
    """A 4 Hz trace (the CTG convention): ``bpm[k]`` is the rate at ``t0 + k / fs`` s from the record start."""
    return _obj(
        f"{what}, one value per 0.25 s (the CTG convention)",
        fs=_int("samples per second of the trace", const=4),
        t0=_num("seconds from the record start of the first sample"),
        bpm=_list(_or_null(_num("beats per minute, 0.1 bpm")), "the rate; null = signal lost: no rate is guessed"),
        quality=_list(_num("0 to 1", minimum=0, maximum=1), "confidence per sample, 0 where bpm is null"),
    )


EVENT = _obj(
    "an acceleration or deceleration: from its onset to its return to the baseline (within 5 bpm)",
    start_s=_num("onset, seconds from the record start"),
    end_s=_num("return, seconds from the record start"),
    duration_s=_num("seconds", **NON_NEGATIVE),
    peak_delta_bpm=_num("the extreme deviation from the baseline, bpm"),
)
EPISODE = _obj(
    "an episode of high or low variation (Dawes-Redman): a run of minutes of high / low minute LTV",
    start_s=_num("seconds from the record start"),
    end_s=_num("seconds from the record start"),
    duration_s=_num("seconds", **NON_NEGATIVE),
    mean_ltv_ms=_num("mean minute LTV over the episode, ms"),
)
NOT_ASSESSED_REASONS = ("insufficient_duration", "signal_loss", "indeterminate", "needs_uterine_activity")

RECORD = _obj(
    "what was read",
    required=("source", "format", "channels", "fs", "duration_s"),
    source=_str("path, s3://bucket/key or a caller's name"),
    format=_str("the reader that read it: wfdb, physionet-csv, csv, edf, synthetic, memory"),
    channels=_list(_str("channel name"), "names of the channels used"),
    fs=_num("sampling rate of the input, Hz", exclusiveMinimum=0),
    duration_s=_num("seconds", **NON_NEGATIVE),
    etag=_str("the S3 ETag(s) read (comma-separated for a WFDB record's files); only for records from S3"),
)
BEATS = _obj(
    "fetal and maternal beats",
    fqrs_s=_list(_num("seconds, 1 ms"), "fetal R peaks, only where the beat picker is trusted"),
    rr_ms=_list(
        _or_null(_int("ms")),
        "len(fqrs_s) - 1 intervals: rr_ms[i] = fqrs_s[i+1] - fqrs_s[i] in ms, null where not trusted",
    ),
    mqrs_s=_list(_num("seconds, 1 ms"), "maternal R peaks (every one detected)"),
    trusted_rr_percent=_num("share of the intervals between reported beats that are trusted", **PERCENT),
)
VARIABILITY = _obj(
    "Dawes-style variability from the trusted intervals (handlers.fhr.variability)",
    epoch_s=_num("epoch length, s (1/16 min)", const=3.75),
    minute_t0=_num("stv_ms[m] covers [minute_t0 + 60 m, minute_t0 + 60 (m + 1)) s"),
    stv_ms=_list(_or_null(_num("ms", **NON_NEGATIVE)), "minute short-term variation; null = too few valid pairs"),
    ltv_ms=_list(_or_null(_num("ms", **NON_NEGATIVE)), "minute long-term variation (range of epoch means)"),
    valid_pairs=_list(_int("pairs", **NON_NEGATIVE), "successive valid epoch pairs per minute (STV needs 10 of 15)"),
    lost_epochs_percent=_num("epochs without enough trusted intervals (never interpolated)", **PERCENT),
)
FIGO = _obj(
    "the FIGO 2015 class, or null and why",
    **{
        "class": _or_null(_str("FIGO 2015 class", enum=["normal", "suspicious", "pathological"])),
        "reasons": _list(_str("a finding"), "the findings the class rests on, in words"),
        "undecided": _or_null(_str("why there is no class, when there is none")),
    },
)
SUMMARY = _obj(
    "only what the record supports (handlers.fhr.summary): each item null when the record cannot support it, and "
    "then listed in not_assessed with its reason",
    duration_s=_num("seconds", **NON_NEGATIVE),
    baseline_bpm=_or_null(_int("FIGO baseline, bpm, rounded to 5")),
    baseline_class=_or_null(_str("baseline class", enum=["normal", "bradycardia", "tachycardia"])),
    baseline_method=_str("how the baseline is taken"),
    variability_bpm=_or_null(_num("median minute amplitude of the event-free trace, bpm")),
    variability_class=_or_null(_str("variability class", enum=["reduced", "normal", "increased"])),
    accelerations=_or_null(_list(EVENT, "accelerations (need 10 min)")),
    decelerations=_or_null(_list(EVENT, "decelerations (need 10 min)")),
    sinusoidal=_or_null({"type": "boolean", "description": "FIGO sinusoidal pattern (needs more than 30 min)"}),
    stv_ms=_or_null(_num("record STV (Dawes-Redman), ms; needs 10 min", **NON_NEGATIVE)),
    stv_warning=_or_null({"type": "boolean", "description": "record STV under 3 ms"}),
    ltv_ms=_or_null(_num("record mean minute range, ms", **NON_NEGATIVE)),
    high_variation_episodes=_or_null(_list(EPISODE, "episodes of high variation")),
    low_variation_episodes=_or_null(_list(EPISODE, "episodes of low variation")),
    signal_loss_percent=_num("share of 4 Hz samples with no rate", **PERCENT),
    figo=FIGO,
    not_assessed=_list(
        _obj(
            "an item the record does not support, or one this service never assesses",
            item=_str("the summary item (or deceleration_type, tachysystole)"),
            reason=_str("why", enum=list(NOT_ASSESSED_REASONS)),
        ),
        "every null item above with its reason, and what this service never assesses",
    ),
    mhr_median_bpm=_or_null(_num("median maternal heart rate, bpm")),
    powerline_hz=_list(_num("Hz"), "mains lines found and notched"),
)
RESULT_SCHEMA: Schema = _obj(
    "the estimator's result (version 2); traces rounded to 0.1 bpm and qualities to 0.01, beat times to 1 ms",
    version=_int("the result shape's version", const=RESULT_VERSION),
    record=RECORD,
    fhr=trace("fetal heart rate"),
    mhr=trace("maternal heart rate, beat to beat"),
    beats=BEATS,
    variability=VARIABILITY,
    summary=SUMMARY,
    timings_ms={
        "type": "object",
        "description": "milliseconds per stage (estimate, condition, maternal, spectra, tracking, beats, assemble) and "
        "what the caller measured before (parse, download, ...)",
        "additionalProperties": _num("ms", **NON_NEGATIVE),
    },
)
RESULT_LINK_SCHEMA: Schema = _obj(
    "a result too large to answer inline (over 4 MB of JSON): a presigned SigV4 GET of the stored result, whose body "
    "is the result's JSON (Content-Encoding gzip)",
    url=_str("HTTPS GET URL, signed with SigV4; it stops working at expiresAt"),
    expiresAt=_int("unix time (s) after which the URL is refused", **NON_NEGATIVE),
    bytes=_int("size of the result's JSON, bytes", **NON_NEGATIVE),
)
