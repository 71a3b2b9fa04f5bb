"""What ``batch_key`` costs: a fit with 10 batches against a single-batch fit of the same cells.

Usage::

    python benchmarks/integration_cost.py [--n-cells 100000] [--n-batches 10] [--warm] [--out results/integration_cost.md]

Synthetic counts (``pnmf.datasets.nested_populations``: 5 types × 3 subtypes, 2,000 genes,
``n_batches`` batches with a per-gene technical factor of log-sd 0.5), PCA with 30
components and a 15-NN graph from ``sc.pp.neighbors`` are prepared once and cached. Each
fit then runs in a fresh process (its peak resident memory is its own), with the defaults:

- ``tl.pnmf(adata)``: reads the stored 15-NN graph, as a single-batch session does;
- ``tl.pnmf(adata, batch_key="batch")``: builds the batch-balanced graph (exact search
  up to 50 million cell pairs per batch, pynndescent above), fits, and averages every scale's
  embedding (8 rounds).

The table gives the wall time of each fit and of its stages (the manifest's ``timings``), and
its peak RSS. pynndescent compiles its search on a process's first large search (tens of
seconds), which the balanced graph's search pays and the stored graph does not; ``--warm``
runs ``sc.pp.neighbors`` first in each process, untimed, as the session that computed the
PCA and the graph did.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def prepare(n_cells: int, n_batches: int, cache: Path) -> Path:
    import scanpy as sc

    import pnmf

    path = cache / f"integration_cost_{n_cells}_{n_batches}.h5ad"
    if not path.exists():
        adata = pnmf.datasets.nested_populations(
            n_cells, 2000, n_types=5, n_subtypes=3, n_batches=n_batches, batch_effect=0.5, random_state=0
        )
        sc.pp.pca(adata, n_comps=30, random_state=0)
        sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
        cache.mkdir(parents=True, exist_ok=True)
        adata.write_h5ad(path)
    return path


def worker(path: str, batch_key: str | None, *, warm: bool) -> None:
    """Fit once in this process and print the wall time, the stages and the peak RSS as JSON.

    ``warm``: first run ``sc.pp.neighbors`` on the PCA, untimed, as the session that
    prepared the data did, so that pynndescent's one-off compilation is not timed.
    """
    import resource

    import anndata as ad
    import scanpy as sc

    import pnmf

    adata = ad.read_h5ad(path)
    if warm:
        sc.pp.neighbors(adata.copy(), n_neighbors=15, random_state=0)
    start = time.perf_counter()
    pnmf.tl.pnmf(adata, batch_key=batch_key)
    wall = time.perf_counter() - start
    timings = {k: float(v) for k, v in adata.uns["pnmf"]["timings"].items()}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(json.dumps({"wall": wall, "timings": timings, "peak_gb": peak}))


def run(path: Path, batch_key: str | None, *, warm: bool) -> dict:
    args = [sys.executable, __file__, "--worker", str(path)] + (["--batch-key", batch_key] if batch_key else [])
    args += ["--warm"] if warm else []
    output = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-cells", type=int, default=100_000)
    parser.add_argument("--n-batches", type=int, default=10)
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "cache")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "integration_cost.md")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batch-key", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--warm", action="store_true", help="run sc.pp.neighbors first in each process, untimed (as a session would)"
    )
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.batch_key, warm=args.warm)
        return
    from _markdown import publish

    path = prepare(args.n_cells, args.n_batches, args.cache)
    plain, batched = run(path, None, warm=args.warm), run(path, "batch", warm=args.warm)
    stages = ["inputs", "neighbors", "persistence", "graphs", "init", "cross-validation", "solve", "integration"]
    lines = [
        f"# batch_key at {args.n_cells:,} cells in {args.n_batches} batches",
        "",
        "Made by `benchmarks/integration_cost.py`; each fit in a process of its own"
        + (", after an untimed `sc.pp.neighbors` there (pynndescent compiled, as in a session)." if args.warm else "."),
        "",
        "| fit | wall (s) | " + " | ".join(stages) + " | peak RSS (GB) |",
        "|---|" + "---:|" * (len(stages) + 2),
    ]
    for name, fit in [("single batch (stored 15-NN graph)", plain), ("batch_key='batch'", batched)]:
        cells = " | ".join(f"{fit['timings'].get(s, 0.0):.1f}" for s in stages)
        lines.append(f"| {name} | {fit['wall']:.1f} | {cells} | {fit['peak_gb']:.2f} |")
    lines += [
        "",
        f"batch_key costs {batched['wall'] / plain['wall']:.2f}× the time and "
        f"{batched['peak_gb'] / plain['peak_gb']:.2f}× the peak memory of the single-batch fit.",
    ]
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
