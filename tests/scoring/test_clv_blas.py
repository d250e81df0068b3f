"""Fits run with one BLAS thread in their own thread and put the setting back afterwards."""

import pytest

from crm_scoring.clv import _blas


def test_single_thread_sets_and_restores_this_threads_blas_threads() -> None:
    setters = _blas._setters()
    if not setters:
        pytest.skip("no OpenBLAS with a per-thread setting is loaded")
    original = [setter(3) for setter in setters]  # each returns the value it replaces
    try:
        with _blas.single_thread():
            assert [setter(1) for setter in setters] == [1] * len(setters)
        assert [setter(3) for setter in setters] == [3] * len(setters)
    finally:
        for setter, value in zip(setters, original, strict=True):
            setter(value)
