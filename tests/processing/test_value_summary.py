"""The one-pass volume summary equals numpy's three reductions."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.processing.value_summary import value_summary


@pytest.mark.parametrize("shape", [(1, 7, 5), (37, 64, 48), (3, 1024, 1024), (11,)])
@pytest.mark.parametrize("workers", [1, 2, 4])
def test_integer_summary_is_exact(shape, workers) -> None:
    array = np.random.default_rng(3).integers(-32768, 32767, size=shape, dtype=np.int16)
    summary = value_summary(array, workers=workers)
    assert summary.minimum == array.min() and summary.maximum == array.max()
    assert summary.mean == float(array.mean(dtype=np.float64))


def test_float_summary_matches_to_rounding() -> None:
    array = np.random.default_rng(4).normal(40.0, 300.0, size=(50, 90, 70)).astype(np.float32)
    array[17, 3, 4] = -5000.5
    summary = value_summary(array, workers=2)
    assert summary.minimum == -5000.5 and summary.maximum == float(array.max())
    assert summary.mean == pytest.approx(float(array.mean(dtype=np.float64)), rel=1e-12)


def test_an_empty_array_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        value_summary(np.empty((0, 4, 4), dtype=np.int16))
