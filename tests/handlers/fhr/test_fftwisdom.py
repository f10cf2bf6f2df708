"""The shipped FFTW wisdom loads and covers every block transform the estimator plans."""

from __future__ import annotations

import numpy as np
import pytest

from handlers.fhr import fftplan, fftwisdom

pyfftw = pytest.importorskip("pyfftw")


def wisdom_only_plan(kind: str, shape: tuple[int, ...], dtype: str, n: int) -> None:
    """Plan the problem with FFTW_WISDOM_ONLY on the same arrays fftplan would use: raises without wisdom."""
    plan = fftplan.build(kind, shape, np.dtype(dtype), n, threads=1)
    direction = "FFTW_FORWARD" if kind == "rfft" else "FFTW_BACKWARD"
    pyfftw.FFTW(
        plan.input_array,
        plan.output_array,
        axes=(-1,),
        direction=direction,
        flags=("FFTW_MEASURE", "FFTW_WISDOM_ONLY"),
        threads=1,
    )


def test_shipped_wisdom_covers_every_block_problem() -> None:
    problems = fftwisdom.block_problems()
    assert {p[1][0] for p in problems} == set(fftwisdom.CHANNEL_COUNTS)
    pyfftw.forget_wisdom()
    with pytest.raises(RuntimeError):
        wisdom_only_plan(*problems[0])
    assert fftplan.load_wisdom()
    for problem in problems:
        wisdom_only_plan(*problem)


def test_wisdom_of_another_fftw_version_is_not_loaded(tmp_path) -> None:
    stale = tmp_path / "wisdom.json"
    stale.write_text(fftplan.WISDOM_PATH.read_text().replace(pyfftw.fftw_version, "0.0.0", 1))
    assert not fftplan.load_wisdom(stale)
    assert not fftplan.load_wisdom(tmp_path / "missing.json")
