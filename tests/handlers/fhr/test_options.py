"""Estimator options, and above all ``tuning``: every knob checked by name, type, range and cross-field rule.

Invalid values must raise :class:`InvalidOptions` naming the key (the API answers 400 with it and
caches nothing); valid edge values must still run the estimator to a well-formed result.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from handlers.fhr import estimate, estimator, fetal, options
from handlers.fhr.errors import InvalidOptions
from handlers.fhr.options import TUNING_LIMITS, parse_options, parse_tuning
from handlers.fhr.readers import read_path
from handlers.fhr.readers.validate import MIN_FS_HZ


@pytest.fixture(scope="module")
def a01(set_a_dir):
    return read_path(set_a_dir / "a01.hea")


def test_every_estimator_knob_has_a_rule_and_its_default_passes_it() -> None:
    assert set(TUNING_LIMITS) == set(estimator.TUNING)
    assert parse_tuning(dict(estimator.TUNING)) == estimator.TUNING
    for name, default in options._DEFAULTS_FOR_RULES.items():
        assert estimator.TUNING[name] == default


def test_the_rules_constants_match_the_code_they_describe() -> None:
    assert options.MIN_WORKING_FS_HZ == MIN_FS_HZ
    assert len(fetal.HARMONIC_WEIGHTS) == options.HARMONICS_READ
    assert options.MAX_FETAL_BAND_HZ * options.FETAL_BAND_RAMP < MIN_FS_HZ / 2


def bad_values(name: str) -> list[object]:
    """Wrong type, non-finite, just outside the range at both ends, and (for counts) a fraction."""
    knob = TUNING_LIMITS[name]
    values: list[object] = ["1", None, True, [1], {"v": 1}, math.nan, math.inf, -math.inf, 10**400]
    span = knob.high - knob.low
    values += [knob.low - max(1.0, span * 0.01), knob.high + max(1.0, span * 0.01)]
    if knob.integer:
        values.append(knob.low + 0.5)
    return values


@pytest.mark.parametrize("name", sorted(TUNING_LIMITS))
def test_each_knob_refuses_wrong_types_non_finite_and_out_of_range_values(name: str) -> None:
    for value in bad_values(name):
        with pytest.raises(InvalidOptions, match=f"tuning.{name}") as caught:
            parse_options({"tuning": {name: value}}, 4)
        assert caught.value.code == "invalid_options"


@pytest.mark.parametrize(
    ("tuning", "fhr_range", "named"),
    [
        ({"band_low": 30.0, "band_high": 20.0}, None, "band_high"),  # inverted
        ({"band_low": 40.0, "band_high": 42.0}, None, "band_high"),  # narrower than 5 Hz
        ({"band_low": 44.0}, None, "band_high"),  # against the default band_high (45)
        ({"band_high": 14.0}, None, "band_high"),  # against the default band_low (12)
        ({"envelope_fs": 20.0}, None, "envelope_fs"),  # 3rd harmonic of 220 bpm is 11 Hz: needs 22 Hz
        ({"envelope_fs": 25.0}, [100, 280], "envelope_fs"),  # 280 bpm needs 28 Hz
    ],
)
def test_cross_field_rules(tuning: dict, fhr_range: list | None, named: str) -> None:
    raw: dict = {"tuning": tuning}
    if fhr_range is not None:
        raw["fhr_range"] = fhr_range
    with pytest.raises(InvalidOptions, match=f"tuning.{named}"):
        parse_options(raw, 4)


def test_unknown_tuning_key_is_refused_by_name() -> None:
    with pytest.raises(InvalidOptions, match="'band_lo'") as caught:
        parse_options({"tuning": {"band_lo": 10.0}}, 4)
    assert "band_low" in str(caught.value)  # the message lists the known keys
    with pytest.raises(InvalidOptions, match="must be an object"):
        parse_options({"tuning": [["band_low", 10.0]]}, 4)


def test_integral_counts_given_as_floats_are_accepted() -> None:
    assert parse_options({"tuning": {"maternal_components": 4.0, "ica": 0}}, 4).extra == {
        "maternal_components": 4.0,
        "ica": 0.0,
    }


@pytest.mark.parametrize("value", [["70", 200], [math.nan, 200], [70, math.inf], [70, 10**400], [200, 100], [100, 110]])
def test_fhr_range_must_be_finite_ordered_and_wide(value: list) -> None:
    with pytest.raises(InvalidOptions, match="fhr_range"):
        parse_options({"fhr_range": value}, 4)


@pytest.mark.parametrize(("name", "value"), [("window_s", 10**400), ("hop_s", math.nan), ("threads", 10**400)])
def test_top_level_numbers_beyond_float_range_are_invalid_options(name: str, value: object) -> None:
    with pytest.raises(InvalidOptions, match=name):
        parse_options({name: value}, 4)


def edge_cases() -> list[tuple[str, dict]]:
    cases = []
    for name, knob in sorted(TUNING_LIMITS.items()):
        for edge in (knob.low, knob.high):
            tuning = {name: edge}
            if name == "band_low" and edge == knob.high:
                tuning["band_high"] = edge + options.MIN_FETAL_BAND_WIDTH_HZ
            if name == "band_high" and edge == knob.low:
                tuning["band_low"] = edge - options.MIN_FETAL_BAND_WIDTH_HZ
            if name == "envelope_fs" and edge == knob.low:
                tuning["envelope_fs"] = 2.0 * options.HARMONICS_READ * 220.0 / 60.0  # the lowest the rule allows
            cases.append((f"{name}={tuning[name]:g}", tuning))
    return cases


@pytest.mark.parametrize(("label", "tuning"), edge_cases(), ids=[c[0] for c in edge_cases()])
def test_valid_edge_values_still_give_a_well_formed_result(a01, label: str, tuning: dict) -> None:
    result = estimate(a01, {"tuning": tuning})
    bpm = result["fhr"]["bpm"]
    assert len(bpm) == int(a01.duration_s * 4)
    finite = [v for v in bpm if v is not None and np.isfinite(v)]
    assert all(70.0 <= v <= 220.0 for v in finite)
    quality = [q for q in result["fhr"]["quality"] if q is not None]
    assert all(0.0 <= q <= 1.0 for q in quality)
