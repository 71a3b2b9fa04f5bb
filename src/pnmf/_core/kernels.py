"""Compiled inner loops of the solver (numba; compiled once and cached on disk).

They run on validated, finite data, so ``fastmath`` (reassociation, vectorized
reductions) is safe; results are identical from run to run on one machine, and for any
number of threads.

Parallel regions are few and large. Every parallel region is a rendezvous of all threads;
on a machine whose cores are busy with other processes a thread that the scheduler has
parked makes the others wait a time slice (milliseconds), however little work the region
holds. So a loop runs in parallel only when its work (multiply-adds) reaches
:data:`PARALLEL_MIN_WORK`, which costs milliseconds serially; smaller ones run on the
calling thread. The choice depends on the data only, never on the thread count, so the
arithmetic, and hence the result, is the same with one thread or many.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numba
import numpy as np
from numba import njit, prange

__all__ = [
    "PARALLEL_MIN_WORK",
    "TRANSPOSE_CHUNKS",
    "GraphArrays",
    "csr_times_dense",
    "csr_transpose_times_dense",
    "embedding_pass",
    "fill_combined_weights",
    "fill_edge_weights",
    "graph_roughness",
    "graph_times_dense",
    "greedy_coloring",
    "index_dtype",
    "kernel_threads",
    "max_threads",
    "resolve_threads",
    "row_stops",
    "weighted_roughness",
]


def index_dtype(n: int) -> type[np.signedinteger]:
    """Return the integer type of indices below ``n`` (and -1): 32 bits where they fit.

    The graphs and the coarse levels are held for a whole solve, and their indices take half
    of them: at 100,000 cells the coarse levels of 8 scales took 797 bytes per cell with 64-bit
    indices and take 582 with these (the fit's peak at 300,000 cells: 2.36 → 2.33 GB).
    """
    return np.int32 if n < np.iinfo(np.int32).max else np.int64


#: Row chunks of a transposed product. Fixed, not the thread count, so that the partial sums,
#: and hence the result, are the same on every machine and every run.
TRANSPOSE_CHUNKS = 16
#: Multiply-adds below which a loop runs on the calling thread, not in a parallel region
#: (about 1 ms of work: a parallel region costs ~10 µs on an idle machine, a time slice on a busy one).
PARALLEL_MIN_WORK = 2_000_000

# numba's 'workqueue' threading layer (its fallback without OpenMP or TBB) aborts the
# process when two threads launch parallel regions at once; kernels then take this lock.
_WORKQUEUE_LOCK = threading.Lock()
_LAYER: list[str] = []


# Kernels with ``parallel=True`` contain nothing but their loops: numba would turn array
# expressions (np.zeros, +=, .sum()) into parallel regions of their own, and a parallel sum
# depends on the thread count. Outputs are allocated, and reductions done, by the callers.


@njit(cache=True, parallel=True, nogil=True, fastmath=True)
def _csr_times_dense(indptr, indices, data, scale, round32, dense, out, min_work) -> None:
    n_rows = len(indptr) - 1
    if len(data) * dense.shape[1] >= min_work:
        for i in prange(n_rows):
            _row_times_dense(i, indptr, indices, data, scale, round32, dense, out)
    else:
        for i in range(n_rows):
            _row_times_dense(i, indptr, indices, data, scale, round32, dense, out)


@njit(inline="always", nogil=True, fastmath=True)
def _scaled_value(value, i, scale, round32) -> float:
    """Return a stored value times its row's factor (none when ``scale`` is empty), rounded to float32 if asked.

    The rounding makes the value the one a scaled copy in float32 would hold, so that a
    matrix scaled here and one scaled in a copy give the same products.
    """
    if len(scale) == 0:
        return np.float64(value)
    scaled = np.float64(value) * scale[i]
    if round32:
        return np.float64(np.float32(scaled))
    return scaled


@njit(inline="always", nogil=True, fastmath=True)
def _row_times_dense(i, indptr, indices, data, scale, round32, dense, out) -> None:
    k = dense.shape[1]
    for p in range(indptr[i], indptr[i + 1]):
        value = _scaled_value(data[p], i, scale, round32)
        row = indices[p]
        for j in range(k):
            out[i, j] += value * dense[row, j]


@njit(cache=True, parallel=True, nogil=True, fastmath=True)
def _csr_transpose_times_dense(indptr, indices, data, scale, round32, dense, partial, min_work) -> None:
    n_rows = len(indptr) - 1
    n_chunks = partial.shape[0]
    step = (n_rows + n_chunks - 1) // n_chunks
    if len(data) * dense.shape[1] >= min_work:
        for chunk in prange(n_chunks):
            _chunk_transpose_times_dense(chunk, step, indptr, indices, data, scale, round32, dense, partial[chunk])
    else:
        for chunk in range(n_chunks):
            _chunk_transpose_times_dense(chunk, step, indptr, indices, data, scale, round32, dense, partial[chunk])


@njit(inline="always", nogil=True, fastmath=True)
def _chunk_transpose_times_dense(chunk, step, indptr, indices, data, scale, round32, dense, out) -> None:
    n_rows = len(indptr) - 1
    k = dense.shape[1]
    for i in range(chunk * step, min((chunk + 1) * step, n_rows)):
        source = dense[i]
        for p in range(indptr[i], indptr[i + 1]):
            value = _scaled_value(data[p], i, scale, round32)
            target = out[indices[p]]
            for j in range(k):
                target[j] += value * source[j]


#: A scale's graph as the kernels read it: ``(starts, stops, indices, lengths, inv_width, scaling)``.
GraphArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]


def _graph_arguments(graph: GraphArrays) -> GraphArrays:
    """Return ``graph`` with ``inv_width`` as a float (one compiled signature)."""
    starts, stops, indices, lengths, inv_width, scaling = graph
    return starts, stops, indices, lengths, float(inv_width), scaling


#: ``scale`` of an unscaled matrix.
_NO_SCALE = np.empty(0)


def _row_scaling(data: np.ndarray, scale: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """Return the kernels' row factors (an empty array: none) and whether scaled values round to float32."""
    return (_NO_SCALE if scale is None else scale), data.dtype == np.float32


def csr_times_dense(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, dense: np.ndarray, scale: np.ndarray | None = None
) -> np.ndarray:
    """Multiply a CSR matrix ``A``, given by its arrays, by a dense matrix, accumulating in float64.

    Rows are independent, so they are split across threads (when the product is large
    enough to be worth a parallel region); each reads its nonzeros once. With ``scale``,
    row i of A is multiplied by ``scale[i]`` as it is read (in float32 when ``data`` is:
    the product is that of the scaled matrix stored in ``data``'s dtype).
    """
    out = np.zeros((len(indptr) - 1, dense.shape[1]))
    with _parallel():
        _csr_times_dense(indptr, indices, data, *_row_scaling(data, scale), dense, out, PARALLEL_MIN_WORK)
    return out


def csr_transpose_times_dense(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    dense: np.ndarray,
    n_cols: int,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """Compute ``Aᵀ @ dense`` for a CSR matrix ``A`` (rows × n_cols) without transposing it; ``scale`` as in :func:`csr_times_dense`.

    Streams over the rows of A and of ``dense`` in order and accumulates into a small
    n_cols × k output, which stays in cache; reading ``dense`` through a transposed CSR
    instead jumps across it at random and becomes several times slower once it outgrows
    the cache. Each of ``TRANSPOSE_CHUNKS`` row chunks has its own partial sum; the partial
    sums are added in a fixed order.
    """
    partial = np.zeros((TRANSPOSE_CHUNKS, n_cols, dense.shape[1]))
    with _parallel():
        _csr_transpose_times_dense(indptr, indices, data, *_row_scaling(data, scale), dense, partial, PARALLEL_MIN_WORK)
    result = np.zeros((n_cols, dense.shape[1]))
    for chunk in partial:  # in a fixed order
        result += chunk
    return result


@njit(cache=True)
def greedy_coloring(starts: np.ndarray, stops: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Colour the nodes of a graph so that no edge joins two nodes of the same colour.

    Node i's neighbours are ``indices[starts[i]:stops[i]]``. Greedy in node order: each
    node takes the smallest colour none of its coloured neighbours has. Uses at most max
    degree + 1 colours.
    """
    n = len(starts)
    colors = np.full(n, -1, dtype=np.int64)
    seen = np.full(n + 1, -1, dtype=np.int64)  # seen[c] == i: colour c is taken around node i
    for i in range(n):
        for p in range(starts[i], stops[i]):
            c = colors[indices[p]]
            if c >= 0:
                seen[c] = i
        color = 0
        while seen[color] == i:
            color += 1
        colors[i] = color
    return colors


@njit(cache=True)
def row_stops(indptr: np.ndarray, keys: np.ndarray, threshold: float, out: np.ndarray) -> None:
    """``out[i]``: the end of row i's entries with ``keys < threshold`` (each row's keys sorted ascending)."""
    for i in range(len(indptr) - 1):
        lo, hi = indptr[i], indptr[i + 1]
        while lo < hi:  # bisection: the first entry of the row at or above the threshold
            mid = (lo + hi) // 2
            if keys[mid] < threshold:
                lo = mid + 1
            else:
                hi = mid
        out[i] = lo


@njit(inline="always", nogil=True, fastmath=True)
def _edge_weight(p, i, indices, lengths, inv_width, scaling):
    """Return the weight of entry p (row i) of a scale's graph: ``exp(-(length / ε)²) / sqrt(D_i D_j)``."""
    x = lengths[p] * inv_width
    return np.exp(-x * x) * scaling[i] * scaling[indices[p]]


@njit(cache=True, parallel=True, nogil=True, fastmath=True)
def _fill_edge_weights(starts, stops, indices, lengths, inv_width, scaling, out, min_work) -> None:
    n_rows = len(starts)
    if len(lengths) >= min_work:
        for i in prange(n_rows):
            for p in range(starts[i], stops[i]):
                out[p] = _edge_weight(p, i, indices, lengths, inv_width, scaling)
    else:
        for i in range(n_rows):
            for p in range(starts[i], stops[i]):
                out[p] = _edge_weight(p, i, indices, lengths, inv_width, scaling)


def fill_edge_weights(graph: GraphArrays, out: np.ndarray) -> np.ndarray:
    """Write the weight of every kept entry of ``graph`` (see :func:`graph_times_dense`) into ``out[p]``; return ``out``.

    Entries past a row's stop are left as they are: no kernel reads them.
    """
    with _parallel():
        _fill_edge_weights(*_graph_arguments(graph), out, PARALLEL_MIN_WORK)
    return out


# The same weight as a function of its own: called from a kernel compiled without fastmath, it
# keeps its own arithmetic, and the kernel's products and sums round as NumPy's do.
_called_edge_weight = njit(nogil=True, fastmath=True)(_edge_weight.py_func)


@njit(cache=True, parallel=True, nogil=True)
def _fill_combined_weights(
    starts, stops, indices, lengths, inv_width, scaling, bulk_scaling, weight, bulk_weight, out, min_work
) -> None:
    n_rows = len(starts)
    if len(lengths) >= min_work:  # as in _fill_edge_weights, whose bits it reproduces
        for i in prange(n_rows):
            _combined_row(
                i, starts, stops, indices, lengths, inv_width, scaling, bulk_scaling, weight, bulk_weight, out
            )
    else:
        for i in range(n_rows):
            _combined_row(
                i, starts, stops, indices, lengths, inv_width, scaling, bulk_scaling, weight, bulk_weight, out
            )


@njit(inline="always", nogil=True)
def _combined_row(i, starts, stops, indices, lengths, inv_width, scaling, bulk_scaling, weight, bulk_weight, out):
    for p in range(starts[i], stops[i]):
        edge = _called_edge_weight(p, i, indices, lengths, inv_width, scaling)
        bulk = _called_edge_weight(p, i, indices, lengths, inv_width, bulk_scaling)
        out[p] = edge * weight + bulk_weight * bulk


def fill_combined_weights(
    graph: GraphArrays, bulk_scaling: np.ndarray, weight: float, bulk_weight: float, out: np.ndarray
) -> np.ndarray:
    """Write ``weight · a_p + bulk_weight · b_p`` for every kept entry p of ``graph`` into ``out[p]``; return ``out``.

    ``a_p`` is the entry's weight (:func:`fill_edge_weights`), ``b_p`` its weight with
    ``bulk_scaling`` in place of the graph's scaling: in one pass, the same numbers as
    filling both and combining them with NumPy. Entries past a row's stop are left as they are.
    """
    starts, stops, indices, lengths, inv_width, scaling = _graph_arguments(graph)
    bulk_scaling = np.ascontiguousarray(bulk_scaling, dtype=np.float64)
    with _parallel():
        _fill_combined_weights(
            starts, stops, indices, lengths, inv_width, scaling, bulk_scaling, float(weight), float(bulk_weight), out,
            PARALLEL_MIN_WORK,
        )  # fmt: skip
    return out


def graph_roughness(graph: GraphArrays, degree: np.ndarray, dense: np.ndarray) -> float:
    """Compute ``tr(denseᵀ L dense)`` for a scale's Laplacian ``L = diag(degree) − A`` (see :func:`graph_times_dense`).

    Its edge weights are filled once (one float per entry), then :func:`weighted_roughness`.
    """
    weights = fill_edge_weights(graph, np.zeros(len(graph[2])))
    return weighted_roughness(graph[0], graph[1], graph[2], weights, degree, dense)


@njit(cache=True, parallel=True, nogil=True, fastmath=True)
def _weighted_roughness_rows(starts, stops, indices, weights, degree, dense, out, min_work) -> None:
    n_rows = len(starts)
    k = dense.shape[1]
    if len(weights) * k >= min_work:
        for i in prange(n_rows):
            out[i] = _weighted_row_roughness(i, starts, stops, indices, weights, degree, dense, k)
    else:
        for i in range(n_rows):
            out[i] = _weighted_row_roughness(i, starts, stops, indices, weights, degree, dense, k)


@njit(inline="always", nogil=True, fastmath=True)
def _weighted_row_roughness(i, starts, stops, indices, weights, degree, dense, k) -> float:
    own = 0.0
    for j in range(k):
        own += dense[i, j] * dense[i, j]
    cross = 0.0
    for p in range(starts[i], stops[i]):
        row = indices[p]
        dot = 0.0
        for j in range(k):
            dot += dense[i, j] * dense[row, j]
        cross += weights[p] * dot
    return degree[i] * own - cross


def weighted_roughness(
    starts: np.ndarray,
    stops: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    degree: np.ndarray,
    dense: np.ndarray,
) -> float:
    """Compute ``tr(denseᵀ L dense)`` for ``L = diag(degree) − A``, A's entries given as ``weights[p]``.

    As :func:`graph_roughness`, but from weights already filled (``weights[p]`` for p in
    ``starts[i]:stops[i]``, as :func:`embedding_pass` reads them): no edge weight is computed again.
    """
    out = np.zeros(len(starts))
    with _parallel():
        _weighted_roughness_rows(
            starts,
            stops,
            indices,
            weights,
            degree,
            np.ascontiguousarray(dense, dtype=np.float64),
            out,
            PARALLEL_MIN_WORK,
        )
    return float(out.sum())


@njit(cache=True, parallel=True, nogil=True, fastmath=True)
def _graph_times_dense(starts, stops, indices, lengths, inv_width, scaling, dense, out, min_work) -> None:
    n_rows = len(starts)
    if len(lengths) * dense.shape[1] >= min_work:
        for i in prange(n_rows):
            _graph_row_times_dense(i, starts, stops, indices, lengths, inv_width, scaling, dense, out)
    else:
        for i in range(n_rows):
            _graph_row_times_dense(i, starts, stops, indices, lengths, inv_width, scaling, dense, out)


@njit(inline="always", nogil=True, fastmath=True)
def _graph_row_times_dense(i, starts, stops, indices, lengths, inv_width, scaling, dense, out) -> None:
    k = dense.shape[1]
    for p in range(starts[i], stops[i]):
        w = _edge_weight(p, i, indices, lengths, inv_width, scaling)
        row = indices[p]
        for j in range(k):
            out[i, j] += w * dense[row, j]


def graph_times_dense(graph: GraphArrays, dense: np.ndarray) -> np.ndarray:
    """Compute ``A @ dense`` for a scale's adjacency ``A``, its weights computed from the edge lengths as read.

    ``graph`` is ``(starts, stops, indices, lengths, inv_width, scaling)``: row i's entries
    are ``starts[i]:stops[i]`` of ``indices`` and ``lengths``, and entry p weighs
    ``exp(-(lengths[p] · inv_width)²) · scaling[i] · scaling[indices[p]]``.
    """
    out = np.zeros((len(graph[0]), dense.shape[1]))
    with _parallel():
        _graph_times_dense(
            *_graph_arguments(graph), np.ascontiguousarray(dense, dtype=np.float64), out, PARALLEL_MIN_WORK
        )
    return out


@njit(inline="always", nogil=True, fastmath=True)
def _update_cell(
    i, U, linear, gram_W, starts, stops, indices, weights, degree, graph_weight, diagonal, neighbour_sum
) -> float:
    """Minimize the objective over the k entries of cell i in turn; return the squared move."""
    k = U.shape[1]
    for j in range(k):
        neighbour_sum[j] = 0.0
    for p in range(starts[i], stops[i]):
        w = weights[p]
        row = indices[p]
        for j in range(k):
            neighbour_sum[j] += w * U[row, j]
    curvature_graph = graph_weight * degree[i]
    change = 0.0
    for j in range(k):
        coupled = 0.0
        for other in range(k):
            coupled += gram_W[j, other] * U[i, other]
        old = U[i, j]
        numerator = linear[i, j] - coupled + gram_W[j, j] * old + graph_weight * neighbour_sum[j]
        new = numerator / (gram_W[j, j] + diagonal[i] + curvature_graph)
        if new < 0.0:
            new = 0.0
        U[i, j] = new
        change += (new - old) * (new - old)
    return change


@njit(cache=True, parallel=True, nogil=True, fastmath=True)
def _embedding_pass(
    U: np.ndarray,
    linear: np.ndarray,
    gram_W: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    degree: np.ndarray,
    graph_weight: float,
    diagonal: np.ndarray,
    order: np.ndarray,
    color_starts: np.ndarray,
    moved: np.ndarray,
    scratch: np.ndarray,
    min_work: int,
) -> None:
    k = U.shape[1]
    for c in range(len(color_starts) - 1):
        start, stop = color_starts[c], color_starts[c + 1]
        work = 0
        for position in range(start, stop):
            i = order[position]
            work += stops[i] - starts[i] + k
        if work * k >= min_work:
            for position in prange(start, stop):
                i = order[position]
                neighbour_sum = np.empty(k)
                moved[i] = _update_cell(
                    i, U, linear, gram_W, starts, stops, indices, weights, degree, graph_weight, diagonal, neighbour_sum
                )
        else:
            for position in range(start, stop):
                i = order[position]
                moved[i] = _update_cell(
                    i, U, linear, gram_W, starts, stops, indices, weights, degree, graph_weight, diagonal, scratch
                )


def embedding_pass(
    U: np.ndarray,
    linear: np.ndarray,
    gram_W: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    degree: np.ndarray,
    graph_weight: float,
    diagonal: np.ndarray,
    order: np.ndarray,
    color_starts: np.ndarray,
) -> float:
    """One pass of exact coordinate descent over the cells × factors of ``U`` (in place).

    For cell i and factor j the objective restricted to ``u_ij`` is a 1-D quadratic,

        (G_jj + diagonal_i + λ1 d_i) u² − 2 u (linear_ij − Σ_{l≠j} G_jl u_il + λ1 Σ_n a_in u_nj),

    minimized over u ≥ 0 in closed form. Cell i's neighbours n and weights a_in are
    ``indices[p]`` and ``weights[p]`` for p in ``starts[i]:stops[i]``. Cells are visited colour class by colour class
    (``order[color_starts[c]:color_starts[c + 1]]``): no edge joins two cells of one class,
    so a class is updated in parallel with exactly the result of a sequential sweep, and
    every cell sees the newest values of its neighbours (multicolour Gauss–Seidel). Classes
    with less work than :data:`PARALLEL_MIN_WORK` are updated on the calling thread.

    Returns
    -------
    The squared Frobenius norm of the change of ``U``.
    """
    moved = np.zeros(U.shape[0])
    with _parallel():
        _embedding_pass(
            U,
            linear,
            gram_W,
            starts,
            stops,
            indices,
            weights,
            degree,
            float(graph_weight),
            np.ascontiguousarray(diagonal, dtype=np.float64),
            order,
            color_starts,
            moved,
            np.zeros(U.shape[1]),
            PARALLEL_MIN_WORK,
        )
    return float(moved.sum())


@njit(parallel=True)
def _probe(n: int) -> float:
    total = 0.0
    for i in prange(n):
        total += i
    return total


def _threading_layer() -> str:
    """Return the threading layer numba uses in this process (starting it with a tiny parallel loop)."""
    if not _LAYER:
        with _WORKQUEUE_LOCK:
            if not _LAYER:
                _probe(2)
                _LAYER.append(numba.threading_layer())
    return _LAYER[0]


class _FreeCores:
    """How many cores other processes leave free, from the machine's CPU counters (Linux).

    Busy time of the whole machine (``/proc/stat``) minus this process's own CPU time,
    over the wall time since the previous reading, is the load of everyone else. Read at
    most every :attr:`INTERVAL` seconds; elsewhere than Linux every core counts as free.
    """

    INTERVAL = 0.5

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[float, float, float] | None = None
        self._checked = -np.inf
        self._n_cpus = os.cpu_count() or 1
        self.free = float(self._n_cpus)

    @staticmethod
    def _read() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat", "rb") as handle:
                fields = [int(v) for v in handle.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
        return busy / ticks, time.monotonic(), time.process_time()

    def update(self) -> float:
        """Return the cores free for this process, refreshed when the last reading is old enough."""
        now = time.monotonic()
        if now - self._checked < self.INTERVAL or not self._lock.acquire(blocking=False):
            return self.free
        try:
            self._checked = now
            reading = self._read()
            if reading is not None and self._last is not None:
                busy, wall, own = (a - b for a, b in zip(reading, self._last, strict=True))
                if wall > 0:
                    others = max(busy - own, 0.0) / wall
                    self.free = float(min(max(self._n_cpus - others, 1.0), self._n_cpus))
            self._last = reading
        finally:
            self._lock.release()
        return self.free


_FREE = _FreeCores()
_SETTINGS = threading.local()  # per Python thread: 'threads' (a fixed count) or 'limit' (adaptive)


@contextmanager
def _parallel() -> Iterator[None]:
    """Run one kernel with the threads chosen for this Python thread, serialized where numba needs it.

    Adaptive (the default): as many threads as the cores other processes leave free, at
    most numba's current thread count (or the limit set by :func:`kernel_threads`). Threads
    waiting at a rendezvous for a core that someone else holds are what makes a loaded
    machine slow; the result does not depend on the thread count.
    """
    configured = numba.get_num_threads()
    fixed = getattr(_SETTINGS, "threads", None)
    if fixed is not None:
        threads = fixed
    else:
        limit = getattr(_SETTINGS, "limit", None) or configured
        threads = max(1, min(limit, int(_FREE.update() + 0.5)))
    numba.set_num_threads(min(threads, max_threads()))
    try:
        if _threading_layer() == "workqueue":
            with _WORKQUEUE_LOCK:
                yield
        else:
            yield
    finally:
        numba.set_num_threads(configured)


def max_threads() -> int:
    """Return the most threads numba may use in this process (``NUMBA_NUM_THREADS``, by default the cores)."""
    return int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]  # set at numba's import


def resolve_threads(n_jobs: int | None) -> int | None:
    """Threads for ``n_jobs`` as scanpy counts jobs: ``None`` adaptive, -1 all cores, else that many."""
    if n_jobs is None:
        return None
    if n_jobs == -1:
        return max_threads()
    return min(int(n_jobs), max_threads())


@contextmanager
def kernel_threads(n_jobs: int | None = None, *, limit: int | None = None) -> Iterator[None]:
    """Within the block and on this Python thread, run the kernels with a fixed number of threads.

    ``n_jobs=None`` keeps the adaptive choice (at most ``limit`` threads when given).
    """
    saved = (getattr(_SETTINGS, "threads", None), getattr(_SETTINGS, "limit", None))
    _SETTINGS.threads, _SETTINGS.limit = resolve_threads(n_jobs), limit
    try:
        yield
    finally:
        _SETTINGS.threads, _SETTINGS.limit = saved
