"""Time and memory of ``pnmf.tl.pnmf`` as cells grow, beside scikit-learn's NMF.

Usage::

    python benchmarks/scaling.py                       # 10k, 30k, 100k cells
    python benchmarks/scaling.py --sizes 300000 1000000 --out benchmarks/results/large.md
    python benchmarks/scaling.py --sizes 10000 --exact 400
    python benchmarks/scaling.py --separated --sizes 50000 200000 --no-sklearn --out benchmarks/results/scaling_separated.md

For each size, synthetic log-normalized counts (2000 genes, ~10 % nonzeros, nested cell
types; ``pnmf.datasets.nested_populations``, seeded) get scanpy's PCA and 15-NN graph,
as a user's AnnData would, and are cached. Then, each in a fresh process so that the
peak resident set size (RSS) is its own:

* ``pnmf.tl.pnmf`` with default settings (k = 20), split into the stages it records;
* scikit-learn's ``NMF`` (coordinate descent, k = 20, NNDSVDa, tol 1e-4) on the same
  cell-normalized matrix, the single-scale fit users already run;
* with ``--separated``: four cell types far enough apart (fold change 8 on their marker
  genes, 3 subtypes each, PCA 30) that the 15-NN graph has four connected components, as
  an atlas of epithelial, immune and stromal cells has: the fit must bridge them;
* with ``--exact N``: the paper's construction on N cells (all pairwise distances, one
  scale per death value) through pnmf's own code path, beside the default.

It prints markdown tables and writes them to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

from _markdown import publish

HERE = Path(__file__).resolve().parent
N_GENES = 2000
N_COMPS = 20
#: ``--separated``: four types whose 15-NN graph falls into four components (set by ``main``).
SEPARATED = False


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far, in GB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def rss_gb() -> float:
    """Current resident set size, in GB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 1024**3


def n_cores() -> int:
    """Cores this process may run on (its CPU affinity), for the report's header."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cache_path(cache: Path, n_cells: int) -> Path:
    return cache / f"{'separated' if SEPARATED else 'populations'}_{n_cells}x{N_GENES}.h5ad"


def worker_prepare(n_cells: int, cache: Path) -> dict:
    import scanpy as sc

    import pnmf

    start = time.perf_counter()
    if SEPARATED:
        adata = pnmf.datasets.nested_populations(
            n_cells, N_GENES, n_types=4, n_subtypes=3, density=0.1, fold_change=8.0, random_state=0
        )
    else:
        adata = pnmf.datasets.nested_populations(n_cells, N_GENES, n_types=6, n_subtypes=4, density=0.1, random_state=0)
    generated = time.perf_counter()
    sc.pp.pca(adata, n_comps=30 if SEPARATED else 50, random_state=0)
    pca = time.perf_counter()
    sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
    neighbors = time.perf_counter()
    cache.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(cache_path(cache, n_cells))
    from scipy.sparse.csgraph import connected_components

    return {
        "knn_components": int(connected_components(adata.obsp["connectivities"], directed=False)[0]),
        "generate_s": generated - start,
        "pca_s": pca - generated,
        "neighbors_s": neighbors - pca,
        "nnz": int(adata.X.nnz),
        "density": adata.X.nnz / (adata.n_obs * adata.n_vars),
    }


def worker_pnmf(n_cells: int, cache: Path, options: dict) -> dict:
    import anndata as ad

    import pnmf

    adata = ad.read_h5ad(cache_path(cache, n_cells))
    if options.get("subsample"):
        import scanpy as sc

        adata = adata[: options["subsample"]].copy()
        sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
    loaded = rss_gb()
    start = time.perf_counter()
    pnmf.tl.pnmf(adata, N_COMPS, **options.get("kwargs", {}))
    wall = time.perf_counter() - start
    manifest = adata.uns["pnmf"]
    return {
        "wall_s": wall,
        "timings": {k: float(v) for k, v in manifest["timings"].items()},
        "graph_weight": float(manifest["params"]["graph_weight"]),
        "peak_rss_gb": peak_rss_gb(),
        "loaded_rss_gb": loaded,
        "n_scales": len(manifest["obsm_keys"]),
        "n_connected": [int(c) for c in manifest["n_connected"]],
        "n_iter": [int(i) for i in manifest["convergence"]["n_iter"]],
        "n_sweeps": int(manifest["convergence"]["n_sweeps"]),
        "objective": float(manifest["convergence"]["objective"]),
        "reconstruction": float(manifest["convergence"]["terms"]["reconstruction"]) / len(manifest["obsm_keys"]),
    }


def worker_sklearn(n_cells: int, cache: Path) -> dict:
    import anndata as ad
    import numpy as np
    from sklearn.decomposition import NMF
    from sklearn.preprocessing import normalize

    adata = ad.read_h5ad(cache_path(cache, n_cells))
    X = normalize(adata.X, norm="l2")  # every cell to unit L2 norm, as pnmf.tl.pnmf(normalize=True)
    loaded = rss_gb()
    model = NMF(N_COMPS, init="nndsvda", solver="cd", tol=1e-4, max_iter=200, random_state=0)
    start = time.perf_counter()
    U = model.fit_transform(X)
    wall = time.perf_counter() - start
    H = model.components_
    cross = float(np.sum((X @ H.T) * U))
    error = float(X.multiply(X).sum()) - 2 * cross + float(np.sum((U.T @ U) * (H @ H.T)))
    return {
        "wall_s": wall,
        "peak_rss_gb": peak_rss_gb(),
        "loaded_rss_gb": loaded,
        "n_iter": int(model.n_iter_),
        "reconstruction": error,
    }


def run_worker(kind: str, n_cells: int, cache: Path, options: dict | None = None) -> dict:
    """Run one measurement in a fresh interpreter and return its JSON result."""
    command = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--n",
        str(n_cells),
        "--cache",
        str(cache),
        "--options",
        json.dumps(options or {}),
        *(["--separated"] if SEPARATED else []),
    ]
    process = subprocess.run(command, capture_output=True, text=True, check=False)
    if process.returncode != 0:
        sys.stderr.write(process.stderr[-3000:])
        msg = f"{kind} worker failed for {n_cells} cells (exit {process.returncode})"
        raise RuntimeError(msg)
    return json.loads(process.stdout.strip().splitlines()[-1])


def scaling_table(sizes: list[int], cache: Path, skip_sklearn: bool) -> str:
    header = (
        "| cells | nonzeros | scanpy PCA + 15-NN (s) | pnmf total (s) | neighbours | persistence | graphs | cross-validation (λ1 chosen) "
        "| init | solve | pnmf peak RSS (GB) | of which input (GB) | sklearn NMF (s) | sklearn peak RSS (GB) "
        "| pnmf / sklearn time | scales | iterations per scale |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    rows = [header]
    for n_cells in sizes:
        prepared = run_worker("prepare", n_cells, cache) if not cache_path(cache, n_cells).exists() else None
        fit = run_worker("pnmf", n_cells, cache)
        single = None if skip_sklearn else run_worker("sklearn", n_cells, cache)
        t = fit["timings"]
        prep = f"{prepared['pca_s'] + prepared['neighbors_s']:.1f}" if prepared else "cached"
        nnz = f"{prepared['nnz']:,}" if prepared else "cached"
        sk_time = f"{single['wall_s']:.1f}" if single else "–"
        sk_rss = f"{single['peak_rss_gb']:.2f}" if single else "–"
        ratio = f"{fit['wall_s'] / single['wall_s']:.2f}" if single else "–"
        weight = f"{t.get('cross-validation', 0.0):.1f} ({fit['graph_weight']:g})"
        rows.append(
            f"| {n_cells:,} | {nnz} | {prep} | {fit['wall_s']:.1f} | {t['neighbors']:.1f} | {t['persistence']:.1f} "
            f"| {t['graphs']:.1f} | {weight} | {t['init']:.1f} | {t['solve']:.1f} | {fit['peak_rss_gb']:.2f} "
            f"| {fit['loaded_rss_gb']:.2f} | {sk_time} | {sk_rss} | {ratio} | {fit['n_scales']} | {fit['n_iter']} |"
        )
        print(rows[-1], file=sys.stderr)
    return "\n".join(rows)


def exact_table(n_cells: int, cache: Path) -> str:
    source = 10_000
    if not cache_path(cache, source).exists():
        run_worker("prepare", source, cache)
    default = run_worker("pnmf", source, cache, {"subsample": n_cells})
    exact = run_worker("pnmf", source, cache, {"subsample": n_cells, "kwargs": {"filtration": "rips", "scales": "all"}})
    rows = [
        "| construction | cells | scales | wall (s) | peak RSS (GB) | reconstruction error ‖X − UWᵀ‖², mean over scales |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, fit in (("default: kNN graph, 8 scales", default), ("paper: all pairs, every death", exact)):
        rows.append(
            f"| {name} | {n_cells} | {fit['n_scales']} | {fit['wall_s']:.1f} | {fit['peak_rss_gb']:.2f} | {fit['reconstruction']:.2f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 30_000, 100_000])
    parser.add_argument(
        "--exact", type=int, default=0, help="also run the paper's exact construction on this many cells (≤ 500)"
    )
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--separated", action="store_true", help="four types whose 15-NN graph has four components")
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "cache")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scaling.md")
    parser.add_argument("--worker", choices=("prepare", "pnmf", "sklearn"), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    global SEPARATED
    SEPARATED = args.separated

    if args.worker:
        options = json.loads(args.options)
        result = {
            "prepare": lambda: worker_prepare(args.n, args.cache),
            "pnmf": lambda: worker_pnmf(args.n, args.cache, options),
            "sklearn": lambda: worker_sklearn(args.n, args.cache),
        }[args.worker]()
        print(json.dumps(result))
        return

    sections = (
        [
            f"## Scaling ({n_cores()} cores, {N_GENES} genes, k = {N_COMPS}"
            + (", four separated types: the 15-NN graph has four components" if SEPARATED else "")
            + ")\n\n"
            + scaling_table(args.sizes, args.cache, args.no_sklearn)
        ]
        if args.sizes
        else []
    )
    if args.exact:
        sections.append("## The paper's exact construction vs the default\n\n" + exact_table(args.exact, args.cache))
    report = "\n\n".join(sections) + "\n"
    publish(report, args.out)


if __name__ == "__main__":
    main()
