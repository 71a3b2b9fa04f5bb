"""The batch-balanced neighbour graph and the balanced averaging that integrates batches."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from pnmf._core.batches import BalancedAverage, Batches, balanced_neighbors, neighbors_per_batch
from pnmf._core.persistence import EdgeList


def _batches(codes):
    codes = np.asarray(codes, dtype=np.int64)
    return Batches("batch", np.array([f"b{c}" for c in range(codes.max() + 1)]), codes)


def _neighbour_sets(edges):
    sets = [set() for _ in range(edges.n_nodes)]
    for i, j in zip(edges.rows, edges.cols, strict=True):
        sets[i].add(int(j))
        sets[j].add(int(i))
    return sets


@pytest.mark.parametrize(("n_neighbors", "n_batches", "expected"), [(15, 1, 15), (15, 2, 8), (15, 5, 3), (15, 10, 3)])
def test_neighbors_per_batch_shares_the_neighbours_and_keeps_three(n_neighbors, n_batches, expected):
    assert neighbors_per_batch(n_neighbors, n_batches) == expected


def test_every_cell_is_joined_to_its_exact_nearest_cells_in_every_batch(rng):
    points = rng.normal(size=(120, 4))
    points[60:] += 3.0  # batch 1 sits apart: a plain kNN graph would join few cells across
    batches = _batches(np.repeat([0, 1], 60))
    k = 4
    edges = balanced_neighbors(points, batches, k, random_state=0).edges(points)
    neighbours = _neighbour_sets(edges)
    distances = cdist(points, points)
    for i in range(len(points)):
        for b in (0, 1):
            members = np.flatnonzero(batches.codes == b)
            nearest = members[np.argsort(distances[i, members])[:k]]
            assert set(nearest.tolist()) - {i} <= neighbours[i]
    # lengths are the distances in the representation
    assert np.allclose(edges.lengths, distances[edges.rows, edges.cols])


def test_a_population_one_batch_lacks_is_matched_to_no_other_batch(rng):
    shared = rng.normal(size=(120, 3))
    specific = rng.normal(size=(30, 3)) + np.array([12.0, 0.0, 0.0])  # in batch 0 only
    points = np.vstack([shared[:60], specific, shared[60:] + 0.3])
    codes = np.repeat([0, 1], [90, 60])
    neighbours = balanced_neighbors(points, _batches(codes), 4, random_state=0)
    matched = neighbours.matched()
    assert matched[np.arange(150), codes].all()  # a cell's own batch always
    assert not matched[60:90, 1].any()  # the specific population has no counterpart in batch 1
    assert matched[:60, 1].mean() > 0.9
    assert matched[90:, 0].mean() > 0.9
    # its cells average within their batch only; the shared cells reach across
    edges = neighbours.matched_edges(points, matched)
    cross = codes[edges.rows] != codes[edges.cols]
    touches_specific = np.isin(edges.rows, np.arange(60, 90)) | np.isin(edges.cols, np.arange(60, 90))
    assert not (cross & touches_specific).any()
    assert (cross & ~touches_specific).sum() > 60
    # per batch: a third of batch 0's cells are matched to nothing in batch 1, while batch 1's cells all are
    matching = neighbours.matching(matched)
    assert matching[0, 1] == pytest.approx(matched[:90, 1].mean())
    assert matching[0, 1] < 0.7
    assert matching[1, 0] > 0.9
    assert np.allclose(np.diag(matching), 1.0)


def test_balanced_average_weighs_every_batch_a_cell_touches_the_same():
    # cell 0 (batch 0) touches cells 1, 2, 3 of batch 1 and cell 4 of batch 0
    edges = EdgeList(6, np.array([0, 0, 0, 0]), np.array([1, 2, 3, 4]), np.ones(4))
    batches = _batches([0, 1, 1, 1, 0, 1])
    average = BalancedAverage.from_edges(edges, batches)
    matrix = average.matrix.toarray()
    assert np.allclose(matrix.sum(axis=1), 1.0)
    # batch 0: cell 0 itself and cell 4 share 1/2; batch 1: cells 1–3 share the other 1/2
    assert np.allclose(matrix[0], [1 / 4, 1 / 6, 1 / 6, 1 / 6, 1 / 4, 0])
    # an isolated cell keeps its own row
    assert matrix[5, 5] == 1.0
    assert matrix[5].sum() == 1.0
    values = np.array([[0.0], [1.0], [1.0], [1.0], [0.0], [7.0]])
    assert average.apply(values, 1)[0, 0] == pytest.approx(0.5)


def test_balanced_averaging_removes_a_batch_offset_and_keeps_nonnegativity(rng):
    points = rng.normal(size=(200, 3))
    codes = rng.integers(2, size=200)
    batches = _batches(codes)
    neighbours = balanced_neighbors(points, batches, 5, random_state=0)
    edges = neighbours.matched_edges(points, neighbours.matched())
    embedding = np.abs(points[:, :2]) + 2.0 * codes[:, None]  # the same cells, shifted in batch 1
    averaged = BalancedAverage.from_edges(edges, batches).apply(embedding, 4)

    def gap(u):
        return abs(u[codes == 1].mean() - u[codes == 0].mean())

    assert gap(averaged) < 0.1 * gap(embedding)
    assert (averaged >= 0).all()
    assert averaged.dtype == embedding.dtype
