import numpy as np
import pytest

from pnmf._core import kernels, multigrid
from pnmf._core.graphs import scale_graph
from pnmf._core.multigrid import CoarseLevels
from pnmf._core.persistence import EdgeList


def chain_graph(n):
    """A path of n cells: the slowest case for coordinate descent, a smooth residual crosses one edge per pass."""
    rows = np.arange(n - 1, dtype=np.int64)
    return scale_graph(EdgeList(n, rows, rows + 1, np.full(n - 1, 0.5)), 1.0)


def random_graph(n, seed, n_isolated=0):
    """A random geometric graph on n cells, then ``n_isolated`` cells without neighbours (a fine scale leaves about half of them so)."""
    rng = np.random.default_rng(seed)
    points = np.vstack([rng.random((n, 2)), np.zeros((n_isolated, 2))])
    return scale_graph(
        EdgeList.from_pairs(n + n_isolated, rng.integers(0, n, 3 * n), rng.integers(0, n, 3 * n), points), 0.4
    )


def problem(graph, k, graph_weight, seed):
    """The embedding update's quadratic on ``graph``, its minimizer far from the start in a smooth direction."""
    rng = np.random.default_rng(seed)
    n = len(graph.degree)
    gram = np.eye(k) + 0.3 * rng.random((k, k))
    gram = gram @ gram.T
    diagonal = rng.uniform(0.0, 0.5, n)
    ramp = np.linspace(0.0, 3.0, n)[:, None]
    linear = (ramp + rng.random((n, k))) @ gram
    smoothing = (graph.edge_weights(), graph.degree, graph_weight)
    return dict(linear=linear, gram=gram, diagonal=diagonal, smoothing=smoothing, U=rng.random((n, k)))


def objective(graph, p, U):
    _, degree, factor = p["smoothing"]
    A = graph.adjacency.toarray()
    return (
        np.einsum("ij,jk,ik->", U, p["gram"], U)
        - 2 * np.sum(U * p["linear"])
        + np.sum((p["diagonal"] + factor * degree)[:, None] * U * U)
        - factor * np.sum(U * (A @ U))
    )


def coarse_levels(graph, p):
    return CoarseLevels(graph.starts, graph.stops, graph.edges.indices, *p["smoothing"], p["diagonal"])


def embedding_pass(graph, p, U):
    weights, degree, factor = p["smoothing"]
    indices = graph.edges.indices
    args = (graph.starts, graph.stops, indices, weights, degree, factor, p["diagonal"], graph.order, graph.color_starts)
    return kernels.embedding_pass(U, p["linear"], p["gram"], *args)


def test_aggregates_hold_every_cell_with_a_neighbour_and_no_cell_without_one():
    graph = random_graph(300, 0, n_isolated=40)
    n = len(graph.starts)
    group = np.empty(n, dtype=np.int64)
    n_groups = multigrid._aggregate(graph.starts, graph.stops, graph.edges.indices, group)
    A = graph.adjacency.tocsr()
    has_neighbours = np.diff(A.indptr) > 0
    assert (~has_neighbours).sum() >= 40
    assert np.all(group[~has_neighbours] == -1)
    grouped = group[has_neighbours]
    assert grouped.min() == 0
    assert grouped.max() == n_groups - 1
    assert len(np.unique(grouped)) == n_groups < has_neighbours.sum() / 2
    for i in np.flatnonzero(has_neighbours):  # a group is grown from one cell's neighbourhood, so it is connected
        assert np.any(group[A.indices[A.indptr[i] : A.indptr[i + 1]]] == group[i])


@pytest.mark.parametrize("seed", [0, 1])
def test_coarse_quadratic_equals_the_fine_one_on_aggregate_shifts(seed):
    """Galerkin: shifting every cell of an aggregate by δ_a costs exactly the coarse quadratic of δ."""
    graph = random_graph(200, seed, n_isolated=20)
    p = problem(graph, 3, 4.0, seed)
    levels = coarse_levels(graph, p)
    level = levels.levels[0]
    rng = np.random.default_rng(seed)
    shift = rng.normal(size=(len(level.size), 3))
    fine = np.where(level.group[:, None] >= 0, shift[level.group], 0.0)  # a cell in no aggregate stays
    _, degree, factor = p["smoothing"]
    A = graph.adjacency.toarray()
    fine_quadratic = (
        np.einsum("ij,jk,ik->", fine, p["gram"], fine)
        + np.sum((p["diagonal"] + factor * degree)[:, None] * fine * fine)
        - factor * np.sum(fine * (A @ fine))
    )
    coarse_A = np.zeros((len(level.size), len(level.size)))
    for a in range(len(level.size)):
        for q in range(level.indptr[a], level.indptr[a + 1]):
            coarse_A[a, level.indices[q]] += level.weights[q]
    np.testing.assert_allclose(coarse_A, coarse_A.T)
    coarse_quadratic = (
        np.einsum("a,aj,jk,ak->", level.size, shift, p["gram"], shift)
        + np.sum((levels.diagonals[0] + level.degree)[:, None] * shift * shift)
        - np.sum(shift * (coarse_A @ shift))
    )
    np.testing.assert_allclose(coarse_quadratic, fine_quadratic, rtol=1e-10)


@pytest.mark.parametrize(
    "make_graph", [chain_graph, lambda n: random_graph(n, 3), lambda n: random_graph(n - 100, 3, n_isolated=100)]
)
def test_a_correction_never_raises_the_objective_and_keeps_cells_nonnegative(make_graph):
    graph = make_graph(400)
    p = problem(graph, 4, 20.0, 5)
    levels = coarse_levels(graph, p)
    U = p["U"].copy()
    values = [objective(graph, p, U)]
    for _ in range(5):
        embedding_pass(graph, p, U)
        values.append(objective(graph, p, U))
        before = U.copy()
        moved = levels.correct(U, p["linear"], p["gram"])
        np.testing.assert_allclose(moved, np.sum((U - before) ** 2))
        values.append(objective(graph, p, U))
        assert U.min() >= 0
    assert np.all(np.diff(values) <= 1e-9 * abs(values[0]))


def test_three_corrected_passes_beat_forty_passes_on_a_chain():
    """A smooth residual on a path of 2,000 cells: three passes, each corrected, reach what 40 passes do not."""
    graph = chain_graph(2000)
    p = problem(graph, 3, 50.0, 2)
    plain = p["U"].copy()
    for _ in range(40):
        embedding_pass(graph, p, plain)
    corrected = p["U"].copy()
    levels = coarse_levels(graph, p)
    assert len(levels.levels) > 1  # aggregates of aggregates: a path coarsens about threefold per level
    for _ in range(3):
        embedding_pass(graph, p, corrected)
        levels.correct(corrected, p["linear"], p["gram"])
    start = objective(graph, p, p["U"])
    assert start - objective(graph, p, corrected) > start - objective(graph, p, plain)


def test_aggregates_kept_from_an_earlier_update_correct_as_new_ones_do():
    """A scale's aggregates depend on its graph term only: reused with other curvatures, they correct as if built anew."""
    graph = random_graph(400, 4, n_isolated=30)
    p = problem(graph, 3, 20.0, 4)
    kept = coarse_levels(graph, p).aggregates
    p["diagonal"] = np.random.default_rng(9).uniform(0.0, 2.0, len(graph.degree))
    new, reused = p["U"].copy(), p["U"].copy()
    fresh = coarse_levels(graph, p)
    again = CoarseLevels(graph.starts, graph.stops, graph.edges.indices, *p["smoothing"], p["diagonal"], kept)
    assert len(fresh.levels) == len(again.levels) > 0
    for _ in range(2):
        embedding_pass(graph, p, new)
        embedding_pass(graph, p, reused)
        moved = fresh.correct(new, p["linear"], p["gram"])
        assert moved > 0
        assert again.correct(reused, p["linear"], p["gram"]) == moved
    np.testing.assert_array_equal(reused, new)


def test_without_edges_there_is_no_coarse_level():
    graph = scale_graph(EdgeList(50, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)), 1.0)
    p = problem(graph, 2, 1.0, 0)
    levels = coarse_levels(graph, p)
    U = p["U"].copy()
    assert levels.levels == []
    assert levels.correct(U, p["linear"], p["gram"]) == 0.0
    np.testing.assert_array_equal(U, p["U"])


def test_coarse_levels_index_with_32_bit_integers_and_give_the_same_levels_as_64_bit_ones():
    """The levels are held for a whole solve: their indices take 4 bytes, and the aggregation is the same."""
    graph = random_graph(3000, 2, n_isolated=100)
    p = problem(graph, 4, 10.0, 0)
    levels = multigrid.Aggregates.build(graph.starts, graph.stops, graph.edges.indices, *p["smoothing"]).levels
    assert len(levels) >= 2
    for level in levels:
        assert level.group.dtype == level.block_nodes.dtype == level.indices.dtype == np.int32
    group = np.empty(len(graph.starts), dtype=np.int64)
    n_groups = multigrid._aggregate(graph.starts, graph.stops, graph.edges.indices, group)
    np.testing.assert_array_equal(levels[0].group, group)
    assert len(levels[0].size) == n_groups
