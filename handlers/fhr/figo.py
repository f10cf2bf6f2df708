"""FIGO 2015 classification of a CTG (normal / suspicious / pathological) from what this service measures.

Source: Ayres-de-Campos D, Spong CY, Chandraharan E; FIGO Intrapartum Fetal Monitoring Expert
Consensus Panel. FIGO consensus guidelines on intrapartum fetal monitoring: cardiotocography. Int J
Gynaecol Obstet 2015;131:13-24, Table 2:

- **normal**: baseline 110-160 bpm, variability 5-25 bpm, no repetitive decelerations;
- **suspicious**: lacking at least one characteristic of normality, but with no pathological features;
- **pathological**: baseline < 100 bpm; reduced variability (< 5 bpm for > 50 min in baseline
  segments), increased variability (> 25 bpm for > 30 min) or a sinusoidal pattern; repetitive late
  or prolonged decelerations for > 30 min (20 min with reduced variability), or one prolonged
  deceleration of > 5 min.

What cannot be decided here: decelerations are *repetitive* when they accompany more than half of
the contractions, and *late* or *early* by their timing against a contraction. This service does
not measure uterine activity, so it cannot type a deceleration: a record with decelerations (none
longer than 5 min) gets no class, because those decelerations may or may not be repetitive (normal,
suspicious or pathological alike). A record without any deceleration has none repetitive, whatever
the contractions. Everything else is decided from the features' own durations: a record shorter
than 50 min cannot show FIGO's reduced variability, one shorter than 30 min no increased
variability or sinusoidal pattern, so low or high variability there makes a record suspicious
(not normal), never pathological.
"""

from __future__ import annotations

from dataclasses import dataclass

BASELINE_NORMAL_BPM = (110.0, 160.0)
BASELINE_PATHOLOGICAL_BELOW_BPM = 100.0
VARIABILITY_NORMAL_BPM = (5.0, 25.0)
REDUCED_VARIABILITY_S = 50 * 60.0  # < 5 bpm for more than this (baseline segments): pathological
INCREASED_VARIABILITY_S = 30 * 60.0  # > 25 bpm for more than this: pathological
PROLONGED_DECELERATION_S = 5 * 60.0  # one deceleration longer than this: pathological

NORMAL = "normal"
SUSPICIOUS = "suspicious"
PATHOLOGICAL = "pathological"


@dataclass(frozen=True)
class Features:
    """What the classification reads; None = not assessed (with the summary's reason)."""

    baseline_bpm: float | None
    variability_bpm: float | None  # median minute amplitude of the event-free trace
    reduced_variability_s: float  # time (minutes x 60) with minute amplitude < 5 bpm, event-free
    increased_variability_s: float  # time with minute amplitude > 25 bpm
    deceleration_durations_s: tuple[float, ...] | None
    sinusoidal: bool | None  # None: the record is too short for FIGO's > 30 min, so it has none


def classify(features: Features) -> dict:
    """``{"class": normal|suspicious|pathological|None, "reasons": [...], "undecided": str|None}``.

    ``reasons`` lists every finding the class rests on, in words; ``undecided`` (when ``class`` is
    None) says why no class could be given.
    """
    f = features
    if f.baseline_bpm is None or f.variability_bpm is None or f.deceleration_durations_s is None:
        return {
            "class": None,
            "reasons": [],
            "undecided": "baseline, variability and decelerations are not all assessed",
        }
    pathological = _pathological_findings(f)
    findings = _normality_findings(f)  # (text, normal?)
    reasons = pathological + [text for text, _ in findings]
    if pathological:
        return {"class": PATHOLOGICAL, "reasons": reasons, "undecided": None}
    if f.deceleration_durations_s:
        return {
            "class": None,
            "reasons": reasons + [f"{len(f.deceleration_durations_s)} deceleration(s), none longer than 5 min"],
            "undecided": "whether the decelerations are repetitive or late needs uterine activity (contractions), "
            "which this service does not measure",
        }
    normal = all(ok for _, ok in findings)
    return {"class": NORMAL if normal else SUSPICIOUS, "reasons": reasons + ["no decelerations"], "undecided": None}


def _pathological_findings(f: Features) -> list[str]:
    found = []
    if f.baseline_bpm is not None and f.baseline_bpm < BASELINE_PATHOLOGICAL_BELOW_BPM:
        found.append(f"baseline {f.baseline_bpm:g} bpm (< {BASELINE_PATHOLOGICAL_BELOW_BPM:g}: pathological)")
    low, high = VARIABILITY_NORMAL_BPM
    if f.reduced_variability_s > REDUCED_VARIABILITY_S:
        found.append(
            f"variability < {low:g} bpm for {f.reduced_variability_s / 60:.0f} min "
            f"(reduced: over {REDUCED_VARIABILITY_S / 60:.0f} min is pathological)"
        )
    if f.increased_variability_s > INCREASED_VARIABILITY_S:
        found.append(
            f"variability > {high:g} bpm for {f.increased_variability_s / 60:.0f} min "
            f"(increased: over {INCREASED_VARIABILITY_S / 60:.0f} min is pathological)"
        )
    if f.sinusoidal:
        found.append("sinusoidal pattern for more than 30 min (pathological)")
    longest = max(f.deceleration_durations_s or (0.0,))
    if longest > PROLONGED_DECELERATION_S:
        found.append(
            f"a prolonged deceleration of {longest / 60:.1f} min "
            f"(over {PROLONGED_DECELERATION_S / 60:.0f} min is pathological)"
        )
    return found


def _normality_findings(f: Features) -> list[tuple[str, bool]]:
    """The baseline and variability, each with whether it is what a normal CTG has."""
    findings = []
    low, high = BASELINE_NORMAL_BPM
    if f.baseline_bpm is not None and f.baseline_bpm >= BASELINE_PATHOLOGICAL_BELOW_BPM:
        normal = low <= f.baseline_bpm <= high
        findings.append(
            (f"baseline {f.baseline_bpm:g} bpm ({'normal' if normal else f'outside {low:g}-{high:g}'})", normal)
        )
    low, high = VARIABILITY_NORMAL_BPM
    if f.variability_bpm is not None:
        normal = low <= f.variability_bpm <= high
        findings.append(
            (f"variability {f.variability_bpm:g} bpm ({'normal' if normal else f'outside {low:g}-{high:g}'})", normal)
        )
    return findings
