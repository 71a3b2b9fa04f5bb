"""Zero-dimensional persistent homology of a graph filtration.

A threshold ε grows from 0 and every edge shorter than ε joins its two cells. The H0 bars
of this filtration are all born at 0; a bar dies when its component merges into another,
so the finite deaths are the weights of a minimum spanning forest of the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import gudhi
import numpy as np
from numba import njit
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

__all__ = [
    "TREE_MAX_DIMS",
    "DualTreeSearch",
    "EdgeList",
    "Persistence",
    "bridge_components",
    "graph_persistence",
    "graph_persistence_gudhi",
    "join_below",
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

    def shorter_than(self, threshold: float) -> EdgeList:
        """Return the edges strictly shorter than ``threshold``: the graph of the filtration at that threshold."""
        keep = self.lengths < threshold
        return EdgeList(self.n_nodes, self.rows[keep], self.cols[keep], self.lengths[keep])

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
    #: Where known (:func:`graph_persistence`), edges of the graph with the same persistence: a
    #: minimum spanning forest and the edges of length zero. Edges added to the graph change
    #: its persistence as they change the forest's (an edge the forest leaves out is the
    #: longest on a cycle of it, and stays out), at the cost of a graph of n edges.
    forest: EdgeList | None = field(default=None, repr=False, compare=False)

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
    labels = labels.astype(np.int64)
    source = np.flatnonzero(~zero)  # every remaining edge's index in ``edges``
    rows, cols, lengths = labels[edges.rows[source]], labels[edges.cols[source]], edges.lengths[source]
    between = rows != cols
    rows, cols, lengths, source = rows[between], cols[between], lengths[between], source[between]
    # keep the shortest of parallel edges: a sparse matrix would add them up
    order = np.lexsort((lengths, cols, rows))
    first = np.r_[True, (np.diff(rows[order]) != 0) | (np.diff(cols[order]) != 0)] if len(order) else order
    keep = order[first.astype(bool)] if len(order) else order
    graph = csr_array((lengths[keep], (rows[keep], cols[keep])), shape=(n_merged, n_merged))
    tree = minimum_spanning_tree(graph).tocoo()
    deaths = np.sort(np.concatenate([np.zeros(n - n_merged), tree.data]))
    # every tree entry is a kept edge: found by its (row, column), by which the kept edges are sorted
    at = np.searchsorted(rows[keep] * n_merged + cols[keep], tree.row.astype(np.int64) * n_merged + tree.col)
    spanning = np.concatenate([np.flatnonzero(zero), source[keep[at]]])
    forest = EdgeList(n, edges.rows[spanning], edges.cols[spanning], edges.lengths[spanning])
    return Persistence(n, deaths, n_merged - len(tree.data), forest)


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


#: Most dimensions at which ``bridge_components(method='tree')``, a k-d tree search from every point
#: outside the largest component, prunes well: up to about 20 dimensions of PCA-like coordinates
#: and little beyond 30 (``method='auto'`` searches by a dual tree in any dimension).
TREE_MAX_DIMS = 20


def bridge_components(
    points: np.ndarray,
    edges: EdgeList,
    block_bytes: int = 1 << 27,
    *,
    method: Literal["auto", "dual", "tree", "brute"] = "auto",
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
        How each component finds its closest pair of points with another component, all
        exactly. ``'dual'``: Borůvka's dual-tree search (March, Ram and Gray, 2010) on one
        k-d tree of all points (scikit-learn's), built once: pairs of nodes are dropped when
        both lie in one component or when their boxes are farther apart than the closest
        pair found so far for every component in the query node, so each round looks near
        the borders between components only. ``'brute'``: distances from every point
        outside the largest component to every point, by blocks, with BLAS; quadratic.
        ``'tree'``: each point outside the largest component searches two k-d trees for its
        own nearest point in another component; fast in few dimensions when few points lie
        outside, slow beyond ``TREE_MAX_DIMS``. ``'auto'`` (default): ``'dual'``. On 30
        PCA-like dimensions (spread falling from 1 to 0.02) with a 15-NN graph, 2 cores
        (``benchmarks/persistence.py --separated``, ``benchmarks/results/bridging.md``): four
        separated populations of 1M cells in all took 22 s (brute force: 41 s at 50,000
        cells, about 4.6 hours at 1M by its quadratic growth), and 900,000 cells in one
        population with 1,000 clumps of 100 cells around it 81 s (brute force: 3.0 s at
        50,000 cells, about 20 minutes at 1M). With 100,000 cells in the largest component
        and 10,000 in about 1,660 small ones, the dual tree took 1.3 s at 10 dimensions and
        3.1 s at 20 against 0.4 s and 2.1 s for ``'tree'`` (about 0.9 s of it importing
        scikit-learn's neighbours module, which scanpy has done before ``tl.pnmf`` gets here).

    Returns
    -------
    The bridge edges (possibly empty).
    """
    n = edges.n_nodes
    graph = coo_array((np.ones(len(edges)), (edges.rows, edges.cols)), shape=(n, n))
    n_comp, labels = connected_components(graph, directed=False)
    if n_comp == 1:
        empty = np.empty(0, dtype=np.int64)
        return EdgeList(n, empty, empty, np.empty(0))
    points64 = np.asarray(points, dtype=np.float64)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    # the largest component at the start stays out of the queries in every round (any one component may)
    anchor = int(np.flatnonzero(labels == np.bincount(labels).argmax())[0])
    if method == "auto":
        method = "dual"
    if method == "dual":
        dual = DualTreeSearch(points64)
    else:
        sq_norms = np.einsum("ij,ij->i", points64, points64)
        search = _TreeSearch(points64, labels) if method == "tree" else None
    while n_comp > 1:
        giant = int(labels[anchor])
        if method == "dual":
            source, target = dual.closest_pairs(labels, n_comp, giant)
        else:
            query = np.flatnonzero(labels != giant)
            if search is None:
                partner, dist = _nearest_outside(points64, sq_norms, labels, query, block_bytes)
            else:
                partner, dist = search.nearest(labels, query)
            # one candidate per component: its point with the nearest outside partner
            order = np.lexsort((dist, labels[query]))
            first = np.r_[True, np.diff(labels[query][order]) != 0]
            best = order[first]
            source, target = query[best], partner[best]
        rows.append(source)
        cols.append(target)
        n_comp, merged = _joined_components(labels, n_comp, source, target)
        labels = merged[labels]
    return EdgeList.from_pairs(n, np.concatenate(rows), np.concatenate(cols), points64)


def join_below(edges: EdgeList, threshold: float, search: DualTreeSearch) -> EdgeList:
    """Exact closest-pair edges shorter than ``threshold`` that join components of ``edges``.

    Borůvka's rounds, bounded: each component not yet settled finds its nearest point
    outside itself within ``threshold``; the components joined are searched again, the
    others are settled. The components of ``edges`` plus the returned edges are then those
    of the complete graph's edges shorter than ``threshold``, and the work stays near the
    borders closer than ``threshold``.

    A cell alone is left out, as a query and as a partner: its nearest neighbour is one of
    its kNN edges, all of them at least ``threshold`` long, so no cell lies nearer to it.
    An approximate kNN search may have missed a nearer one; such a cell joins no
    population, and searching for it made a large component absorb one such cell per
    round, at the cost of a full round each.
    """
    n = edges.n_nodes
    graph = coo_array((np.ones(len(edges)), (edges.rows, edges.cols)), shape=(n, n))
    n_comp, labels = connected_components(graph, directed=False)
    # the largest component is never searched from (any one may be): its pairs are found from the other side
    anchor = int(np.flatnonzero(labels == np.bincount(labels).argmax())[0])
    active = np.bincount(labels, minlength=n_comp) > 1
    in_groups = active[labels]  # a lone cell is no query and no partner (see above)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    while n_comp > 1 and active.any():
        giant = int(labels[anchor])
        source, target = search.closest_pairs(labels, n_comp, giant, np.where(active, threshold, 0.0), in_groups)
        if not len(source):
            break
        rows.append(source)
        cols.append(target)
        n_comp, merged = _joined_components(labels, n_comp, source, target)
        # a component is searched again only when it grew: one that found nothing has nothing nearer now
        active = np.bincount(merged, minlength=n_comp) > 1
        labels = merged[labels]
    if not rows:
        empty = np.empty(0, dtype=np.int64)
        return EdgeList(n, empty, empty, np.empty(0))
    # the edge of length exactly ``threshold`` may come out a rounding below it from the search: it is no bridge
    return EdgeList.from_pairs(n, np.concatenate(rows), np.concatenate(cols), search.original_points).shorter_than(
        threshold
    )


def _joined_components(
    labels: np.ndarray, n_comp: int, source: np.ndarray, target: np.ndarray
) -> tuple[int, np.ndarray]:
    """Components after a Borůvka round: their number, and each old component's new one."""
    joined = coo_array((np.ones(len(source)), (labels[source], labels[target])), shape=(n_comp, n_comp))
    n_joined, merged = connected_components(joined, directed=False)
    return n_joined, merged


class DualTreeSearch:
    """Each component's exact closest pair with the other components, by a dual-tree search on one k-d tree.

    The tree (scikit-learn's, leaves of ``leaf_size`` points) is built once for all
    rounds; the points are copied in its order so that every node's points are contiguous.
    """

    def __init__(self, points: np.ndarray, leaf_size: int = 40) -> None:
        from sklearn.neighbors import KDTree

        _, order, nodes, bounds = KDTree(points, leaf_size=leaf_size).get_arrays()
        self.original_points = points
        self.order = np.asarray(order, dtype=np.int64)
        self.points = np.ascontiguousarray(points[self.order])
        self.start = np.ascontiguousarray(nodes["idx_start"], dtype=np.int64)
        self.end = np.ascontiguousarray(nodes["idx_end"], dtype=np.int64)
        self.leaf = np.ascontiguousarray(nodes["is_leaf"], dtype=np.bool_)
        self.lower = np.ascontiguousarray(bounds[0], dtype=np.float64)
        self.upper = np.ascontiguousarray(bounds[1], dtype=np.float64)

    def closest_pairs(
        self,
        labels: np.ndarray,
        n_comp: int,
        giant: int,
        within: np.ndarray | None = None,
        targets: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return the closest pair (point inside, point outside) of every component but ``giant``.

        ``within`` (per component, optional): only pairs closer than it count, so a
        component with none gives no pair, and one with 0 is not searched. ``targets`` (per
        point, optional): only these points count as the outside point of a pair.
        """
        usable = np.ones(len(labels), dtype=np.bool_) if targets is None else targets[self.order]
        source, target, _ = _dual_tree_round(
            self.points,
            np.ascontiguousarray(labels[self.order], dtype=np.int64),
            np.full(n_comp, np.inf) if within is None else np.asarray(within, dtype=np.float64) ** 2,
            np.ascontiguousarray(usable, dtype=np.bool_),
            giant,
            self.start,
            self.end,
            self.leaf,
            self.lower,
            self.upper,
        )
        found = source >= 0
        return self.order[source[found]], self.order[target[found]]


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


@njit(cache=True, nogil=True)
def _node_components(labels: np.ndarray, start: np.ndarray, end: np.ndarray, leaf: np.ndarray) -> np.ndarray:
    """Label every k-d tree node with the component of its points, -1 where they lie in several (bottom-up)."""
    n_nodes = len(start)
    comp = np.empty(n_nodes, dtype=np.int64)
    for node in range(n_nodes - 1, -1, -1):
        if leaf[node]:
            c = labels[start[node]]
            for i in range(start[node] + 1, end[node]):
                if labels[i] != c:
                    c = -1
                    break
            comp[node] = c
        else:
            c = comp[2 * node + 1]
            comp[node] = c if c == comp[2 * node + 2] else -1
    return comp


@njit(inline="always", nogil=True)
def _query_bound(node: int, comp: np.ndarray, best: np.ndarray, bound: np.ndarray, giant: int) -> float:
    """Squared distance beyond which no pair from ``node`` can improve a component's nearest (-1: never queried)."""
    c = comp[node]
    if c == giant:
        return -1.0
    if c >= 0:
        return best[c]
    return bound[node]


@njit(inline="always", nogil=True)
def _box_gap(lower: np.ndarray, upper: np.ndarray, a: int, b: int, limit: float) -> float:
    """Squared distance between the boxes of nodes a and b (stops counting once it reaches ``limit``)."""
    total = 0.0
    for k in range(lower.shape[1]):
        gap = lower[a, k] - upper[b, k]
        other = lower[b, k] - upper[a, k]
        if other > gap:
            gap = other
        if gap > 0.0:
            total += gap * gap
            if total >= limit:
                return total
    return total


@njit(cache=True, nogil=True)
def _dual_tree_round(points, labels, best, usable, giant, start, end, leaf, lower, upper):
    """One Borůvka round by a dual-tree search: each component's nearest pair of points outside it.

    ``points``, ``labels`` and ``usable`` (the points that may be a pair's outside point) are
    in the tree's order; ``best`` holds, per component, the squared distance a pair must
    beat (inf: any pair), and is updated in place. Node pairs
    are dropped when both nodes lie in one component or when their boxes are farther apart
    than the best pair already found for every component in the query node; the largest
    component (``giant``) is never a query. Returns, per component, the positions of its
    closest pair and their squared distance (-1 where no pair beat ``best``).
    """
    n_comp = len(best)
    n_nodes = len(start)
    dims = points.shape[1]
    comp = _node_components(labels, start, end, leaf)
    source = np.full(n_comp, -1, dtype=np.int64)
    target = np.full(n_comp, -1, dtype=np.int64)
    bound = np.full(n_nodes, np.inf)  # mixed nodes: the largest best of their components (never too small)
    capacity = 1024
    stack_q = np.empty(capacity, dtype=np.int64)
    stack_r = np.empty(capacity, dtype=np.int64)
    stack_gap = np.empty(capacity)
    child_q = np.empty(4, dtype=np.int64)
    child_r = np.empty(4, dtype=np.int64)
    child_gap = np.empty(4)
    stack_q[0], stack_r[0], stack_gap[0] = 0, 0, 0.0
    top = 1
    while top > 0:
        top -= 1
        q, r, gap = stack_q[top], stack_r[top], stack_gap[top]
        if comp[q] == -1 and not leaf[q]:
            refreshed = max(
                _query_bound(2 * q + 1, comp, best, bound, giant), _query_bound(2 * q + 2, comp, best, bound, giant)
            )
            bound[q] = min(bound[q], refreshed)
        if gap >= _query_bound(q, comp, best, bound, giant):
            continue
        if leaf[q] and leaf[r]:
            for i in range(start[q], end[q]):
                c = labels[i]
                if c == giant:
                    continue
                # the point against the box of r first
                near = 0.0
                for k in range(dims):
                    x = points[i, k]
                    if x < lower[r, k]:
                        near += (lower[r, k] - x) ** 2
                    elif x > upper[r, k]:
                        near += (x - upper[r, k]) ** 2
                if near >= best[c]:
                    continue
                for j in range(start[r], end[r]):
                    if labels[j] == c or not usable[j]:
                        continue
                    limit = best[c]
                    d = 0.0
                    for k in range(dims):
                        diff = points[i, k] - points[j, k]
                        d += diff * diff
                        if d >= limit:
                            break
                    if d < limit:
                        best[c] = d
                        source[c] = i
                        target[c] = j
            # bounds of q and its mixed ancestors, from their children
            if comp[q] == -1:
                largest = 0.0
                for i in range(start[q], end[q]):
                    c = labels[i]
                    if c != giant and best[c] > largest:
                        largest = best[c]
                bound[q] = largest
            node = q
            while node > 0:
                node = (node - 1) // 2
                if comp[node] == -1:
                    bound[node] = max(
                        _query_bound(2 * node + 1, comp, best, bound, giant),
                        _query_bound(2 * node + 2, comp, best, bound, giant),
                    )
            continue
        # split the internal nodes; keep the pairs that may hold a nearer pair, nearest on top of the stack
        n_children = 0
        for a in range(1 if leaf[q] else 2):
            cq = q if leaf[q] else 2 * q + 1 + a
            limit = _query_bound(cq, comp, best, bound, giant)
            if limit < 0.0:
                continue
            for b in range(1 if leaf[r] else 2):
                cr = r if leaf[r] else 2 * r + 1 + b
                if comp[cq] >= 0 and comp[cq] == comp[cr]:
                    continue
                g = _box_gap(lower, upper, cq, cr, limit)
                if g >= limit:
                    continue
                # insertion by decreasing gap
                slot = n_children
                while slot > 0 and child_gap[slot - 1] < g:
                    child_q[slot], child_r[slot], child_gap[slot] = (
                        child_q[slot - 1],
                        child_r[slot - 1],
                        child_gap[slot - 1],
                    )
                    slot -= 1
                child_q[slot], child_r[slot], child_gap[slot] = cq, cr, g
                n_children += 1
        if top + n_children > capacity:
            capacity *= 2
            stack_q = _grown(stack_q, capacity)
            stack_r = _grown(stack_r, capacity)
            stack_gap = _grown(stack_gap, capacity)
        for s in range(n_children):
            stack_q[top], stack_r[top], stack_gap[top] = child_q[s], child_r[s], child_gap[s]
            top += 1
    return source, target, best


@njit(cache=True, nogil=True)
def _grown(array, capacity):
    out = np.empty(capacity, dtype=array.dtype)
    out[: len(array)] = array
    return out
