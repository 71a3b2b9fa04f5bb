"""Cost and accuracy of ``pnmf.tl.select_k``.

Usage::

    python benchmarks/select_k.py timing                      # 10k cells
    python benchmarks/select_k.py timing --sizes 10000 100000
    python benchmarks/select_k.py science                     # k recovery on planted programs

``timing``: synthetic log-normalized counts (2000 genes, nested cell types;
``pnmf.datasets.nested_populations``, seeded) get scanpy's 50-component PCA and 15-NN
graph. One default ``tl.pnmf`` fit (k = 20) is timed, then ``tl.select_k`` over 5 values
of k (10, 15, 20, 25, 30) × 5 runs with its defaults (80 % subsamples, random starts,
three scales per run; with ``--all-scales`` also every scale), then the single fit again
(the machine may be shared: both single-fit times are shown, with the load average).
Wall and CPU seconds are reported; the cost is given in single fits.

``science``: data from a known number of gene programs (``pnmf.datasets.gene_programs``,
800 cells × 400 genes, 4 scales) over seeds, noise levels and numbers of programs K;
``select_k`` over k = K − 2 … K + 3 with 5 runs. Every run's tables go to a JSON-lines
file next to ``--out`` (a rerun skips the datasets already there); the summary says how
often each candidate rule for the suggested k finds K, and whether the stability falls
past K.

Both print markdown tables and write them to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import pandas as pd
from _markdown import markdown_table

HERE = Path(__file__).resolve().parent
N_GENES = 2000
KS = (10, 15, 20, 25, 30)
N_RUNS = 5
SCIENCE_CELLS, SCIENCE_GENES, SCIENCE_SCALES = 800, 400, 4


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def timing(sizes: list[int], *, all_scales: bool = False) -> str:
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
        selections = {}
        for variant in [False, True] if all_scales else [False]:
            load_before = _load()
            start = _clock()
            pnmf.tl.select_k(adata, KS, n_runs=N_RUNS, all_scales=variant)
            selections[variant] = (_since(start), load_before, dict(adata.uns["pnmf_k"]["timings"]))
            selections[variant] += (int(adata.uns["pnmf_k"]["suggested_k"]), len(adata.uns["pnmf_k"]["scales_fitted"]))
        start = _clock()
        pnmf.tl.pnmf(adata)
        single_after = _since(start)
        single_wall = (single_before[0] + single_after[0]) / 2
        single_cpu = (single_before[1] + single_after[1]) / 2
        for (wall, cpu), load, stages, suggested, n_fitted in selections.values():
            rows.append(
                {
                    "cells": n_cells,
                    "scales per run": n_fitted,
                    "single fit wall (s), before / after": f"{single_before[0]:.1f} / {single_after[0]:.1f}",
                    "single fit CPU (s), before / after": f"{single_before[1]:.1f} / {single_after[1]:.1f}",
                    "select_k wall (s)": wall,
                    "select_k CPU (s)": cpu,
                    "runs (s)": stages["runs"],
                    "matching (s)": stages["matching"],
                    "cost in single fits (wall)": wall / single_wall,
                    "cost in single fits (CPU)": cpu / single_cpu,
                    "suggested k": suggested,
                    "load average at start (1, 5, 15 min)": load,
                }
            )
        print(markdown_table(pd.DataFrame(rows), index=False, digits=1), flush=True)
    header = (
        f"## select_k cost ({len(KS)} values of k × {N_RUNS} runs = {len(KS) * N_RUNS} fits on 80 % subsamples, "
        f"{N_GENES} genes; single fit = default tl.pnmf, k = 20, 8 scales; cost = select_k / mean of the "
        "single fits timed before and after it)\n\n"
    )
    return header + markdown_table(pd.DataFrame(rows), index=False, digits=1)


def science(seeds: list[int], noises: list[float], programs: list[int], n_runs: int, raw: Path) -> None:
    """Run ``select_k`` on every planted dataset and append its tables to ``raw`` (JSON lines; resumable)."""
    import scanpy as sc

    import pnmf

    done = set()
    if raw.exists():
        done = {(r["programs"], r["noise"], r["seed"]) for r in map(json.loads, raw.read_text().splitlines())}
    for n_programs in programs:
        ks = list(range(max(n_programs - 2, 2), n_programs + 4))
        for noise in noises:
            for seed in seeds:
                if (n_programs, noise, seed) in done:
                    continue
                adata = pnmf.datasets.gene_programs(
                    SCIENCE_CELLS, SCIENCE_GENES, n_programs, noise=noise, random_state=seed
                )
                sc.pp.pca(adata, random_state=0)
                sc.pp.neighbors(adata, random_state=0)
                start = _clock()
                pnmf.tl.select_k(adata, ks, n_runs=n_runs, n_scales=SCIENCE_SCALES)
                wall, cpu = _since(start)
                record = {
                    "programs": n_programs,
                    "noise": noise,
                    "seed": seed,
                    "wall": wall,
                    "cpu": cpu,
                    "load": _load(),
                    "by_k": pnmf.get.k_selection(adata, "k")[["n_comps", "stability", "error"]].to_dict("list"),
                    "by_factor": pnmf.get.k_selection(adata, "factor").to_dict("list"),
                }
                with raw.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                suggested = {name: rule(_tables(record)) for name, rule in RULES.items()}
                print(f"K={n_programs} noise={noise} seed={seed} {wall:.0f} s: suggested {suggested}", flush=True)


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:  # not Linux
        return "n/a"


def _tables(record: dict) -> pd.DataFrame:
    """Per k: mean stability, error and the least stable factor (smallest factor stability per scale, mean over scales)."""
    by_k = pd.DataFrame(record["by_k"]).set_index("n_comps")
    by_factor = pd.DataFrame(record["by_factor"])
    by_k["min_stability"] = by_factor.groupby(["n_comps", "scale"])["stability"].min().groupby("n_comps").mean()
    return by_k


def _offset(step: int) -> str:
    return "k = K" if step == 0 else f"k = K {'+' if step > 0 else '−'} {abs(step)}"


def _largest_within(values: pd.Series, tolerance: float) -> int:
    return int(values.index[values >= values.max() - tolerance].max())


def _largest_above(values: pd.Series, threshold: float, fallback: pd.Series) -> int:
    good = values.index[values >= threshold]
    return int(good.max()) if len(good) else int(fallback.idxmax())


RULES = {
    "mean: largest within 0.02 of best": lambda t: _largest_within(t["stability"], 0.02),
    "mean: best": lambda t: int(t["stability"].idxmax()),
    "min factor: best": lambda t: int(t["min_stability"].idxmax()),
    "min factor: largest within 0.02 of best": lambda t: _largest_within(t["min_stability"], 0.02),
    "min factor: largest ≥ 0.8": lambda t: _largest_above(t["min_stability"], 0.8, t["min_stability"]),
}


def summarize(raw: Path) -> str:
    """How often each rule's suggested k equals the truth, and the stability curves."""
    records = [json.loads(line) for line in raw.read_text().splitlines()]
    rows, curves = [], []
    for record in records:
        table = _tables(record)
        truth = record["programs"]
        row = {"programs": truth, "noise": record["noise"], "seed": record["seed"]}
        for name, rule in RULES.items():
            row[name] = rule(table)
        stability = table["stability"]
        row["mean drops past K"] = bool(stability.loc[truth + 1] < stability.loc[truth])
        row["min drops past K"] = bool(table["min_stability"].loc[truth + 1] < table["min_stability"].loc[truth])
        row["seconds"] = record["wall"]
        rows.append(row)
        curves.append(
            {"programs": truth, "noise": record["noise"], "seed": record["seed"]}
            | {
                _offset(k - truth): f"{m:.2f} / {n:.2f}"
                for k, m, n in zip(table.index, stability, table["min_stability"], strict=True)
            }
        )
    detail = pd.DataFrame(rows)
    detail["noise"] = detail["noise"].map(str)
    curves = pd.DataFrame(curves)
    curves["noise"] = curves["noise"].map(str)
    curves = curves[["programs", "noise", "seed", *[_offset(step) for step in range(-2, 4)]]].fillna("")
    keys = [detail["programs"], detail["noise"]]
    summary = detail[list(RULES)].eq(detail["programs"], axis=0).groupby(keys).sum()
    summary.insert(0, "datasets", detail.groupby(keys).size())
    summary["mean drops past K"] = detail.groupby(keys)["mean drops past K"].sum()
    summary["min drops past K"] = detail.groupby(keys)["min drops past K"].sum()
    summary = summary.reset_index()
    total = {"programs": "all", "noise": "", "datasets": len(detail)}
    total |= {name: int((detail[name] == detail["programs"]).sum()) for name in RULES}
    total |= {"mean drops past K": int(detail["mean drops past K"].sum())}
    total |= {"min drops past K": int(detail["min drops past K"].sum())}
    summary = pd.concat([summary.astype({"programs": str}), pd.DataFrame([total])], ignore_index=True)
    loads = sorted({r["load"] for r in records})
    return (
        f"## k recovery on planted programs ({SCIENCE_CELLS} cells × {SCIENCE_GENES} genes, "
        f"{SCIENCE_SCALES} scales, 5 runs per k, k = K − 2 … K + 3)\n\n"
        "Datasets where each rule's suggested k equals the true number of programs K "
        "(the 'min factor' rules use each k's least stable factor: the smallest factor stability at each scale, "
        "mean over scales; `tl.select_k` suggests the 'min factor: best' k).\n\n"
        + markdown_table(summary, index=False)
        + "\n\n### Per dataset (suggested k)\n\n"
        + markdown_table(detail, index=False, digits=0)
        + "\n\n### Stability curves (mean / least stable factor)\n\n"
        + markdown_table(curves, index=False)
        + f"\n\nLoad average (1, 5, 15 min) when the datasets finished: {loads[0]} … {loads[-1]}.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["timing", "science"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--noises", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.4])
    parser.add_argument("--programs", type=int, nargs="+", default=[5, 3, 8])
    parser.add_argument("--n-runs", type=int, default=N_RUNS)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--all-scales", action="store_true", help="timing: also time select_k(all_scales=True)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import scanpy as sc

    sc.settings.verbosity = 0
    out = args.out or HERE / "results" / f"select_k_{args.mode}.md"
    if args.mode == "timing":
        text = timing(args.sizes, all_scales=args.all_scales)
    else:
        raw = out.with_suffix(".jsonl")
        science(args.seeds, args.noises, args.programs, args.n_runs, raw)
        text = summarize(raw)
    print(text)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
