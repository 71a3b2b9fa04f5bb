"""``pnmf.tl.pnmf`` where large data live: in memory, backed (.h5ad on disk), and a Dask array on a cluster.

Usage::

    python benchmarks/large_data.py --sizes 100000 300000 --dask 100000
    python benchmarks/large_data.py --sizes 1000000 --kwargs '{"max_sweeps": 1}' --out benchmarks/results/large_data_1m.md
    python benchmarks/large_data.py --sizes 3000000 --modes backed --out benchmarks/results/large_data_3m.md
    python benchmarks/large_data.py --modes backed --sizes --dask 1000000   # Dask only, against a saved in-memory fit

The data are those of ``benchmarks/scaling.py`` (synthetic log-normalized counts, 2000
genes, ~10 % nonzeros, scanpy's PCA and 15-NN graph), made by its ``prepare`` worker and
cached as an uncompressed .h5ad. Each fit runs in a fresh process, so that its peak
resident set size (RSS) is its own:

* ``memory``: ``anndata.read_h5ad(path)`` then ``pnmf.tl.pnmf(adata, 20)``;
* ``backed``: ``anndata.read_h5ad(path, backed='r')``: X stays in the file and is read by blocks;
* ``dask``: X as a Dask array of CSR blocks read lazily from the same file
  (``anndata.experimental.read_elem_lazy``), the products on a ``LocalCluster`` of 2
  worker processes with 1 thread each; the peak RSS of the client and of each worker.

Each fit's embeddings are compared with the in-memory fit's (largest difference relative
to the largest entry, over every scale), which runs first unless ``--modes`` leaves it out
(sizes too large for memory). The tables are printed and written to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _markdown import publish  # noqa: E402
from scaling import N_COMPS, N_GENES, cache_path, n_cores, peak_rss_gb, rss_gb  # noqa: E402

DASK_BLOCK = 10_000  # cells per Dask block


def load_adata(path: Path, mode: str):
    """The cached AnnData, with X in memory, in the file (backed) or a lazy Dask array."""
    import anndata as ad

    if mode == "memory":
        return ad.read_h5ad(path)
    if mode == "backed":
        return ad.read_h5ad(path, backed="r")
    import h5py
    from anndata.experimental import read_elem_lazy
    from anndata.io import read_elem

    handle = h5py.File(path, "r")
    parts = {name: read_elem(handle[name]) for name in ("obs", "var", "obsm", "obsp", "uns")}
    return ad.AnnData(X=read_elem_lazy(handle["X"], chunks=(DASK_BLOCK, -1)), **parts)


def worker_fit(n_cells: int, cache: Path, mode: str, save: Path | None, kwargs: dict) -> dict:
    import numpy as np

    import pnmf

    client = cluster = None
    if mode == "dask":
        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    adata = load_adata(cache_path(cache, n_cells), mode)
    loaded = rss_gb()
    start = time.perf_counter()
    pnmf.tl.pnmf(adata, N_COMPS, **kwargs)
    wall = time.perf_counter() - start
    manifest = adata.uns["pnmf"]
    embeddings = [np.asarray(adata.obsm[k]) for k in manifest["obsm_keys"]]
    result = {
        "wall_s": wall,
        "timings": {k: float(v) for k, v in manifest["timings"].items()},
        "peak_rss_gb": peak_rss_gb(),
        "loaded_rss_gb": loaded,
        "objective": float(manifest["convergence"]["objective"]),
        "n_iter": [int(i) for i in manifest["convergence"]["n_iter"]],
        "n_sweeps": int(manifest["convergence"]["n_sweeps"]),
        "graph_weight": float(manifest["params"]["graph_weight"]),
    }
    if client is not None:

        def worker_peak() -> float:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

        result["worker_peak_rss_gb"] = list(client.run(worker_peak).values())
        client.close()
        cluster.close()
    reference_path = cache / f"embeddings_{n_cells}_memory.npz"
    if save is not None:
        np.savez(save, *embeddings)
    elif reference_path.exists():  # the in-memory fit of this size ran before
        reference = np.load(reference_path)
        result["max_rel_diff"] = max(
            float(np.abs(e - reference[f"arr_{i}"]).max() / np.abs(reference[f"arr_{i}"]).max())
            for i, e in enumerate(embeddings)
        )
    return result


def run_worker(n_cells: int, cache: Path, mode: str, kwargs: dict | None = None) -> dict:
    """Run one fit in a fresh interpreter and return its JSON result."""
    command = [sys.executable, __file__, "--worker", mode, "--n", str(n_cells), "--cache", str(cache)]
    command += ["--kwargs", json.dumps(kwargs or {})]
    process = subprocess.run(command, capture_output=True, text=True, check=False)
    if process.returncode != 0:
        sys.stderr.write(process.stderr[-3000:])
        msg = f"{mode} fit failed for {n_cells} cells (exit {process.returncode})"
        raise RuntimeError(msg)
    return json.loads(process.stdout.strip().splitlines()[-1])


def prepare(n_cells: int, cache: Path) -> None:
    if not cache_path(cache, n_cells).exists():
        command = [sys.executable, str(HERE / "scaling.py"), "--worker", "prepare", "--n", str(n_cells)]
        subprocess.run([*command, "--cache", str(cache)], check=True, capture_output=True)


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def table(sizes: list[int], dask_sizes: list[int], modes: list[str], cache: Path, kwargs: dict) -> str:
    rows = [
        "| cells | X | wall (s) | vs memory | solve (s) | cross-validation (s) | init (s) | expression (s) "
        "| peak RSS (GB) | after loading (GB) | Dask workers' peak RSS (GB) | λ1 | iterations per scale | sweeps "
        "| objective | max rel. diff. of embeddings | load average before |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|---:|---|",
    ]
    for n_cells in sorted(set(sizes) | set(dask_sizes)):
        prepare(n_cells, cache)
        wanted = [m for m in ("memory", "backed") if m in modes and n_cells in sizes]
        if n_cells in dask_sizes:
            wanted.append("dask")
        reference = None
        # the in-memory fit first, as the reference of the others (unless --modes leaves it out)
        for mode in ["memory", *[m for m in wanted if m != "memory"]] if "memory" in modes else wanted:
            load = load_average()
            fit = run_worker(n_cells, cache, mode, kwargs)
            reference = fit if mode == "memory" else reference
            t = fit["timings"]
            workers = ", ".join(f"{v:.2f}" for v in fit.get("worker_peak_rss_gb", [])) or "–"
            diff = f"{fit['max_rel_diff']:.1e}" if "max_rel_diff" in fit else "reference" if mode == "memory" else "–"
            ratio = fit["wall_s"] / reference["wall_s"] if reference else float("nan")
            rows.append(
                f"| {n_cells:,} | {mode} | {fit['wall_s']:.1f} | {ratio:.2f} | {t['solve']:.1f} "
                f"| {t.get('cross-validation', float('nan')):.1f} | {t['init']:.1f} | {t['expression']:.1f} "
                f"| {fit['peak_rss_gb']:.2f} | {fit['loaded_rss_gb']:.2f} | {workers} | {fit['graph_weight']:g} "
                f"| {' '.join(map(str, fit['n_iter']))} | {fit['n_sweeps']} | {fit['objective']:.6f} | {diff} | {load} |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000])
    parser.add_argument("--dask", type=int, nargs="*", default=[], help="sizes to also fit with a Dask array")
    parser.add_argument("--modes", nargs="*", default=["memory", "backed"], choices=("memory", "backed"))
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "cache")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "large_data.md")
    parser.add_argument("--worker", choices=("memory", "backed", "dask"), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--kwargs", default="{}", help="options of every fit, as JSON (e.g. '{\"max_sweeps\": 1}')")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    if args.worker:
        save = args.cache / f"embeddings_{args.n}_memory.npz" if args.worker == "memory" else None
        print(json.dumps(worker_fit(args.n, args.cache, args.worker, save, json.loads(args.kwargs))))
        return

    report = (
        f"## tl.pnmf in memory, backed and on Dask ({n_cores()} cores, {N_GENES} genes, k = {N_COMPS})\n\n"
        + table(args.sizes, args.dask, args.modes, args.cache, json.loads(args.kwargs))
        + "\n"
    )
    publish(report, args.out)


if __name__ == "__main__":
    main()
