"""Backed fits at several sizes, and a straight line through them: what 10 million cells would cost.

Usage::

    python benchmarks/extrapolation.py --sizes 100000 300000 1000000 [--target 10000000]

Each size is fitted backed (``anndata.read_h5ad(path, backed='r')``, defaults, k = 20) in a
fresh process by ``benchmarks/large_data.py``'s worker, on the cached data of
``benchmarks/scaling.py`` (prepared first where missing). A least-squares line
``a + b · cells`` is fitted to the wall time and to the peak resident set size; the table
gives each size's measurement, the line's value there and the relative residual, the
line's R² and its value at ``--target`` cells, and the size at which the peak would reach
32 GB. A straight line is the model because every stage is linear in the cells (the
products with X, the coordinate-descent passes, the graphs); the residuals say how well it
holds over the sizes measured.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _markdown import publish  # noqa: E402
from large_data import load_average, prepare, run_worker  # noqa: E402
from scaling import n_cores  # noqa: E402

MEMORY_BUDGET_GB = 32.0


def line(sizes: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """Least-squares intercept and slope of ``values`` against ``sizes``, and the R²."""
    slope, intercept = np.polyfit(sizes, values, 1)
    predicted = intercept + slope * sizes
    total = float(((values - values.mean()) ** 2).sum())
    r2 = 1.0 - float(((values - predicted) ** 2).sum()) / total if total > 0 else 1.0
    return float(intercept), float(slope), r2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--target", type=int, default=10_000_000)
    parser.add_argument("--cache", type=Path, default=HERE / "results" / "cache")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "extrapolation.md")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if len(args.sizes) < 3:
        parser.error("a line through fewer than 3 sizes says nothing about its fit; give 3 or more")

    fits = {}
    for n_cells in sorted(args.sizes):
        prepare(n_cells, args.cache)
        load = load_average()
        fits[n_cells] = run_worker(n_cells, args.cache, "backed")
        fits[n_cells]["load"] = load
        print(f"{n_cells:,} cells: {fits[n_cells]['wall_s']:.1f} s, {fits[n_cells]['peak_rss_gb']:.2f} GB", flush=True)

    sizes = np.array(sorted(fits), dtype=np.float64)
    measured = {
        "wall time (s)": np.array([fits[n]["wall_s"] for n in sorted(fits)]),
        "peak RSS (GB)": np.array([fits[n]["peak_rss_gb"] for n in sorted(fits)]),
    }
    models = {name: line(sizes, values) for name, values in measured.items()}

    lines = [
        f"## Backed fits and a line through them ({n_cores()} cores, k = 20, defaults)",
        "",
        "| cells | wall (s) | line (s) | residual | peak RSS (GB) | line (GB) | residual "
        "| solve (s) | iterations per scale | sweeps | load average before |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for i, n_cells in enumerate(sorted(fits)):
        fit, cells = fits[n_cells], []
        for name in measured:
            intercept, slope, _ = models[name]
            value, predicted = measured[name][i], intercept + slope * n_cells
            cells += [f"{value:.2f}", f"{predicted:.2f}", f"{(value - predicted) / value:+.1%}"]
        lines.append(
            f"| {n_cells:,} | {' | '.join(cells)} | {fit['timings']['solve']:.1f} "
            f"| {' '.join(map(str, fit['n_iter']))} | {fit['n_sweeps']} | {fit['load']} |"
        )
    lines += ["", f"| quantity | per million cells | at zero cells | R² | at {args.target:,} cells |"]
    lines += ["|---|---:|---:|---:|---:|"]
    for name, (intercept, slope, r2) in models.items():
        lines.append(
            f"| {name} | {slope * 1e6:.2f} | {intercept:.2f} | {r2:.4f} | {intercept + slope * args.target:.1f} |"
        )
    intercept, slope, _ = models["peak RSS (GB)"]
    budget_cells = (MEMORY_BUDGET_GB - intercept) / slope if slope > 0 else float("inf")
    lines += [
        "",
        f"The peak would reach {MEMORY_BUDGET_GB:g} GB at about {budget_cells / 1e6:.1f} million cells.",
        f"`python benchmarks/extrapolation.py --sizes {' '.join(map(str, sorted(fits)))} --target {args.target}`;",
        "the machine's load average before each fit is in the first table.",
    ]
    publish("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
