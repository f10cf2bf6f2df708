"""Physical units: every reader hands the estimator microvolts, whatever the file said."""

from __future__ import annotations

# Scale from a unit to microvolts. Keys are lower-cased; "µv"/"μv" are the two Unicode micro signs.
_TO_MICROVOLTS: dict[str, float] = {
    "nv": 1e-3,
    "uv": 1.0,
    "µv": 1.0,
    "μv": 1.0,
    "mv": 1e3,
    "v": 1e6,
}


def microvolt_scale(unit: str) -> float | None:
    """Factor turning ``unit`` into microvolts, or None when the unit is not a voltage.

    None lets a reader drop non-ECG channels (a thermometer, a respiration belt in "NU") rather than
    feed them to the estimator as if they were ECG.
    """
    return _TO_MICROVOLTS.get(unit.strip().strip("'\"").lower())
