import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from pnmf._core.cross_validation import (
    FALLBACK_WEIGHT,
    MAX_CELLS,
    GeneSplit,
    WeightSelection,
    cross_validate_graph_weight,
    cross_validate_scales,
    held_out_error,
    held_out_gene_errors,
    one_standard_error_scale,
    sample_neighbourhoods,
)
from pnmf._core.expression import Expression, normalize_cells
from pnmf._core.graphs import scale_graph
from pnmf._core.init import nndsvda
from pnmf._core.persistence import EdgeList
from pnmf._core.solver import Weights


def _populations(seed=0, n_cells=300, n_genes=120, n_types=3):
    """Poisson counts of three populations with their own marker genes."""
    rng = np.random.default_rng(seed)
    types = rng.integers(n_types, size=n_cells)
    profiles = rng.gamma(2.0, 1.0, size=(n_types, n_genes))
    for t in range(n_types):
        profiles[t, t * 20 : (t + 1) * 20] *= 6.0
    counts = rng.poisson(profiles[types] * 0.5)
    return sparse.csr_matrix(normalize_cells(np.log1p(counts))), types


def _start(X, n_comps):
    return nndsvda(Expression(X), n_comps, 0)


def _graph(pairs_rows, pairs_cols, n_cells):
    lo, hi = np.minimum(pairs_rows, pairs_cols), np.maximum(pairs_rows, pairs_cols)
    keep = lo != hi
    codes = np.unique(lo[keep] * n_cells + hi[keep])
    rows, cols = codes // n_cells, codes % n_cells
    return scale_graph(EdgeList(n_cells, rows, cols, np.ones(len(rows))), 2.0)


def _within_types(types, rng, per_cell=8):
    rows, cols = [], []
    for cell, kind in enumerate(types):
        mates = np.flatnonzero(types == kind)
        rows.append(np.full(per_cell, cell))
        cols.append(rng.choice(mates, size=per_cell))
    return np.concatenate(rows), np.concatenate(cols)


def _ring(n_cells):
    """The edges of a ring over the cells: a graph to sample neighbourhoods from."""
    return _graph(np.arange(n_cells), (np.arange(n_cells) + 1) % n_cells, n_cells).edges


def _split(X, n_comps, random_state=0, **kwargs):
    return GeneSplit.draw(X, _start(X, n_comps), _ring(X.shape[0]), random_state=random_state, **kwargs)


def _knn_edges(n_cells=3000, n_neighbors=10, seed=0):
    """The 10-NN graph of points around a few centres, as the filtration's edges."""
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n_cells, 2)) + rng.integers(5, size=(n_cells, 1)) * 6.0
    distances, neighbours = cKDTree(points).query(points, n_neighbors + 1)
    rows, cols = np.repeat(np.arange(n_cells), n_neighbors), neighbours[:, 1:].ravel()
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    codes, first = np.unique(lo * n_cells + hi, return_index=True)
    edges = EdgeList(n_cells, codes // n_cells, codes % n_cells, distances[:, 1:].ravel()[first])
    return edges, scale_graph(edges, float(edges.lengths.max()) + 1.0).edges


def _faithful_and_shuffled(types):
    """A graph within the populations, and one of the same size across them."""
    rng = np.random.default_rng(1)
    faithful = _graph(*_within_types(types, rng), len(types))
    shuffled = _graph(*_within_types(rng.permutation(types), rng), len(types))
    return faithful, shuffled


def test_a_graph_that_joins_populations_gets_less_weight_than_one_that_follows_them():
    X, types = _populations()
    faithful, shuffled = _faithful_and_shuffled(types)
    split = _split(X, 5)
    good = cross_validate_graph_weight(split, faithful)
    bad = cross_validate_graph_weight(split, shuffled)
    assert good.cross_validated
    assert bad.cross_validated
    assert good.weight > bad.weight
    # a graph across populations: smoothing along it hard blurs the populations
    assert bad.errors[-1] > 1.5 * bad.errors.min()
    assert good.errors[-1] < bad.errors[-1]
    assert good.weight == good.candidates[np.argmin(good.errors)]


def test_same_seed_same_split_choice_and_errors():
    X, types = _populations(seed=2)
    graph = _graph(*_within_types(types, np.random.default_rng(0)), len(types))
    first, second, other = _split(X, 4, 3), _split(X, 4, 3), _split(X, 4, 4)
    np.testing.assert_array_equal(first.fitted, second.fitted)
    assert not np.array_equal(first.fitted, other.fitted)
    assert sorted(np.concatenate([first.fitted, first.held_out]).tolist()) == list(range(X.shape[1]))
    one, two = cross_validate_graph_weight(first, graph), cross_validate_graph_weight(second, graph)
    np.testing.assert_array_equal(one.errors, two.errors)
    assert one.weight == two.weight


def test_too_few_genes_leave_nothing_to_split():
    X, _ = _populations(n_genes=15)
    assert _split(X, 4) is None
    fallback = WeightSelection.fallback()
    assert fallback.weight == FALLBACK_WEIGHT
    assert not fallback.cross_validated


def test_many_cells_are_sampled_in_neighbourhoods():
    X, _ = _populations(n_cells=400)
    split = _split(X, 4, max_cells=150)
    assert len(split.cells) == 150
    assert np.all(np.diff(split.cells) > 0)
    assert split.train.shape == (150, len(split.fitted))
    assert split.start[0].shape == (150, 4)
    assert _split(X, 4).cells is None  # 400 cells: all of them
    assert MAX_CELLS == 20_000


def _kept_edges(edges, cells):
    """Fraction of the sampled cells' edges whose other end is sampled too."""
    inside = np.zeros(edges.n_nodes, dtype=bool)
    inside[cells] = True
    touching = inside[edges.rows] | inside[edges.cols]
    return (inside[edges.rows] & inside[edges.cols]).sum() / touching.sum()


def test_neighbourhoods_keep_far_more_of_the_graph_than_a_uniform_sample():
    edges, nested = _knn_edges()
    rng = np.random.default_rng(0)
    cells = sample_neighbourhoods(nested, 300, rng)
    assert len(cells) == 300
    assert np.all(np.diff(cells) > 0)
    uniform = np.sort(rng.choice(edges.n_nodes, size=300, replace=False))
    assert _kept_edges(edges, uniform) < 0.15
    assert _kept_edges(edges, cells) > 3 * _kept_edges(edges, uniform)


def test_one_neighbourhood_is_connected_and_grows_along_short_edges_first():
    edges, nested = _knn_edges()
    cells = sample_neighbourhoods(nested, 200, np.random.default_rng(1), n_neighbourhoods=1)
    induced = edges.induced(cells)
    adjacency = sparse.coo_matrix((np.ones(len(induced)), (induced.rows, induced.cols)), shape=(200, 200))
    assert connected_components(adjacency, directed=False)[0] == 1
    # grown from one cell by its shortest edges: tighter than 200 cells along random edges
    assert np.median(induced.lengths) < np.median(edges.lengths)


def test_neighbourhoods_of_a_graph_without_edges_are_single_cells():
    empty = scale_graph(EdgeList(100, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)), 1.0).edges
    cells = sample_neighbourhoods(empty, 30, np.random.default_rng(0))
    assert len(cells) == 30
    assert len(np.unique(cells)) == 30
    np.testing.assert_array_equal(sample_neighbourhoods(empty, 100, np.random.default_rng(0)), np.arange(100))


def test_the_recommended_scale_avoids_a_scale_whose_graph_joins_populations():
    X, types = _populations()
    faithful, shuffled = _faithful_and_shuffled(types)
    split = _split(X, 5)
    weights = Weights(graph=30.0, coupling=0.1)
    fine_is_wrong = cross_validate_scales(split, [shuffled, faithful], weights)
    coarse_is_wrong = cross_validate_scales(split, [faithful, shuffled], weights)
    assert fine_is_wrong.recommended == 1
    assert coarse_is_wrong.recommended == 0
    assert fine_is_wrong.errors[0] > fine_is_wrong.errors[1] + fine_is_wrong.standard_errors[0]


def test_the_recommended_scale_follows_the_one_standard_error_rule_on_the_fitted_errors():
    X, types = _populations(seed=3)
    rng = np.random.default_rng(2)
    graphs = [_graph(*_within_types(types, rng, per_cell=n), len(types)) for n in (1, 3, 8)]
    selection = cross_validate_scales(_split(X, 5), graphs, Weights(graph=10.0))
    best = np.argmin(selection.errors)
    assert selection.standard_errors[best] == 0.0
    assert (selection.standard_errors >= 0).all()
    assert selection.recommended >= best
    assert selection.recommended == one_standard_error_scale(selection.errors, selection.standard_errors)


@pytest.mark.parametrize(
    ("errors", "standard_errors", "expected"),
    [
        # coarser scales within one standard error of the best: the coarsest of them
        ([0.30, 0.20, 0.21, 0.22, 0.40], [0.05, 0.0, 0.02, 0.03, 0.05], 3),
        # finer scales within are not taken: the data prefer no less smoothing than the best's
        ([0.205, 0.20, 0.30], [0.01, 0.0, 0.01], 1),
        # a scale outside stops the walk, though a coarser one is within again
        ([0.20, 0.21, 0.25, 0.21], [0.0, 0.02, 0.02, 0.02], 1),
        # the best is the coarsest
        ([0.30, 0.25, 0.20], [0.01, 0.01, 0.0], 2),
        # no standard errors (one held-out gene): the best alone, or a coarser scale tied with it
        ([0.30, 0.20, 0.21], [0.0, 0.0, 0.0], 1),
        ([0.30, 0.20, 0.20], [0.0, 0.0, 0.0], 2),
    ],
)
def test_the_one_standard_error_rule_takes_the_most_smoothed_scale_the_data_cannot_reject(
    errors, standard_errors, expected
):
    assert one_standard_error_scale(np.array(errors), np.array(standard_errors)) == expected


def test_gene_errors_add_up_to_the_held_out_error():
    X, _ = _populations()
    split = _split(X, 4)
    U = np.random.default_rng(0).random((X.shape[0], 4))
    errors = held_out_gene_errors(split, U)
    assert errors.shape == (len(split.held_out),)
    assert (errors >= 0).all()
    np.testing.assert_allclose(split.test_squares, np.asarray(X[:, split.held_out].power(2).sum(axis=0)).ravel())
    assert errors.sum() / split.test.sq_norm == pytest.approx(held_out_error(split, U))


def test_held_out_error_is_zero_for_an_exact_nonnegative_factorization_and_one_for_nothing():
    rng = np.random.default_rng(0)
    U, W = rng.random((50, 3)), rng.random((40, 3))
    split = _split(U @ W.T, 3)
    assert held_out_error(split, U) == pytest.approx(0.0, abs=1e-6)
    assert held_out_error(split, np.zeros((50, 3))) == pytest.approx(1.0)
