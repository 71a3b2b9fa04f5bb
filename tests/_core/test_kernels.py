"""The compiled kernels: the same bits for any thread count, safe from two Python threads, fair on busy machines."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

import pnmf
from pnmf._core import kernels
from pnmf._core.graphs import scale_graph
from pnmf._core.persistence import EdgeList

THREADS = sorted({1, kernels.max_threads()})


def ring_graph(n):
    """A ring: two or three colour classes of about n / 2 cells, large enough for parallel regions."""
    rows = np.arange(n, dtype=np.int64)
    cols = (rows + 1) % n
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    return scale_graph(EdgeList(n, lo, hi, np.full(n, 0.5)), 1.0)


def run_pass(graph, U, rng, min_work):
    k = U.shape[1]
    linear, gram = rng.random((U.shape[0], k)), np.eye(k) + 0.1
    moved = np.zeros(U.shape[0])
    kernels._embedding_pass(
        U,
        linear,
        gram,
        graph.starts,
        graph.stops,
        graph.edges.indices,
        graph.edge_weights(),
        graph.degree,
        3.0,
        np.full(U.shape[0], 0.5),
        graph.order,
        graph.color_starts,
        moved,
        np.zeros(k),
        min_work,
    )
    return moved


def products(X, dense_w, dense_u, min_work, scale=kernels._NO_SCALE):
    product = np.zeros((X.shape[0], dense_w.shape[1]))
    round32 = X.dtype == np.float32
    kernels._csr_times_dense(X.indptr, X.indices, X.data, scale, round32, dense_w, product, min_work)
    partial = np.zeros((kernels.TRANSPOSE_CHUNKS, X.shape[1], dense_u.shape[1]))
    kernels._csr_transpose_times_dense(X.indptr, X.indices, X.data, scale, round32, dense_u, partial, min_work)
    return product, partial


@pytest.mark.parametrize("min_work", [0, 2**62], ids=["parallel", "serial"])
def test_kernels_give_the_same_bits_for_any_thread_count(min_work):
    rng = np.random.default_rng(0)
    X = sparse.random(3000, 800, density=0.1, format="csr", random_state=1, dtype=np.float32)
    dense_w, dense_u = rng.random((800, 10)), rng.random((3000, 10))
    graph = ring_graph(20_000)
    outputs = []
    for threads in THREADS:
        with kernels.kernel_threads(threads):
            with kernels._parallel():
                U = np.random.default_rng(2).random((20_000, 10))
                moved = run_pass(graph, U, np.random.default_rng(3), min_work)
                product, partial = products(X, dense_w, dense_u, min_work)
                scaled = products(X, dense_w, dense_u, min_work, scale=np.linspace(0.5, 2.0, X.shape[0]))
        outputs.append((U, moved, product, partial, *scaled))
    for other in outputs[1:]:
        for a, b in zip(outputs[0], other, strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(outputs[0][2], X @ dense_w, rtol=1e-10)
    np.testing.assert_allclose(outputs[0][3].sum(axis=0), X.T @ dense_u, rtol=1e-10)


def test_parallel_and_serial_classes_give_the_same_bits():
    graph = ring_graph(20_000)
    results = []
    for min_work in (0, 2**62):
        U = np.random.default_rng(2).random((20_000, 10))
        results.append((U, run_pass(graph, U, np.random.default_rng(3), min_work)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("min_work", [0, 2**62], ids=["parallel", "serial"])
def test_combined_edge_weights_are_numpys_combination_bit_for_bit(min_work):
    """One pass over the entries gives the numbers of filling both weights and combining them with NumPy."""
    rng = np.random.default_rng(4)
    graph = scale_graph(
        EdgeList.from_pairs(3000, rng.integers(0, 3000, 9000), rng.integers(0, 3000, 9000), rng.random((3000, 3))), 0.3
    )
    starts, stops, indices, lengths, inv_width, scaling = graph.kernel_arrays
    bulk_scaling = np.where(rng.random(3000) < 0.4, 0.0, scaling)
    own, bulk = np.zeros(len(indices)), np.zeros(len(indices))
    kernels._fill_edge_weights(starts, stops, indices, lengths, inv_width, scaling, own, min_work)
    kernels._fill_edge_weights(starts, stops, indices, lengths, inv_width, bulk_scaling, bulk, min_work)
    expected = own * 7.0 + 2.5 * bulk
    combined = np.full(len(indices), np.nan)  # entries no row keeps stay as they are
    kernels._fill_combined_weights(
        starts, stops, indices, lengths, inv_width, scaling, bulk_scaling, 7.0, 2.5, combined, min_work
    )
    kept = np.zeros(len(indices), dtype=bool)
    for i in range(3000):
        kept[starts[i] : stops[i]] = True
    assert 0 < kept.sum() < len(indices)
    np.testing.assert_array_equal(combined[kept], expected[kept])
    assert np.isnan(combined[~kept]).all()


def test_n_jobs_gives_bitwise_identical_results(populations):
    runs = [
        pnmf.tl.pnmf(populations, 4, n_scales=3, max_iter=10, max_sweeps=1, n_jobs=n_jobs, copy=True)
        for n_jobs in (None, 1, -1)
    ]
    for run in runs[1:]:
        for name in runs[0].uns["pnmf"]["obsm_keys"]:
            np.testing.assert_array_equal(run.obsm[name], runs[0].obsm[name])


@pytest.mark.parametrize(
    ("n_jobs", "error", "match"),
    [
        (0, ValueError, "n_jobs=0 is invalid"),
        (-2, ValueError, "n_jobs=-2"),
        (True, TypeError, "n_jobs must be"),
        (1.5, TypeError, "n_jobs must be"),
        ("2", TypeError, "n_jobs must be"),
    ],
)
def test_bad_n_jobs_is_refused(populations, n_jobs, error, match):
    with pytest.raises(error, match=match):
        pnmf.tl.pnmf(populations, 3, n_jobs=n_jobs)


def test_kernel_threads_restores_numba_setting():
    import numba

    before = numba.get_num_threads()
    with kernels.kernel_threads(1), kernels._parallel():
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


def test_free_cores_drop_to_one_while_every_core_is_busy():
    loop = "import time\nend = time.monotonic() + 20\nwhile time.monotonic() < end:\n    pass\n"
    busy = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(os.cpu_count() or 1)]
    try:
        monitor = kernels._FreeCores()
        time.sleep(0.5)
        monitor.update()
        time.sleep(monitor.INTERVAL + 0.5)
        assert monitor.update() < 1.5
    finally:
        for process in busy:
            process.kill()
            process.wait()


SCRIPT = textwrap.dedent(
    """
    import threading, warnings
    import numba
    from pnmf._core import kernels

    # start the requested layer now: importing pynndescent (sc.pp.neighbors) turns an
    # explicit 'omp' into 'workqueue' when TBB is missing
    layer = kernels._threading_layer()
    import numpy as np
    import scanpy as sc
    from scipy import sparse
    import pnmf

    warnings.simplefilter("ignore")
    X = sparse.random(3000, 800, density=0.1, format="csr", random_state=1)
    W = np.random.default_rng(0).random((800, 10))
    adata = pnmf.datasets.nested_populations(300, 200, random_state=0)
    sc.pp.pca(adata, n_comps=10, random_state=0)
    sc.pp.neighbors(adata, n_neighbors=10, random_state=0)
    results, errors = {}, []

    def work(name):
        try:
            for _ in range(20):  # products large enough to open parallel regions
                kernels.csr_times_dense(X.indptr, X.indices, X.data, W)
            run = pnmf.tl.pnmf(adata, 4, n_scales=3, max_iter=20, max_sweeps=2, copy=True)
            results[name] = run.obsm["X_pnmf_0"]
        except BaseException as error:
            errors.append(repr(error))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    np.testing.assert_array_equal(results[0], results[1])
    print("layer", numba.threading_layer())
    """
)


def _layer_available(layer):
    probe = "from numba import njit, prange\n@njit(parallel=True)\ndef f(n):\n    s = 0\n    for i in prange(n):\n        s += i\n    return s\nf(4)\n"
    env = {**os.environ, "NUMBA_THREADING_LAYER": layer}
    return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, check=False).returncode == 0


@pytest.mark.parametrize("layer", ["workqueue", "omp", "tbb"])
def test_two_threads_calling_pnmf_at_once(layer, tmp_path):
    if not _layer_available(layer):
        pytest.skip(f"numba's {layer} threading layer is not installed here")
    source = str(Path(pnmf.__file__).parents[1])  # the pnmf under test, wherever the subprocess runs
    path = os.pathsep.join([source, *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "NUMBA_THREADING_LAYER": layer, "PYTHONPATH": path}
    process = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=False, cwd=tmp_path, timeout=600
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert f"layer {layer}" in process.stdout


# The public kernels against scipy and a plain NumPy reference


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 7])
def test_sparse_products_equal_scipys(dtype, k):
    rng = np.random.default_rng(4)
    X = sparse.random(300, 90, density=0.05, format="csr", random_state=5, dtype=dtype)
    X = sparse.csr_matrix(X.multiply(rng.random((300, 1)) > 0.2))  # some empty rows
    dense_w, dense_u = rng.random((90, k)), rng.random((300, k))
    product = kernels.csr_times_dense(X.indptr, X.indices, X.data, dense_w)
    transposed = kernels.csr_transpose_times_dense(X.indptr, X.indices, X.data, dense_u, 90)
    assert product.dtype == transposed.dtype == np.float64
    np.testing.assert_allclose(product, X.astype(np.float64) @ dense_w, rtol=1e-12)
    np.testing.assert_allclose(transposed, X.T.astype(np.float64) @ dense_u, rtol=1e-12)


def test_sparse_products_of_an_empty_matrix_are_zero():
    X = sparse.csr_matrix((4, 3))
    np.testing.assert_array_equal(kernels.csr_times_dense(X.indptr, X.indices, X.data, np.ones((3, 2))), 0.0)
    np.testing.assert_array_equal(
        kernels.csr_transpose_times_dense(X.indptr, X.indices, X.data, np.ones((4, 2)), 3), 0.0
    )


def test_greedy_colouring_is_proper_and_uses_at_most_max_degree_plus_one_colours():
    A = sparse.random(200, 200, density=0.03, format="csr", random_state=6)
    A = sparse.csr_matrix(((A + A.T) > 0).astype(np.float64))
    A.setdiag(0)
    A.eliminate_zeros()
    colors = kernels.greedy_coloring(A.indptr[:-1], A.indptr[1:], A.indices)
    coo = A.tocoo()
    assert (colors[coo.row] != colors[coo.col]).all()
    assert colors.max() + 1 <= np.diff(A.indptr).max() + 1


def test_embedding_pass_is_sequential_coordinate_descent():
    rng = np.random.default_rng(7)
    edges = EdgeList.from_pairs(30, rng.integers(0, 30, 80), rng.integers(0, 30, 80), rng.random((30, 2)))
    graph = scale_graph(edges, 0.5)
    k, graph_weight = 3, 2.0
    diagonal = rng.uniform(0.1, 2.0, 30)  # per cell: the coupling to adjacent scales differs between cells
    U, linear = rng.random((30, k)), rng.random((30, k))
    gram = np.eye(k) + 0.2
    # reference: exact minimization of each entry in turn, cells in the kernel's order
    expected = U.copy()
    A = graph.adjacency.toarray()
    for i in graph.order:
        for j in range(k):
            numerator = (
                linear[i, j]
                - gram[j] @ expected[i]
                + gram[j, j] * expected[i, j]
                + graph_weight * A[i] @ expected[:, j]
            )
            expected[i, j] = max(numerator / (gram[j, j] + diagonal[i] + graph_weight * graph.degree[i]), 0.0)
    moved = kernels.embedding_pass(
        U,
        linear,
        gram,
        graph.starts,
        graph.stops,
        graph.edges.indices,
        graph.edge_weights(),
        graph.degree,
        graph_weight,
        diagonal,
        graph.order,
        graph.color_starts,
    )
    np.testing.assert_allclose(U, expected, rtol=1e-10, atol=1e-12)
    assert moved > 0
