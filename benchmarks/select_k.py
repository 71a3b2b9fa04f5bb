"""Cost and accuracy of ``pnmf.tl.select_k``.

Usage::

    python benchmarks/select_k.py timing                      # 10k cells
    python benchmarks/select_k.py timing --sizes 10000 100000
    python benchmarks/select_k.py science                     # k recovery on planted programs

``timing``: synthetic log-normalized counts (2000 genes, nested cell types;
``pnmf.datasets.nested_populations``, seeded) get scanpy's 50-component PCA and 15-NN
graph. One default ``tl.pnmf`` fit (k = 20) is timed, then ``tl.select_k`` over 5 values
of k (10, 15, 20, 25, 30) × 5 runs with its defaults (80 % subsamples, random starts),
then the single fit again (the machine may be shared: both single-fit times are shown).
Wall and CPU seconds are reported; the cost is given in single fits.

``science``: data from a known number of gene programs (``pnmf.datasets.gene_programs``,
1000 cells × 500 genes) over several seeds and noise levels; ``select_k`` over
k = K − 2 … K + 2 with 5 runs; reports the suggested k against the truth and whether the
stability falls past the true k.

Both print markdown tables and write them to ``--out``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd
from _markdown import markdown_table

HERE = Path(__file__).resolve().parent
N_GENES = 2000
KS = (10, 15, 20, 25, 30)
N_RUNS = 5


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def timing(sizes: list[int]) -> str:
    import scanpy as sc

    import pnmf

    rows = []
    for n_cells in sizes:
        adata = pnmf.datasets.nested_populations(n_cells, N_GENES, n_types=6, n_subtypes=4, random_state=0)
        sc.pp.pca(adata, n_comps=50, random_state=0)
        sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
        pnmf.tl.pnmf(adata[:300].copy(), 5, n_scales=2, max_iter=2)  # compile the kernels outside the clock
        start = _clock()
        pnmf.tl.pnmf(adata)
        single_before = _since(start)
        start = _clock()
        pnmf.tl.select_k(adata, KS, n_runs=N_RUNS)
        select = _since(start)
        start = _clock()
        pnmf.tl.pnmf(adata)
        single_after = _since(start)
        stages = adata.uns["pnmf_k"]["timings"]
        single = min(single_before[0], single_after[0])
        rows.append(
            {
                "cells": n_cells,
                "single fit, wall (s) before / after": f"{single_before[0]:.1f} / {single_after[0]:.1f}",
                "single fit, CPU (s)": f"{single_before[1]:.1f} / {single_after[1]:.1f}",
                "select_k wall (s)": select[0],
                "select_k CPU (s)": select[1],
                "prepare (s)": stages["prepare"],
                "runs (s)": stages["runs"],
                "matching (s)": stages["matching"],
                "select_k / faster single fit (wall)": select[0] / single,
                "select_k / single fit (CPU, mean)": select[1] / ((single_before[1] + single_after[1]) / 2),
                "suggested k": int(adata.uns["pnmf_k"]["suggested_k"]),
            }
        )
        print(markdown_table(pd.DataFrame(rows), index=False, digits=1), flush=True)
    header = (
        f"## select_k cost ({len(KS)} values of k × {N_RUNS} runs = {len(KS) * N_RUNS} fits on 80 % subsamples, "
        f"{N_GENES} genes; single fit = default tl.pnmf, k = 20)\n\n"
    )
    return header + markdown_table(pd.DataFrame(rows), index=False, digits=1)


def science(seeds: list[int], noises: list[float], programs: list[int], n_runs: int) -> str:
    import scanpy as sc

    import pnmf

    rows, curves = [], []
    for n_programs in programs:
        ks = list(range(max(n_programs - 2, 2), n_programs + 3))
        for noise in noises:
            for seed in seeds:
                adata = pnmf.datasets.gene_programs(1000, 500, n_programs, noise=noise, random_state=seed)
                sc.pp.pca(adata, random_state=0)
                sc.pp.neighbors(adata, random_state=0)
                start = time.perf_counter()
                pnmf.tl.select_k(adata, ks, n_runs=n_runs, n_scales=4)
                table = pnmf.get.k_selection(adata).set_index("n_comps")
                stability = table["stability"]
                suggested = int(table.index[table["suggested"]][0])
                at_truth = stability.loc[n_programs]
                past = stability.loc[n_programs + 1]
                rows.append(
                    {
                        "programs": n_programs,
                        "noise": noise,
                        "seed": seed,
                        "suggested k": suggested,
                        "correct": suggested == n_programs,
                        "stability at K": at_truth,
                        "stability at K+1": past,
                        "drops past K": bool(past < at_truth),
                        "best stability below K": stability.loc[: n_programs - 1].max(),
                        "seconds": time.perf_counter() - start,
                    }
                )
                curves.append(
                    {"programs": n_programs, "noise": noise, "seed": seed} | {f"k={k}": v for k, v in stability.items()}
                )
                print(markdown_table(pd.DataFrame(rows[-1:]), index=False), flush=True)
    detail = pd.DataFrame(rows)
    summary = (
        detail.groupby(["programs", "noise"])
        .agg(datasets=("correct", "size"), correct=("correct", "sum"), drops_past_K=("drops past K", "sum"))
        .reset_index()
    )
    return (
        f"## k recovery on planted programs (1000 cells × 500 genes, {n_runs} runs per k, k = K − 2 … K + 2)\n\n"
        + markdown_table(summary, index=False)
        + "\n\n### Per dataset\n\n"
        + markdown_table(detail, index=False)
        + "\n\n### Stability curves (mean over scales)\n\n"
        + markdown_table(pd.DataFrame(curves), index=False)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["timing", "science"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--noises", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    parser.add_argument("--programs", type=int, nargs="+", default=[4, 6])
    parser.add_argument("--n-runs", type=int, default=N_RUNS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import scanpy as sc

    sc.settings.verbosity = 0
    if args.mode == "timing":
        text = timing(args.sizes)
    else:
        text = science(args.seeds, args.noises, args.programs, args.n_runs)
    print(text)
    out = args.out or HERE / "results" / f"select_k_{args.mode}.md"
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
