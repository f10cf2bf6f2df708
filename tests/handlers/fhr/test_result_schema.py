"""Real results fit the result's JSON Schema (handlers.fhr.result_schema), which the API's document serves.

The schema's objects are closed, so a field the estimator adds without describing it fails here; and a
schema that drifted from the estimator (a type, a null it does not allow) fails on these real results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from handlers.api.cache import compact_result
from handlers.fhr import estimate
from handlers.fhr.readers import read_path
from handlers.fhr.result_schema import RESULT_SCHEMA
from handlers.fhr.synth import synthesize


def check_result(result: dict[str, Any]) -> None:
    """Raise unless ``result`` fits RESULT_SCHEMA (every violation in the message)."""
    errors = list(jsonschema.Draft202012Validator(RESULT_SCHEMA).iter_errors(result))
    assert not errors, [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:10]]


def test_the_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(RESULT_SCHEMA)


def test_a_set_a_record_fits(set_a_dir: Path) -> None:
    result = compact_result(estimate(read_path(set_a_dir / "a01.hea")))
    check_result(result)
    assert result["summary"]["baseline_bpm"] is None  # 60 s: the nulls and not_assessed reasons fit too


def test_a_record_with_lost_signal_fits() -> None:
    record, _ = synthesize(2.0, seed=4, signal_loss=3)
    result = compact_result(estimate(record))
    check_result(result)
    assert None in result["fhr"]["bpm"]


def test_a_result_off_the_schema_is_refused(set_a_dir: Path) -> None:
    result = compact_result(estimate(read_path(set_a_dir / "a01.hea")))
    result["summary"]["new_item"] = 1  # an undescribed field
    with pytest.raises(AssertionError, match="new_item"):
        check_result(result)
    result["summary"].pop("new_item")
    result["fhr"]["bpm"][0] = float(np.float64("1.5"))
    result["fhr"]["fs"] = 5  # the CTG convention is 4 Hz
    with pytest.raises(AssertionError, match="fhr/fs"):
        check_result(result)
