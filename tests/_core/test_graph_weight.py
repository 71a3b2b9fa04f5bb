import numpy as np
import pytest
from scipy import sparse

from pnmf._core.expression import Expression, normalize_cells
from pnmf._core.graph_weight import FALLBACK_WEIGHT, MAX_CELLS, cross_validate_graph_weight, held_out_error
from pnmf._core.graphs import scale_graph
from pnmf._core.init import nndsvda
from pnmf._core.persistence import EdgeList


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


def test_a_graph_that_joins_populations_gets_less_weight_than_one_that_follows_them():
    X, types = _populations()
    rng = np.random.default_rng(1)
    faithful = _graph(*_within_types(types, rng), len(types))
    shuffled = _graph(*_within_types(rng.permutation(types), rng), len(types))
    good = cross_validate_graph_weight(X, faithful, _start(X, 5), random_state=0)
    bad = cross_validate_graph_weight(X, shuffled, _start(X, 5), random_state=0)
    assert good.cross_validated
    assert bad.cross_validated
    assert good.weight > bad.weight
    # a graph across populations: smoothing along it hard blurs the populations
    assert bad.errors[-1] > 1.5 * bad.errors.min()
    assert good.errors[-1] < bad.errors[-1]
    assert good.weight == good.candidates[np.argmin(good.errors)]


def test_same_seed_same_choice_and_errors():
    X, types = _populations(seed=2)
    graph = _graph(*_within_types(types, np.random.default_rng(0)), len(types))
    first = cross_validate_graph_weight(X, graph, _start(X, 4), random_state=3)
    second = cross_validate_graph_weight(X, graph, _start(X, 4), random_state=3)
    np.testing.assert_array_equal(first.errors, second.errors)
    assert first.weight == second.weight


def test_too_few_genes_fall_back_to_the_fixed_weight():
    X, types = _populations(n_genes=15)
    graph = _graph(*_within_types(types, np.random.default_rng(0)), len(types))
    selection = cross_validate_graph_weight(X, graph, _start(X, 4))
    assert selection.weight == FALLBACK_WEIGHT
    assert not selection.cross_validated


def test_many_cells_are_subsampled_through_the_restriction(monkeypatch):
    X, types = _populations(n_cells=400)
    rows, cols = _within_types(types, np.random.default_rng(0))
    edges = EdgeList(len(types), np.minimum(rows, cols), np.maximum(rows, cols), np.ones(len(rows)))
    seen = []

    def restrict(cells):
        seen.append(cells)
        return scale_graph(edges.induced(cells), 2.0)

    monkeypatch.setattr("pnmf._core.graph_weight.MAX_CELLS", 150)
    selection = cross_validate_graph_weight(X, scale_graph(edges, 2.0), _start(X, 4), restrict=restrict)
    assert selection.cross_validated
    assert [len(cells) for cells in seen] == [150]
    assert np.all(np.diff(seen[0]) > 0)
    assert MAX_CELLS == 20_000


def test_held_out_error_is_zero_for_an_exact_nonnegative_factorization_and_one_for_nothing():
    rng = np.random.default_rng(0)
    U, W = rng.random((50, 3)), rng.random((40, 3))
    assert held_out_error(Expression(U @ W.T), U) == pytest.approx(0.0, abs=1e-6)
    assert held_out_error(Expression(U @ W.T), np.zeros((50, 3))) == pytest.approx(1.0)
