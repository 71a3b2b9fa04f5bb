"""The steps after the fit at large sizes: ``pnmf.tl.leiden`` and ``pnmf.tl.umap``, beside ``tl.pnmf``.

Usage::

    python benchmarks/downstream.py --sizes 100000
    python benchmarks/downstream.py --sizes 1000000 --kwargs '{"max_sweeps": 1}' --umap '{"which": ["recommended"]}'

    python benchmarks/downstream.py --sizes 50000 --separated --scanpy --umap '{"which": ["recommended"]}'

(the second wrote ``benchmarks/results/downstream_1m.md`` with ``--out``)

The data are the cached ones of ``benchmarks/scaling.py`` (2000 genes, ~10 % nonzeros,
scanpy's PCA and 15-NN graph). Each size runs in a fresh process, in memory: the fit
(options from ``--kwargs``), then the per-scale clusters with their defaults, then the
per-scale UMAPs with theirs. Wall time of each step, and the peak resident set size (GiB)
of the process when the step ends (a running maximum). ``--separated``: the data of
``scaling.py --separated`` (four separated types). ``--scanpy``: the path a user takes
today for clusters at several resolutions, on the same AnnData in a fresh process of its
own: ``sc.tl.leiden`` at 8 resolutions (0.1 to 2, igraph, on the stored 15-NN graph) and
one ``sc.tl.umap``. ``--warm``: the pnmf path's process first runs ``sc.pp.neighbors`` on the
cells' PCA, untimed, as the session that prepared the data did: the first large search of
a process compiles pynndescent (about 35 s on two cores), and the scanpy path, which reads
the stored graph, searches nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scaling  # noqa: E402
from _markdown import publish  # noqa: E402
from _memory import high_water_mark, reset_high_water_mark  # noqa: E402
from large_data import load_average, prepare  # noqa: E402
from scaling import N_COMPS, cache_path, n_cores  # noqa: E402

RESOLUTIONS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0)


def worker(n_cells: int, cache: Path, kwargs: dict, umap: dict, *, warm: bool = False) -> dict:
    import anndata as ad

    import pnmf

    adata = ad.read_h5ad(cache_path(cache, n_cells))
    if warm:
        warm_up_search(adata)
    steps = {
        "tl.pnmf": lambda: pnmf.tl.pnmf(adata, N_COMPS, **kwargs),
        "tl.leiden": lambda: pnmf.tl.leiden(adata),
        "tl.umap": lambda: pnmf.tl.umap(adata, **umap),
    }
    result = timed(steps)
    summary = adata.uns["pnmf"]["clusters"]["leiden"]
    result["n_clusters"] = [int(n) for n in summary["n_clusters"]]
    result["n_scales"] = len(adata.uns["pnmf"]["obsm_keys"])
    return result


def scanpy_worker(n_cells: int, cache: Path) -> dict:
    """scanpy's Leiden at 8 resolutions and one UMAP, on the stored graph of the same AnnData."""
    import anndata as ad
    import scanpy as sc

    adata = ad.read_h5ad(cache_path(cache, n_cells))
    counts = []

    def leiden() -> None:
        for resolution in RESOLUTIONS:
            sc.tl.leiden(adata, resolution, flavor="igraph", n_iterations=2, directed=False, random_state=0)
            counts.append(len(adata.obs["leiden"].cat.categories))

    result = timed({"sc.tl.leiden ×8": leiden, "sc.tl.umap": lambda: sc.tl.umap(adata, random_state=0)})
    result["n_clusters"] = counts
    result["n_scales"] = len(RESOLUTIONS)
    return result


def warm_up_search(adata) -> None:
    """Search the cells' neighbours on their PCA once, untimed, as the session did before the fit (``sc.pp.neighbors``).

    pynndescent compiles its search on the first large search of a process (about 35 s on
    two cores at 50,000 cells; a search on a few thousand cells does not do it).
    """
    import scanpy as sc

    sc.pp.neighbors(adata.copy(), use_rep="X_pca", random_state=0)


def timed(steps: dict) -> dict:
    """Run the steps in order; the wall time of each, its own peak RSS and the process's peak so far when it ends.

    Each step's peak is the kernel's high-water mark restarted as it starts (:mod:`_memory`),
    which restarts ``getrusage``'s too: the peak so far is the running maximum of the marks.
    """
    result = {}
    so_far = high_water_mark()  # loading the data
    for name, step in steps.items():
        reset_high_water_mark()
        start = time.perf_counter()
        step()
        wall = time.perf_counter() - start
        step_peak = high_water_mark()
        so_far = max(so_far, step_peak)
        result[name] = {"wall_s": wall, "step_peak_rss_gb": step_peak / 2**30, "peak_rss_gb": so_far / 2**30}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000])
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "cache")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "downstream.md")
    parser.add_argument("--kwargs", default="{}", help="options of tl.pnmf, as JSON (e.g. '{\"max_sweeps\": 1}')")
    parser.add_argument("--umap", default="{}", help="options of tl.umap, as JSON")
    parser.add_argument("--separated", action="store_true", help="the separated data of scaling.py --separated")
    parser.add_argument("--scanpy", action="store_true", help="also scanpy's Leiden at 8 resolutions and one UMAP")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="compile pynndescent's search first, as sc.pp.neighbors in the session would",
    )
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--scanpy-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    scaling.SEPARATED = args.separated
    if args.worker:
        print(
            json.dumps(worker(args.worker, args.cache, json.loads(args.kwargs), json.loads(args.umap), warm=args.warm))
        )
        return
    if args.scanpy_worker:
        print(json.dumps(scanpy_worker(args.scanpy_worker, args.cache)))
        return

    rows = [
        "| cells | scales | step | wall (s) | peak RSS in the step (GB) | peak RSS so far (GB) | clusters per scale "
        "| load average before |",
        "|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for n_cells in args.sizes:
        prepare(n_cells, args.cache)
        command = [sys.executable, __file__, "--cache", str(args.cache)]
        command += ["--separated"] * args.separated + ["--warm"] * args.warm
        paths = [["--worker", str(n_cells), "--kwargs", args.kwargs, "--umap", args.umap]]
        paths += [["--scanpy-worker", str(n_cells)]] * args.scanpy
        for path in paths:
            load = load_average()
            process = subprocess.run([*command, *path], capture_output=True, text=True, check=False)
            if process.returncode != 0:
                sys.stderr.write(process.stderr[-3000:])
                raise SystemExit(f"the run on {n_cells} cells failed (exit {process.returncode})")
            result = json.loads(process.stdout.strip().splitlines()[-1])
            steps = [step for step in result if step not in ("n_clusters", "n_scales")]
            for step in steps:
                clusters = " ".join(map(str, result["n_clusters"])) if "leiden" in step else ""
                rows.append(
                    f"| {n_cells:,} | {result['n_scales']} | {step} | {result[step]['wall_s']:.1f} "
                    f"| {result[step]['step_peak_rss_gb']:.2f} | {result[step]['peak_rss_gb']:.2f} | {clusters} | {load} |"
                )
                print(rows[-1], file=sys.stderr, flush=True)
            total = sum(result[step]["wall_s"] for step in steps)
            rows.append(f"| {n_cells:,} | | **total** | {total:.1f} | | | | |")
    header = (
        f"## The steps after the fit ({n_cores()} cores, k = {N_COMPS}; tl.pnmf options {args.kwargs}, "
        f"tl.umap options {args.umap})\n\n"
    )
    publish(header + "\n".join(rows) + "\n", args.out)


if __name__ == "__main__":
    main()
