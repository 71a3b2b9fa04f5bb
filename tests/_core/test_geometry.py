"""From coordinates and edges to the scales: Rips edges, bridged persistence, the check of the chosen scales, the top threshold, the scale rules."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from pnmf import PnmfValueError
from pnmf._core import geometry
from pnmf._core.persistence import EdgeList, Persistence, graph_persistence


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


def _knn_edges(points: np.ndarray, k: int) -> EdgeList:
    """The symmetrized k-nearest-neighbour graph of ``points``, as ``sc.pp.neighbors`` leaves it (exact search)."""
    from sklearn.neighbors import NearestNeighbors

    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points, return_distance=False)[:, 1:]
    rows = np.repeat(np.arange(len(points)), k)
    return EdgeList.from_pairs(len(points), rows, neighbours.ravel(), points)


def test_a_merge_the_knn_graph_makes_late_is_moved_to_its_exact_height(rng):
    # two clusters 3 apart whose only kNN path runs through a stray cell 10 away from both
    a = rng.normal(scale=0.1, size=(20, 2))
    b = rng.normal(scale=0.1, size=(20, 2)) + np.array([3.0, 0.0])
    stray = np.array([[1.5, 10.0]])
    points = np.vstack([a, b, stray])
    edges, persistence, _ = geometry.filtration_persistence("knn", _knn_edges(points, 5), points)
    exact = geometry.rips_persistence(points)
    assert persistence.n_connected(5.0) == 3  # a, b and the stray cell
    assert exact.n_connected(5.0) == 2

    def choose(persistence, top):
        return np.array([5.0, top])

    checked, after, chosen, n_added = geometry.exact_merges(edges, persistence, points, choose)
    assert n_added >= 1
    assert len(checked) == len(edges) + n_added
    np.testing.assert_array_equal(chosen, choose(after, geometry.top_threshold(checked)))
    assert after.n_connected(5.0) == exact.n_connected(5.0)
    closest = np.min(np.linalg.norm(a[:, None] - b[None], axis=-1))
    assert closest in after.deaths
    # merges move down to their single-linkage heights, never below
    assert (np.sort(after.deaths) >= np.sort(exact.deaths) - 1e-12).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_scale_checked_has_the_components_of_the_complete_graph(seed):
    rng = np.random.default_rng(seed)
    # clusters of clusters in 10 dimensions and stray cells: the strays' 6-NN edges join subclusters
    # before their own closest cells do, so the kNN graph misses merges at some of the scales
    centres = rng.normal(scale=6.0, size=(4, 10))
    sub = np.repeat(centres, 3, axis=0) + rng.normal(scale=2.0, size=(12, 10))
    points = np.repeat(sub, 40, axis=0) + rng.normal(scale=0.5, size=(480, 10))
    points = np.vstack([points, rng.normal(scale=6.0, size=(20, 10))])
    edges, persistence, _ = geometry.filtration_persistence("knn", _knn_edges(points, 6), points)
    # every pair, lengths computed as the kNN edges' are: a threshold that is a death compares alike
    exact = graph_persistence(EdgeList.from_pairs(len(points), *np.triu_indices(len(points), k=1), points))

    def choose(persistence, top):
        return geometry.thresholds("auto", 8, persistence, top)

    before = choose(persistence, geometry.top_threshold(edges))
    assert (persistence.n_connected(before) != exact.n_connected(before)).any()
    checked, after, chosen, _ = geometry.exact_merges(edges, persistence, points, choose, max_components=100)
    inside = persistence.n_connected(before) <= 100
    assert inside.sum() >= 4
    np.testing.assert_array_equal(after.n_connected(before[inside]), exact.n_connected(before[inside]))
    np.testing.assert_array_equal(chosen, choose(after, geometry.top_threshold(checked)))
    assert (np.sort(after.deaths) >= np.sort(exact.deaths) - 1e-12).all()
