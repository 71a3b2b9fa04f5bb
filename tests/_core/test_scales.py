import numpy as np
import pytest

from pnmf._core.persistence import Persistence
from pnmf._core.scales import canonical_thresholds, recommend_scale, select_scales


def chain_persistence(n):
    """n cells whose deaths are 1, 2, ..., n-1 (a path graph with growing edges)."""
    return Persistence(n, np.arange(1.0, n), 1)


def test_canonical_thresholds_are_distinct_positive_deaths_plus_top():
    persistence = Persistence(6, np.array([0.0, 0.5, 0.5, 1.0, 2.0]), 1)
    np.testing.assert_array_equal(canonical_thresholds(persistence, 3.0), [0.5, 1.0, 2.0, 3.0])
    # strict inequality: at a death value that death's merge has not happened yet
    np.testing.assert_array_equal(persistence.n_connected([0.5, 1.0, 2.0, 3.0]), [5, 3, 2, 1])


def test_selected_component_counts_are_log_spaced_from_half_to_one():
    n = 1024
    persistence = chain_persistence(n)
    # ten scales from n/2 = 2⁹ down to 1: the targets are exactly the powers of two, all of them canonical counts
    thresholds = select_scales(persistence, top=float(n), n_scales=10)
    counts = persistence.n_connected(thresholds)
    np.testing.assert_array_equal(counts, [512, 256, 128, 64, 32, 16, 8, 4, 2, 1])
    assert counts[0] == n // 2
    assert counts[-1] == 1
    ratios = counts[:-1] / counts[1:]
    assert np.all(ratios > 1)
    assert np.all(np.diff(thresholds) > 0)


def test_fewer_scales_when_the_barcode_has_few_deaths():
    persistence = Persistence(100, np.r_[np.zeros(96), [1.0, 2.0, 3.0]], 1)
    thresholds = select_scales(persistence, top=4.0, n_scales=8)
    assert len(thresholds) == 4
    np.testing.assert_array_equal(thresholds, [1.0, 2.0, 3.0, 4.0])


def test_single_scale_is_the_coarsest():
    persistence = chain_persistence(50)
    np.testing.assert_array_equal(select_scales(persistence, top=60.0, n_scales=1), [60.0])


@pytest.mark.parametrize(
    ("counts", "n_cells", "expected"),
    [([350, 152, 66, 28, 1], 700, 1), ([500, 100, 10], 3000, 0), ([12, 6, 2, 1], 12, 2)],
)
def test_recommended_scale_has_about_n_over_six_components(counts, n_cells, expected):
    assert recommend_scale(np.array(counts), n_cells) == expected
