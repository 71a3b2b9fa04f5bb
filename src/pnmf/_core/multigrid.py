"""Coarse corrections for the embedding update: the graph term's smooth modes on aggregates of cells.

Coordinate descent over cells (:func:`~pnmf._core.kernels.embedding_pass`) removes a
residual that varies from cell to cell in a few passes, but a residual that is smooth along
the graph, which a strong graph term makes the slowest, moves about one edge per pass. A
coarse correction moves whole aggregates of neighbouring cells at once: with every cell of
aggregate a shifted by the same δ_a, the objective restricted to the shifts is again a
graph-regularized quadratic, on the aggregates (the Galerkin product Pᵀ H P, P the
aggregation), solved by coordinate descent there and, recursively, on aggregates of
aggregates (aggregation multigrid, as in algebraic multigrid solvers for graph Laplacians).
The nonnegativity of the cells becomes a lower bound on every δ_a: the least entry of its
cells, so the corrected embedding stays feasible and the objective never increases. A node
without neighbours joins no aggregate: the passes over its own level already solve for it,
and at a fine scale, where about half of the cells have no edge below the threshold, a
singleton aggregate for each of them made the first coarse level nearly as large as the
graph and its passes the dearest part of a correction.

Measured on updates captured from a fit of 100k cells, a corrected pass is worth about five
plain ones on a coarse scale and more on a fine one (after 3 corrected passes the fine
scale's objective is below where 20 plain passes reach); a correction costs about one pass
(``benchmarks/results/scaling_pooling.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import get_num_threads, njit, prange

from .kernels import _parallel, index_dtype

__all__ = ["Aggregates", "CoarseLevels"]

#: A level is coarsened again while its aggregates number at most this share of its nodes:
#: beyond it, the next level costs nearly as much as this one and corrects little more.
MAX_COARSENING_RATIO = 0.75
#: No level is built below this many nodes.
MIN_COARSE_NODES = 32
#: Passes over the coarsest level when it is small (a near-exact solve for little work); a
#: larger one, where coarsening stalled on many small components, gets as many passes as any
#: level, one before and one after.
COARSEST_PASSES = 10
SMALL_LEVEL = 2048


# The kernels write into arrays allocated here and return nothing or a count, as those of
# :mod:`pnmf._core.kernels` do: a signal (Ctrl-C) then surfaces as KeyboardInterrupt, not as
# an error about a returned array.


@njit(cache=True, nogil=True)
def _aggregate(starts: np.ndarray, stops: np.ndarray, indices: np.ndarray, group: np.ndarray) -> int:
    """Group every node with its neighbours where none of them is grouped yet; attach the rest to a neighbour's group.

    Writes every node's group to ``group`` and returns the number of groups (greedy
    aggregation, as in smoothed-aggregation multigrid: a group grows from one node's
    neighbourhood). A node without neighbours joins no group (-1): shifting it alone is
    what the passes over its own level already do.
    """
    group[:] = -1
    n_groups = 0
    for i in range(len(starts)):
        if group[i] >= 0 or starts[i] == stops[i]:
            continue
        free = True
        for p in range(starts[i], stops[i]):
            if group[indices[p]] >= 0:
                free = False
                break
        if free:
            group[i] = n_groups
            for p in range(starts[i], stops[i]):
                group[indices[p]] = n_groups
            n_groups += 1
    for i in range(len(starts)):
        if group[i] >= 0:
            continue
        for p in range(starts[i], stops[i]):
            if group[indices[p]] >= 0:
                group[i] = group[indices[p]]
                break
    return n_groups


@njit(cache=True, nogil=True)
def _members(group: np.ndarray, nodes: np.ndarray, member_starts: np.ndarray) -> None:
    """Write the grouped nodes sorted by group to ``nodes`` and where each group's nodes start to ``member_starts`` (a counting sort)."""
    member_starts[:] = 0
    for g in group:
        if g >= 0:
            member_starts[g + 1] += 1
    for g in range(len(member_starts) - 1):
        member_starts[g + 1] += member_starts[g]
    fill = member_starts[:-1].copy()
    for i in range(len(group)):
        if group[i] >= 0:
            nodes[fill[group[i]]] = i
            fill[group[i]] += 1


@njit(cache=True, parallel=True, nogil=True)
def _coarse_row_counts(starts, stops, indices, group, nodes, member_starts, blocks, counts) -> None:
    """Write how many other aggregates every aggregate has edges to into ``counts[1:]``.

    Rows are shared among threads in ``blocks`` (each with a marker array of its own).
    """
    n_groups = len(member_starts) - 1
    for block in prange(len(blocks) - 1):
        marker = np.full(n_groups, -1, dtype=np.int64)
        for a in range(blocks[block], blocks[block + 1]):
            for q in range(member_starts[a], member_starts[a + 1]):
                i = nodes[q]
                for p in range(starts[i], stops[i]):
                    b = group[indices[p]]
                    if b != a and marker[b] != a:
                        marker[b] = a
                        counts[a + 1] += 1


@njit(cache=True, parallel=True, nogil=True)
def _coarse_rows(
    starts,
    stops,
    indices,
    weights,
    degree,
    factor,
    group,
    nodes,
    member_starts,
    blocks,
    indptr,
    out_indices,
    out_weights,
    out_degree,
) -> None:
    """Write the aggregates' graph ``Pᵀ (factor · (diag(degree) − A)) P`` into CSR arrays and degrees.

    Edges within an aggregate do not move it relative to itself: they leave the coarse
    degree. Each coarse row's columns come in the order in which its members meet them,
    whatever the ``blocks``.
    """
    n_groups = len(member_starts) - 1
    for block in prange(len(blocks) - 1):
        marker = np.full(n_groups, -1, dtype=np.int64)
        position = np.empty(n_groups, dtype=np.int64)
        for a in range(blocks[block], blocks[block + 1]):
            fill = indptr[a]
            out_degree[a] = 0.0
            for q in range(member_starts[a], member_starts[a + 1]):
                i = nodes[q]
                out_degree[a] += factor * degree[i]
                for p in range(starts[i], stops[i]):
                    b = group[indices[p]]
                    w = factor * weights[p]
                    if b == a:
                        out_degree[a] -= w
                    elif marker[b] != a:
                        marker[b] = a
                        position[b] = fill
                        out_indices[fill] = b
                        out_weights[fill] = w
                        fill += 1
                    else:
                        out_weights[position[b]] += w


@njit(cache=True, nogil=True)
def _group_sums(values: np.ndarray, group: np.ndarray, out: np.ndarray) -> None:
    """Write the sum of ``values`` over every group's nodes to ``out``."""
    out[:] = 0.0
    for i in range(len(group)):
        if group[i] >= 0:
            out[group[i]] += values[i]


@njit(cache=True, parallel=True, nogil=True, fastmath=True)
def _restrict(
    X, linear, gram, size, diagonal, starts, stops, indices, weights, excess, factor, lower, group, blocks,
    block_nodes, block_node_starts, coarse_linear, coarse_lower, weighted_sum,
) -> None:  # fmt: skip
    """Write every aggregate's linear term (minus its cells' summed half gradient) and lower bound (its least slack).

    The half gradient of cell i is ``size_i x_i G + (diagonal_i + factor · degree_i) x_i −
    factor Σ_p w_p x_(n_p) − linear_i``. Summed over an aggregate, ``G`` is applied once to
    the aggregate's sum (``weighted_sum``, a scratch array), and an edge within it adds
    ``w (x_i − x_n)`` and ``w (x_n − x_i)``, which cancel: only the edges leaving it are
    read beyond their group, and ``excess`` = degree − the row's weight sum carries what is
    left of the degree. ``lower`` holds a bound per node, or one row for all.

    Aggregates ``blocks[b]:blocks[b + 1]`` are block b's; its nodes,
    ``block_nodes[block_node_starts[b]:block_node_starts[b + 1]]``, are read in the order
    of the nodes, which reads the node arrays nearly in sequence (a quarter faster than
    aggregate by aggregate). Every aggregate still sums its nodes in that order, so the
    result is the same for any blocks.
    """
    k = X.shape[1]
    stride = 1 if len(lower) > 1 else 0
    for block in prange(len(blocks) - 1):
        for a in range(blocks[block], blocks[block + 1]):
            for j in range(k):
                weighted_sum[a, j] = 0.0
                coarse_linear[a, j] = 0.0
                coarse_lower[a, j] = -np.inf
        for q in range(block_node_starts[block], block_node_starts[block + 1]):
            i = block_nodes[q]
            a = group[i]
            curvature = diagonal[i] + factor * excess[i]
            for j in range(k):
                weighted_sum[a, j] += size[i] * X[i, j]
                coarse_linear[a, j] += linear[i, j] - curvature * X[i, j]
                slack = lower[i * stride, j] - X[i, j]
                if slack > coarse_lower[a, j]:
                    coarse_lower[a, j] = slack
            for p in range(starts[i], stops[i]):
                n = indices[p]
                if group[n] != a:
                    w = factor * weights[p]
                    for j in range(k):
                        coarse_linear[a, j] -= w * (X[i, j] - X[n, j])
        for a in range(blocks[block], blocks[block + 1]):
            for j in range(k):
                value = 0.0
                for other in range(k):
                    value += gram[j, other] * weighted_sum[a, other]
                coarse_linear[a, j] -= value


@njit(cache=True, parallel=True, nogil=True)
def _degree_excess(starts, stops, weights, degree, out) -> None:
    """Write every node's degree minus the weight sum of its edges (zero for a graph Laplacian, up to rounding)."""
    for i in prange(len(starts)):
        total = 0.0
        for p in range(starts[i], stops[i]):
            total += weights[p]
        out[i] = degree[i] - total


@njit(cache=True, nogil=True, fastmath=True)
def _smooth(X, linear, gram, size, diagonal, indptr, indices, weights, degree, lower, passes) -> None:
    """Coordinate descent over the entries of ``X`` (in place), each bounded below by ``lower``; sequential, for small levels."""
    n, k = X.shape
    neighbour_sum = np.empty(k)
    for _ in range(passes):
        for i in range(n):
            for j in range(k):
                neighbour_sum[j] = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                w = weights[p]
                row = indices[p]
                for j in range(k):
                    neighbour_sum[j] += w * X[row, j]
            for j in range(k):
                coupled = 0.0
                for other in range(k):
                    coupled += gram[j, other] * X[i, other]
                old = X[i, j]
                numerator = linear[i, j] - size[i] * (coupled - gram[j, j] * old) + neighbour_sum[j]
                new = numerator / (size[i] * gram[j, j] + diagonal[i] + degree[i])
                X[i, j] = max(new, lower[i, j])


@njit(cache=True, parallel=True, nogil=True)
def _prolong(X, correction, group, lower, moved) -> None:
    """Add every aggregate's correction to its cells (in place), kept at their bounds; write each cell's squared move.

    ``lower`` holds a bound per node, or one row for all; a node in no aggregate stays.
    """
    k = X.shape[1]
    stride = 1 if len(lower) > 1 else 0
    for i in prange(X.shape[0]):
        g = group[i]
        moved[i] = 0.0
        if g < 0:
            continue
        for j in range(k):
            new = max(X[i, j] + correction[g, j], lower[i * stride, j])
            moved[i] += (new - X[i, j]) ** 2
            X[i, j] = new


@dataclass(frozen=True)
class _Level:
    """One coarse level: its aggregation of the level above and its own graph term (unit factor)."""

    group: np.ndarray
    blocks: np.ndarray
    block_nodes: np.ndarray
    block_node_starts: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    degree: np.ndarray
    excess: np.ndarray
    size: np.ndarray


@dataclass(frozen=True)
class Aggregates:
    """The aggregates of one scale's graph term, coarse to coarser, and their graphs.

    They depend on the graph term only, not on the embedding or on the other terms of the
    objective, so one scale's aggregates serve every update of that scale in a solve
    (:class:`CoarseLevels` takes them); building them costs nearly as much as a pass.
    """

    levels: list[_Level]
    fine_excess: np.ndarray

    @classmethod
    def build(
        cls,
        starts: np.ndarray,
        stops: np.ndarray,
        indices: np.ndarray,
        edge_weights: np.ndarray,
        degree: np.ndarray,
        factor: float,
    ) -> Aggregates:
        """Aggregate the graph term ``factor · (diag(degree) − A)`` level after level while that coarsens it (:data:`MAX_COARSENING_RATIO`).

        With ``factor`` 0 there is no level: without a graph term no residual is smooth along the graph.
        """
        levels: list[_Level] = []
        with _parallel():
            excess = np.empty(len(starts))
            _degree_excess(starts, stops, edge_weights, degree, excess)
            fine_excess, size, factor = excess, np.ones(len(starts)), float(factor)
            while factor > 0 and len(size) > MIN_COARSE_NODES:
                group = np.empty(len(size), dtype=index_dtype(len(size)))
                n_groups = _aggregate(starts, stops, indices, group)
                if n_groups == 0 or n_groups > MAX_COARSENING_RATIO * len(size):
                    break
                level = _coarse_level((starts, stops, indices, edge_weights, degree, factor), group, n_groups, size)
                levels.append(level)
                starts, stops, indices, edge_weights, degree, factor = (
                    level.indptr[:-1], level.indptr[1:], level.indices, level.weights, level.degree, 1.0
                )  # fmt: skip
                size = level.size
        return cls(levels, fine_excess)


class CoarseLevels:
    """The coarse corrections of one embedding update: a scale's aggregates with the update's other terms.

    Parameters
    ----------
    starts, stops, indices
        The scale's graph: row i's neighbours are ``indices[starts[i]:stops[i]]``, symmetric.
    edge_weights, degree, factor
        Its graph term ``factor · (diag(degree) − A)`` (:class:`~pnmf._core.graphs.Smoothing`); with
        ``factor`` 0 there is no level, and a correction does nothing.
    diagonal
        Every cell's curvature from the other terms, as :func:`~pnmf._core.kernels.embedding_pass` reads it.
    aggregates
        This graph term's :class:`Aggregates`, from an earlier update; ``None``: built here.
    """

    def __init__(
        self,
        starts: np.ndarray,
        stops: np.ndarray,
        indices: np.ndarray,
        edge_weights: np.ndarray,
        degree: np.ndarray,
        factor: float,
        diagonal: np.ndarray,
        aggregates: Aggregates | None = None,
    ) -> None:
        if aggregates is None:
            aggregates = Aggregates.build(starts, stops, indices, edge_weights, degree, factor)
        self.aggregates = aggregates
        self._unit = np.ones(len(starts))
        self._fine = (starts, stops, indices, edge_weights, aggregates.fine_excess, float(factor))
        self._fine_diagonal = np.ascontiguousarray(diagonal, dtype=np.float64)
        #: Every level's curvature from the other terms: its aggregates' sums of the level above's.
        self.diagonals: list[np.ndarray] = []
        above = self._fine_diagonal
        for level in aggregates.levels:
            self.diagonals.append(np.empty(len(level.size)))
            _group_sums(above, level.group, self.diagonals[-1])
            above = self.diagonals[-1]

    @property
    def levels(self) -> list[_Level]:
        """The coarse levels, coarse to coarser."""
        return self.aggregates.levels

    def correct(self, U: np.ndarray, linear: np.ndarray, gram: np.ndarray) -> float:
        """Move ``U`` (in place) by the best shift of its aggregates, approximately; return the squared move.

        ``linear`` and ``gram`` are those of :func:`~pnmf._core.kernels.embedding_pass`. The
        objective does not increase.
        """
        if not self.levels:
            return 0.0
        nonnegative = np.zeros((1, U.shape[1]))  # the cells' bound, one row for all
        moved = np.empty(U.shape[0])
        with _parallel():
            self._cycle(0, U, linear, gram, self._unit, self._fine_diagonal, self._fine, nonnegative, moved)
        return float(moved.sum())

    def _cycle(self, depth, X, linear, gram, size, diagonal, graph, lower, moved) -> None:
        """Restrict to level ``depth``, solve there (recursively), prolong; one smoothing pass before and after below the coarsest."""
        level, level_diagonal = self.levels[depth], self.diagonals[depth]
        starts, stops, indices, weights, excess, factor = graph
        n_groups, k = len(level.size), X.shape[1]
        coarse_linear, coarse_lower = np.empty((n_groups, k)), np.empty((n_groups, k))
        _restrict(
            X, linear, gram, size, diagonal, starts, stops, indices, weights, excess, factor, lower, level.group,
            level.blocks, level.block_nodes, level.block_node_starts, coarse_linear, coarse_lower,
            np.empty((n_groups, k)),
        )  # fmt: skip
        correction = np.zeros((n_groups, k))
        smooth = (gram, level.size, level_diagonal, level.indptr, level.indices, level.weights, level.degree)
        if depth + 1 == len(self.levels):
            passes = COARSEST_PASSES if n_groups <= SMALL_LEVEL else 2
            _smooth(correction, coarse_linear, *smooth, coarse_lower, passes)
        else:
            _smooth(correction, coarse_linear, *smooth, coarse_lower, 1)
            coarse_graph = (level.indptr[:-1], level.indptr[1:], level.indices, level.weights, level.excess, 1.0)
            self._cycle(
                depth + 1, correction, coarse_linear, gram, level.size, level_diagonal, coarse_graph, coarse_lower,
                np.empty(n_groups),
            )  # fmt: skip
            _smooth(correction, coarse_linear, *smooth, coarse_lower, 1)
        _prolong(X, correction, level.group, lower, moved)


def _coarse_level(graph, group: np.ndarray, n_groups: int, size: np.ndarray) -> _Level:
    """Build the level of ``n_groups`` aggregates of ``graph`` (``starts, stops, indices, weights, degree, factor``)."""
    starts, stops, indices, weights, degree, factor = graph
    nodes, member_starts = (
        np.empty(np.count_nonzero(group >= 0), dtype=index_dtype(len(group))),
        np.empty(n_groups + 1, dtype=np.int64),
    )
    _members(group, nodes, member_starts)
    blocks = np.linspace(0, n_groups, min(n_groups, get_num_threads()) + 1).astype(np.int64)
    counts = np.zeros(n_groups + 1, dtype=np.int64)
    _coarse_row_counts(starts, stops, indices, group, nodes, member_starts, blocks, counts)
    indptr = np.cumsum(counts)
    coarse_indices, coarse_weights, coarse_degree = (
        np.empty(indptr[-1], index_dtype(n_groups)),
        np.zeros(indptr[-1]),
        np.empty(n_groups),
    )
    _coarse_rows(
        starts, stops, indices, weights, degree, factor, group, nodes, member_starts, blocks,
        indptr, coarse_indices, coarse_weights, coarse_degree,
    )  # fmt: skip
    coarse_size, excess = np.empty(n_groups), np.empty(n_groups)
    _group_sums(size, group, coarse_size)
    _degree_excess(indptr[:-1], indptr[1:], coarse_weights, coarse_degree, excess)
    # the nodes of every block of aggregates, in the nodes' order (read so by :func:`_restrict`)
    grouped = np.flatnonzero(group >= 0)
    block_of_node = np.searchsorted(blocks, group[grouped], side="right") - 1
    by_block = np.argsort(block_of_node, kind="stable")
    block_node_starts = np.searchsorted(block_of_node[by_block], np.arange(len(blocks)))
    block_nodes = grouped[by_block].astype(nodes.dtype)
    return _Level(
        group, blocks, block_nodes, block_node_starts, indptr, coarse_indices, coarse_weights, coarse_degree,
        excess, coarse_size,
    )  # fmt: skip
