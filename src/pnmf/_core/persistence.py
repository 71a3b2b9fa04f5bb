"""Zero-dimensional persistent homology of a graph filtration.

A threshold ε grows from 0 and every edge shorter than ε joins its two cells. The H0 bars
of this filtration are all born at 0; a bar dies when its component merges into another,
so the finite deaths are the weights of a minimum spanning forest of the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import gudhi
import numpy as np
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

__all__ = [
    "TREE_MAX_DIMS",
    "EdgeList",
    "Persistence",
    "bridge_components",
    "graph_persistence",
    "graph_persistence_gudhi",
    "rips_persistence",
]


@dataclass(frozen=True)
class EdgeList:
    """Undirected weighted edges ``(rows[e], cols[e])`` of length ``lengths[e]``, rows < cols."""

    n_nodes: int
    rows: np.ndarray
    cols: np.ndarray
    lengths: np.ndarray

    @classmethod
    def from_pairs(cls, n_nodes: int, rows: np.ndarray, cols: np.ndarray, points: np.ndarray) -> EdgeList:
        """Deduplicate undirected pairs, drop self-loops and measure Euclidean lengths in ``points``."""
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
        keep = lo != hi
        codes = np.unique(lo[keep] * n_nodes + hi[keep])
        lo, hi = codes // n_nodes, codes % n_nodes
        return cls(n_nodes, lo, hi, pairwise_lengths(points, lo, hi))

    def concat(self, other: EdgeList) -> EdgeList:
        """Union of two edge lists on the same nodes."""
        return EdgeList(
            self.n_nodes,
            np.concatenate([self.rows, other.rows]),
            np.concatenate([self.cols, other.cols]),
            np.concatenate([self.lengths, other.lengths]),
        )

    def induced(self, nodes: np.ndarray) -> EdgeList:
        """Return the edges between ``nodes`` (sorted indices), renumbered ``0 … len(nodes)-1``."""
        index = np.full(self.n_nodes, -1, dtype=np.int64)
        index[nodes] = np.arange(len(nodes))
        inside = (index[self.rows] >= 0) & (index[self.cols] >= 0)
        return EdgeList(len(nodes), index[self.rows[inside]], index[self.cols[inside]], self.lengths[inside])

    def __len__(self) -> int:
        return len(self.rows)


def pairwise_lengths(points: np.ndarray, rows: np.ndarray, cols: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Euclidean distances between ``points[rows[e]]`` and ``points[cols[e]]``, in float64.

    By chunks of edges: each temporary is chunk × dimensions, ~26 MB in 50 dimensions.
    """
    out = np.empty(len(rows), dtype=np.float64)
    for start in range(0, len(rows), chunk):
        stop = start + chunk
        diff = points[rows[start:stop]].astype(np.float64, copy=False) - points[cols[start:stop]]
        out[start:stop] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


@dataclass(frozen=True)
class Persistence:
    """H0 barcode of a filtration on ``n_cells`` points.

    Every bar is born at 0. ``deaths`` holds the finite death values, sorted ascending;
    ``n_essential`` bars never die (the number of connected components of the whole graph).
    """

    n_cells: int
    deaths: np.ndarray
    n_essential: int

    def n_connected(self, thresholds: np.ndarray | float) -> np.ndarray:
        """Count the connected components of the graph of edges strictly shorter than each threshold."""
        merged = np.searchsorted(self.deaths, np.asarray(thresholds, dtype=np.float64), side="left")
        return self.n_cells - merged


def graph_persistence(edges: EdgeList) -> Persistence:
    """H0 persistence of the filtration of a weighted graph: the weights of its minimum spanning forest.

    Vertices enter at 0 and each edge at its length; a bar dies at the length of the edge
    that merges its component (Kruskal's order), so the finite deaths are the weights of
    a minimum spanning forest and the bars that never die are its trees. SciPy's sparse
    minimum spanning tree computes them faster than gudhi's simplex tree (1M nodes, 15M
    edges: 21 s against 47 s, ``benchmarks/persistence.py``; 11.5 s against 81 s on a
    1M-cell kNN graph), and :func:`graph_persistence_gudhi` gives the same bars. A sparse graph has no zero-length
    edges (a zero is no edge), so edges of length zero (duplicate cells) are contracted
    first: each merge they make is a bar that dies at 0.
    """
    n = edges.n_nodes
    zero = edges.lengths == 0
    n_merged, labels = connected_components(
        coo_array((np.ones(int(zero.sum())), (edges.rows[zero], edges.cols[zero])), shape=(n, n)), directed=False
    )
    rows, cols, lengths = labels[edges.rows[~zero]], labels[edges.cols[~zero]], edges.lengths[~zero]
    between = rows != cols
    rows, cols, lengths = rows[between], cols[between], lengths[between]
    # keep the shortest of parallel edges: a sparse matrix would add them up
    order = np.lexsort((lengths, cols, rows))
    first = np.r_[True, (np.diff(rows[order]) != 0) | (np.diff(cols[order]) != 0)] if len(order) else order
    keep = order[first.astype(bool)] if len(order) else order
    graph = csr_array((lengths[keep], (rows[keep], cols[keep])), shape=(n_merged, n_merged))
    forest = minimum_spanning_tree(graph).data
    deaths = np.sort(np.concatenate([np.zeros(n - n_merged), forest]))
    return Persistence(n, deaths, n_merged - len(forest))


def graph_persistence_gudhi(edges: EdgeList) -> Persistence:
    """H0 persistence of the filtration of a weighted graph, computed with gudhi's simplex tree.

    The same bars as :func:`graph_persistence`, which is faster; kept to cross-check it.
    """
    tree = gudhi.SimplexTree()
    tree.insert_batch(np.arange(edges.n_nodes, dtype=np.int64)[None, :], np.zeros(edges.n_nodes))
    if len(edges):
        tree.insert_batch(np.vstack([edges.rows, edges.cols]), edges.lengths)
    return _persistence_of(tree, edges.n_nodes)


def rips_persistence(points: np.ndarray) -> Persistence:
    """H0 persistence of the Vietoris–Rips filtration on all pairwise distances (gudhi).

    This is the paper's exact construction; its cost grows with the square of the number
    of points.
    """
    rips = gudhi.RipsComplex(points=np.asarray(points, dtype=np.float64))
    tree = rips.create_simplex_tree(max_dimension=1)
    return _persistence_of(tree, len(points))


def _persistence_of(tree: gudhi.SimplexTree, n_cells: int) -> Persistence:
    # H1 is not needed: persistence_dim_max=False skips the top dimension of a 1-skeleton;
    # without edges the top dimension is 0, which must then be computed.
    tree.compute_persistence(homology_coeff_field=2, min_persistence=-1, persistence_dim_max=tree.dimension() < 1)
    bars = tree.persistence_intervals_in_dimension(0)
    if len(bars) == 0:
        return Persistence(n_cells, np.empty(0), 0)
    deaths = bars[:, 1]
    finite = np.isfinite(deaths)
    return Persistence(n_cells, np.sort(deaths[finite]), int((~finite).sum()))


#: Most dimensions at which ``bridge_components`` searches k-d trees by default: they prune
#: well up to about 20 dimensions of PCA-like coordinates and little beyond 30.
TREE_MAX_DIMS = 20


def bridge_components(
    points: np.ndarray,
    edges: EdgeList,
    block_bytes: int = 1 << 27,
    *,
    method: Literal["auto", "tree", "brute"] = "auto",
) -> EdgeList:
    """Edges that join the connected components of a graph along their exact closest pairs.

    Borůvka's rule on the components: every component other than the largest finds its
    nearest point outside itself, by exact Euclidean distance; those edges all belong to
    a minimum spanning tree of the complete graph on the points, so the deaths of the
    bridged filtration are the single-linkage merge heights of the components. Rounds
    repeat until one component remains (at most log2 of the number of components).

    Parameters
    ----------
    points
        Coordinates, one row per node.
    edges
        The graph to bridge.
    block_bytes
        Memory for one block of query-to-all distances (``method='brute'``).
    method
        How each point outside the largest component finds its nearest point in another
        component, both exactly. ``'brute'``: distances to every point, by blocks, with
        BLAS; its cost grows with the points outside times all points (days when millions
        of cells are outside). ``'tree'``: two k-d trees built once (one on the largest
        component, one on the other points, searched no farther than the nearest point of
        the largest component); it pays off where the coordinates have few effective
        dimensions. ``'auto'`` (default): the trees up to ``TREE_MAX_DIMS`` dimensions, brute
        force above. On PCA-like coordinates (spread falling from 1 to 0.02; 100,000 cells
        in the largest component, 10,000 in about 1,670 small ones; ``benchmarks/persistence.py``)
        the trees took 0.9 s at 10 dimensions and 1.6 s at 20 against 14.5 s and 9.3 s by
        brute force, 7.0 s against 8.7 s at 30, and 31.1 s against 7.8 s at 40.

    Returns
    -------
    The bridge edges (possibly empty).
    """
    n = edges.n_nodes
    graph = coo_array((np.ones(len(edges)), (edges.rows, edges.cols)), shape=(n, n))
    n_comp, labels = connected_components(graph, directed=False)
    points64 = np.asarray(points, dtype=np.float64)
    sq_norms = np.einsum("ij,ij->i", points64, points64)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    # the largest component at the start stays out of the queries in every round (any one component may)
    anchor = int(np.flatnonzero(labels == np.bincount(labels).argmax())[0]) if n_comp > 1 else 0
    if method == "auto":
        method = "tree" if points64.shape[1] <= TREE_MAX_DIMS else "brute"
    search = _TreeSearch(points64, labels) if method == "tree" and n_comp > 1 else None
    while n_comp > 1:
        giant = int(labels[anchor])
        query = np.flatnonzero(labels != giant)
        if search is None:
            partner, dist = _nearest_outside(points64, sq_norms, labels, query, block_bytes)
        else:
            partner, dist = search.nearest(labels, query)
        # one candidate per component: its point with the nearest outside partner
        order = np.lexsort((dist, labels[query]))
        first = np.r_[True, np.diff(labels[query][order]) != 0]
        best = order[first]
        rows.append(query[best])
        cols.append(partner[best])
        merged = coo_array(
            (
                np.ones(sum(len(r) for r in rows) + len(edges)),
                (np.concatenate([edges.rows, *rows]), np.concatenate([edges.cols, *cols])),
            ),
            shape=(n, n),
        )
        n_comp, labels = connected_components(merged, directed=False)
    if not rows:
        empty = np.empty(0, dtype=np.int64)
        return EdgeList(n, empty, empty, np.empty(0))
    return EdgeList.from_pairs(n, np.concatenate(rows), np.concatenate(cols), points64)


class _TreeSearch:
    """Exact nearest points in other components, from two k-d trees built once for all rounds.

    ``core`` is the largest component at the start; it stays inside the component that is
    never queried, so every point of it is outside any queried point's component. Its
    nearest core point is found once per point. The other points (``others``) get a tree
    of their own, searched in each round no farther than the nearest core point: a nearer
    point of another component (or one merged into the core's since) can only lie there.
    """

    def __init__(self, points: np.ndarray, labels: np.ndarray) -> None:
        giant = np.bincount(labels).argmax()
        core = np.flatnonzero(labels == giant)
        self.points = points
        self.others = np.flatnonzero(labels != giant)
        self.position = np.full(len(points), -1, dtype=np.int64)
        self.position[self.others] = np.arange(len(self.others))
        dist, nearest = cKDTree(points[core]).query(points[self.others], k=1, workers=-1)
        self.core_dist, self.core_partner = np.asarray(dist), core[nearest]
        self.tree = cKDTree(points[self.others])

    def nearest(self, labels: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each query point (outside the core's component), its nearest point in another component."""
        at = self.position[query]
        dist, partner = self.core_dist[at].copy(), self.core_partner[at].copy()
        own = labels[query]
        n_others = len(self.others)
        pending = np.arange(len(query))
        k = 2
        while len(pending):
            k = min(k, n_others)
            bound = dist[pending]
            found_dist, found = self.tree.query(
                self.points[query[pending]], k=k, distance_upper_bound=bound.max(), workers=-1
            )
            found_dist, found = found_dist.reshape(len(pending), k), found.reshape(len(pending), k)
            # cKDTree marks missing neighbours with n_others; only those within the point's own bound matter
            within = (found < n_others) & (found_dist < bound[:, None])
            found_labels = labels[self.others[np.minimum(found, n_others - 1)]]
            other = within & (found_labels != own[pending, None])
            hit = other.any(axis=1)
            column = other.argmax(axis=1)  # neighbours come sorted by distance: the first is the nearest
            rows_hit = np.flatnonzero(hit)
            dist[pending[rows_hit]] = found_dist[rows_hit, column[rows_hit]]
            partner[pending[rows_hit]] = self.others[found[rows_hit, column[rows_hit]]]
            # settled: another component found, or every point within the bound seen
            settled = hit | ~within.all(axis=1) | (k >= n_others)
            pending = pending[~settled]
            k *= 4
        return partner, dist**2


def _nearest_outside(
    points: np.ndarray, sq_norms: np.ndarray, labels: np.ndarray, query: np.ndarray, block_bytes: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each query point, the index of and squared distance to its nearest point in another component."""
    n = len(points)
    block = max(1, block_bytes // (8 * n))
    partner = np.empty(len(query), dtype=np.int64)
    dist = np.empty(len(query))
    for start in range(0, len(query), block):
        idx = query[start : start + block]
        d2 = sq_norms[idx, None] + sq_norms[None, :] - 2.0 * (points[idx] @ points.T)
        d2[labels[idx, None] == labels[None, :]] = np.inf
        best = d2.argmin(axis=1)
        partner[start : start + block] = best
        dist[start : start + block] = d2[np.arange(len(idx)), best]
    return partner, dist
