"""Fetal heart rate science: readers, the FFTW spectral estimator, scoring. No AWS code in here.

``estimate(record, options)`` is the entry point; its result shape is documented in
:mod:`handlers.fhr.result`. Heavy modules (numpy, pyfftw) load on first use, so importing this
package stays cheap for handlers that only route requests.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handlers.fhr.record import Record

__all__ = ["estimate"]


def estimate(
    record: Record, options: dict | None = None, *, timings_ms: dict[str, float] | None = None
) -> dict[str, Any]:
    """Estimate FHR and MHR at 4 Hz with quality, the beats and their variability, and the summary, as
    the documented JSON dict.

    ``timings_ms`` lets a caller add what it measured before (e.g. ``{"parse": 12.0}``). Bad
    options raise :class:`handlers.fhr.errors.InvalidOptions`.
    """
    from handlers.fhr import estimator, result

    started = time.perf_counter()
    analysis = estimator.analyse(record, options)
    timings = dict(timings_ms or {})
    timings.update(analysis.timings_ms)
    assembled = time.perf_counter()
    built = result.build(record, analysis, timings)
    finished = time.perf_counter()
    # the same dict the result holds: summary, variability and JSON shaping took "assemble"
    timings["assemble"] = round((finished - assembled) * 1000.0, 3)
    timings["estimate"] = round((finished - started) * 1000.0, 3)
    return built
