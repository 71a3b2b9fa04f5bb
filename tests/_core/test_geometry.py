"""From coordinates and edges to the scales: Rips edges, bridged persistence, the top threshold, the scale rules."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from pnmf import PnmfValueError
from pnmf._core import geometry
from pnmf._core.persistence import EdgeList, Persistence


def test_rips_edges_are_every_pair_with_its_distance(rng):
    points = rng.random((12, 3))
    edges = geometry.rips_edges(points)
    assert len(edges) == 12 * 11 // 2
    assert (edges.rows < edges.cols).all()
    np.testing.assert_allclose(edges.lengths, pdist(points))


def test_rips_is_refused_above_its_limit():
    with pytest.raises(PnmfValueError, match="limited to 3000 cells; use filtration='knn'"):
        geometry.rips_edges(np.zeros((geometry.MAX_RIPS_CELLS + 1, 1)))


def test_two_blobs_are_bridged_at_their_closest_pair(rng):
    points = np.vstack([rng.normal(size=(10, 2)), rng.normal(size=(10, 2)) + 50.0])
    within = [(i, i + 1) for i in range(9)] + [(i, i + 1) for i in range(10, 19)]
    rows, cols = np.array(within).T
    edges = EdgeList.from_pairs(20, rows, cols, points)
    bridged, persistence, n_bridges = geometry.filtration_persistence("knn", edges, points)
    assert n_bridges == 1
    assert len(bridged) == len(edges) + 1
    closest = np.min(np.linalg.norm(points[:10, None] - points[None, 10:], axis=-1))
    assert persistence.deaths.max() == pytest.approx(closest)
    assert persistence.n_essential == 1


def test_top_threshold_lies_just_above_the_longest_edge():
    edges = EdgeList(3, np.array([0, 1]), np.array([1, 2]), np.array([1.0, 2.0]))
    top = geometry.top_threshold(edges)
    assert 2.0 < top < 2.0 + 1e-6
    assert geometry.top_threshold(EdgeList(3, np.array([], int), np.array([], int), np.array([]))) == 1.0


def test_thresholds_by_rule_or_given():
    persistence = Persistence(6, np.array([0.5, 1.0, 2.0, 3.0, 4.0]), 1)
    np.testing.assert_array_equal(geometry.thresholds("all", None, persistence, 5.0), [0.5, 1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(geometry.thresholds((3.0, 1.0), None, persistence, 5.0), [1.0, 3.0])
    auto = geometry.thresholds("auto", 2, persistence, 5.0)
    assert len(auto) == 2
    assert auto[-1] == 5.0  # the coarsest scale joins every cell
