"""The steps after the fit at large sizes: ``pnmf.tl.leiden`` and ``pnmf.tl.umap``, beside ``tl.pnmf``.

Usage::

    python benchmarks/downstream.py --sizes 100000
    python benchmarks/downstream.py --sizes 1000000 --kwargs '{"max_sweeps": 1}' --umap '{"which": ["recommended"]}'

(the second wrote ``benchmarks/results/downstream_1m.md`` with ``--out``)

The data are the cached ones of ``benchmarks/scaling.py`` (2000 genes, ~10 % nonzeros,
scanpy's PCA and 15-NN graph). Each size runs in a fresh process, in memory: the fit
(options from ``--kwargs``), then the per-scale clusters with their defaults, then the
per-scale UMAPs with theirs. Wall time of each step, and the peak resident set size (GiB)
of the process when the step ends (a running maximum).
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

from _markdown import publish  # noqa: E402
from large_data import load_average, prepare  # noqa: E402
from scaling import N_COMPS, cache_path, n_cores, peak_rss_gb  # noqa: E402


def worker(n_cells: int, cache: Path, kwargs: dict, umap: dict) -> dict:
    import anndata as ad

    import pnmf

    adata = ad.read_h5ad(cache_path(cache, n_cells))
    steps = {
        "tl.pnmf": lambda: pnmf.tl.pnmf(adata, N_COMPS, **kwargs),
        "tl.leiden": lambda: pnmf.tl.leiden(adata),
        "tl.umap": lambda: pnmf.tl.umap(adata, **umap),
    }
    result = {}
    for name, step in steps.items():
        start = time.perf_counter()
        step()
        result[name] = {"wall_s": time.perf_counter() - start, "peak_rss_gb": peak_rss_gb()}
    summary = adata.uns["pnmf"]["clusters"]["leiden"]
    result["n_clusters"] = [int(n) for n in summary["n_clusters"]]
    result["n_scales"] = len(adata.uns["pnmf"]["obsm_keys"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000])
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "cache")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "downstream.md")
    parser.add_argument("--kwargs", default="{}", help="options of tl.pnmf, as JSON (e.g. '{\"max_sweeps\": 1}')")
    parser.add_argument("--umap", default="{}", help="options of tl.umap, as JSON")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.worker:
        print(json.dumps(worker(args.worker, args.cache, json.loads(args.kwargs), json.loads(args.umap))))
        return

    rows = [
        "| cells | scales | step | wall (s) | peak RSS so far (GB) | clusters per scale | load average before |",
        "|---:|---:|---|---:|---:|---|---|",
    ]
    for n_cells in args.sizes:
        prepare(n_cells, args.cache)
        load = load_average()
        command = [sys.executable, __file__, "--worker", str(n_cells), "--cache", str(args.cache)]
        process = subprocess.run(
            [*command, "--kwargs", args.kwargs, "--umap", args.umap], capture_output=True, text=True, check=False
        )
        if process.returncode != 0:
            sys.stderr.write(process.stderr[-3000:])
            raise SystemExit(f"the run on {n_cells} cells failed (exit {process.returncode})")
        result = json.loads(process.stdout.strip().splitlines()[-1])
        for step in ("tl.pnmf", "tl.leiden", "tl.umap"):
            clusters = " ".join(map(str, result["n_clusters"])) if step == "tl.leiden" else ""
            rows.append(
                f"| {n_cells:,} | {result['n_scales']} | {step} | {result[step]['wall_s']:.1f} "
                f"| {result[step]['peak_rss_gb']:.2f} | {clusters} | {load} |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
    header = (
        f"## The steps after the fit ({n_cores()} cores, k = {N_COMPS}; tl.pnmf options {args.kwargs}, "
        f"tl.umap options {args.umap})\n\n"
    )
    publish(header + "\n".join(rows) + "\n", args.out)


if __name__ == "__main__":
    main()
