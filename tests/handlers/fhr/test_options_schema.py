"""The options' JSON Schema (what the API's document publishes) says what ``parse_options`` enforces.

Property-based (hypothesis): for options built from the known names with values at, inside and just
outside each range, of every JSON type, the schema accepts exactly what ``parse_options`` accepts, except
for the rules between values that a schema cannot state (named in its descriptions).
"""

from __future__ import annotations

from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.fhr.errors import InvalidOptions
from handlers.fhr.options import OPTION_LIMITS, TUNING_LIMITS, Knob, options_schema, parse_options

VALIDATOR = jsonschema.Draft202012Validator(options_schema())
CROSS_FIELD_RULES = ("must span at least", "must exceed 'tuning.band_low'", "'tuning.envelope_fs' must be at least")
CHANNELS = 4


def near(knob: Knob) -> st.SearchStrategy[Any]:
    """Values at, inside and just outside the knob's range, of the right and the wrong JSON types."""
    edges = [knob.low, knob.high, (knob.low + knob.high) / 2]
    numbers = st.sampled_from(edges) | st.sampled_from([knob.low - 1e-9, knob.high + 1e-9, knob.low - 1])
    if knob.integer:
        numbers |= st.sampled_from([int(knob.low), int(knob.high), int(knob.high) + 1, 0.5 + int(knob.low)])
    return numbers | st.booleans() | st.none() | st.text(max_size=3) | st.floats(allow_nan=False, allow_infinity=False)


def options() -> st.SearchStrategy[dict[str, Any]]:
    top = {name: near(knob) for name, knob in OPTION_LIMITS.items()}
    top["refine"] = st.booleans() | st.integers(0, 1) | st.none()
    top["channels"] = st.none() | st.lists(st.integers(-1, CHANNELS) | st.booleans(), max_size=5) | st.integers()
    top["fhr_range"] = st.lists(st.sampled_from([30.0, 50, 70, 110.5, 220, 300, 29.9, 301, True]), max_size=3)
    top["tuning"] = st.dictionaries(
        st.sampled_from([*TUNING_LIMITS, "no_such_knob"]),
        st.one_of(*(near(knob) for knob in TUNING_LIMITS.values())),
        max_size=4,
    ) | st.sampled_from([None, [], "x"])
    top["no_such_option"] = st.integers()
    return st.dictionaries(st.sampled_from(sorted(top)), st.none(), max_size=5).flatmap(
        lambda chosen: st.fixed_dictionaries({name: top[name] for name in chosen})
    )


@settings(max_examples=600, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(options())
def test_the_schema_accepts_what_parse_options_accepts(raw: dict[str, Any]) -> None:
    try:
        parse_options(raw, CHANNELS)
        accepted, reason = True, ""
    except InvalidOptions as exc:
        accepted, reason = False, str(exc)
    valid = VALIDATOR.is_valid(raw)
    if accepted:
        assert valid, (raw, [e.message for e in VALIDATOR.iter_errors(raw)])
    elif valid:  # the schema lets it through: only a rule between values, or a channel the record lacks
        assert any(rule in reason for rule in CROSS_FIELD_RULES) or "out of range for a record" in reason, (raw, reason)
