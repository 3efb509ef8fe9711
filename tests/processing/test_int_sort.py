"""The packed-key argsort and distinct values agree with numpy's stable ones exactly."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.processing.int_sort import (
    distinct_with_inverse,
    key_groups,
    occurrences,
    stable_argsort,
)


@pytest.mark.parametrize(
    ("low", "high", "dtype"),
    [
        (0, 5 * 10**10, np.int64),  # mesh edge keys: packed path
        (-(10**9), 10**9, np.int64),  # negative keys: shifted, still packed
        (0, 2**62, np.int64),  # too wide to pack: numpy's stable argsort
        (0, 60_000, np.int32),
        (0, 2**40, np.uint64),
    ],
)
def test_stable_argsort_is_numpys_stable_argsort(low, high, dtype) -> None:
    rng = np.random.default_rng(11)
    keys = rng.integers(low, high, size=200_003, dtype=np.int64).astype(dtype)
    keys[::5] = keys[7]  # many ties: their order must be the index order
    order = stable_argsort(keys)
    assert order.dtype == np.int64
    assert np.array_equal(order, np.argsort(keys, kind="stable"))


@pytest.mark.parametrize("size", [0, 1, 2, 1000])
def test_small_inputs(size) -> None:
    keys = np.arange(size, dtype=np.int64)[::-1].copy()
    assert np.array_equal(stable_argsort(keys), np.argsort(keys, kind="stable"))
    values, inverse = distinct_with_inverse(keys)
    assert np.array_equal(values[inverse], keys)


def test_distinct_with_inverse_is_numpys_unique() -> None:
    keys = np.random.default_rng(12).integers(0, 3000, size=50_000, dtype=np.int64)
    values, inverse = distinct_with_inverse(keys)
    expected, expected_inverse = np.unique(keys, return_inverse=True)
    assert np.array_equal(values, expected)
    assert np.array_equal(inverse, expected_inverse.ravel())


def test_groups_and_occurrences_match_numpy() -> None:
    keys = np.random.default_rng(13).integers(0, 500, size=20_000, dtype=np.int64)
    first, inverse, counts = key_groups(keys)
    expected, expected_first, expected_inverse, expected_counts = np.unique(
        keys, return_index=True, return_inverse=True, return_counts=True
    )
    assert np.array_equal(keys[first], expected) and np.array_equal(first, expected_first)
    assert np.array_equal(inverse, expected_inverse.ravel())
    assert np.array_equal(counts, expected_counts)
    assert np.array_equal(occurrences(keys), expected_counts[expected_inverse.ravel()])
    assert all(len(part) == 0 for part in key_groups(keys[:0]))
