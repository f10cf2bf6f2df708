"""Everything an estimate imports and loads, done ahead of the first request.

With SnapStart the function's handlers register :func:`preload` as a before-snapshot hook: numpy,
pyfftw, the estimator's modules, the readers and the shipped FFTW wisdom are then in the snapshot, so a
restored environment's first request does not pay for them. Without SnapStart nothing calls it (an
ordinary cold start keeps importing them on the first request that needs them, so ``init`` stays short).
It creates no thread: a snapshot, and the local cloud's fork-based emulation of one, must not hold any.
"""

from __future__ import annotations

import importlib

MODULES = (
    "numpy",
    "pyfftw",
    "handlers.fhr.estimator",
    "handlers.fhr.result",
    "handlers.fhr.readers.detect",
    "handlers.fhr.readers.text",
    "handlers.fhr.readers.wfdb",
    "handlers.fhr.readers.edf",
    "handlers.fhr.readers.validate",
    "handlers.storage.s3stream",
)


def preload() -> None:
    """Import the estimate's modules and load the FFTW wisdom (once; later calls cost nothing)."""
    for name in MODULES:
        importlib.import_module(name)
    from handlers.fhr import fftplan

    fftplan.load_wisdom_once()
