"""The peak memory of ``pnmf.tl.leiden``, stage by stage, on fitted AnnData objects of growing size.

Usage::

    python benchmarks/leiden_memory.py --copies 1 5 [--out results/leiden_memory.md]

The fitted AnnData: ``tl.pnmf`` with defaults on the cached 100,000-cell data of
``benchmarks/scaling.py`` (fitted once and cached beside it). For ``c`` copies, every
scale's embedding is stacked ``c`` times, each copy but the first with Gaussian noise of
5 % of each factor's standard deviation (clipped at 0) so that no two cells coincide; the
manifest is the fit's, and the AnnData holds no genes. Each size runs in a fresh process
that loads it, runs ``tl.leiden`` with its defaults, and reports the peak resident set size
within each stage (the kernel's high-water mark, reset as the stage starts): the candidate
search (which compiles pynndescent in a fresh process above 50,000 cells), Leiden on the
finest scale, and the merge across scales.
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
from _memory import high_water_mark, reset_high_water_mark  # noqa: E402

CACHE = HERE / "results" / "cache"
SOURCE = CACHE / "populations_100000x2000.h5ad"
FITTED = CACHE / "populations_100000x2000_fitted.h5ad"
STAGES = {"neighbor_distances": "candidate search", "_leiden_of": "Leiden", "merge_across_scales": "merge"}


def fitted() -> Path:
    """The cached 100,000-cell data fitted with defaults (fitted and written on first use)."""
    if not FITTED.exists():
        import anndata as ad

        import pnmf

        adata = ad.read_h5ad(SOURCE)
        pnmf.tl.pnmf(adata)
        embeddings = {key: adata.obsm[key] for key in adata.obsm if key.startswith("X_pnmf_")}
        ad.AnnData(obs=adata.obs[[]], obsm=embeddings, uns={"pnmf": adata.uns["pnmf"]}).write_h5ad(FITTED)
    return FITTED


def enlarged(copies: int) -> Path:
    """The fitted embeddings stacked ``copies`` times with noise, written once."""
    import anndata as ad
    import numpy as np
    import pandas as pd

    path = CACHE / f"populations_fitted_x{copies}.h5ad"
    if path.exists():
        return path
    base = ad.read_h5ad(fitted())
    generator = np.random.default_rng(0)
    obsm = {}
    for key, values in base.obsm.items():
        values = np.asarray(values, dtype=np.float32)
        spread = 0.05 * values.std(axis=0)
        parts = [values] + [
            np.clip(values + generator.normal(size=values.shape) * spread, 0, None) for _ in range(copies - 1)
        ]
        obsm[key] = np.concatenate(parts).astype(np.float32)
    n_cells = copies * base.n_obs
    names = pd.DataFrame(index=[f"cell{i}" for i in range(n_cells)])
    ad.AnnData(obs=names, obsm=obsm, uns={"pnmf": base.uns["pnmf"]}, shape=(n_cells, 0)).write_h5ad(path)
    return path


def resident_bytes() -> int:
    """This process's resident set size (Linux: ``/proc/self/statm``)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def worker(path: Path) -> dict:
    """``tl.leiden`` on the AnnData at ``path``; the peak RSS (GB) within each stage.

    The kernel's own high-water mark, reset as each stage starts: exact, where sampling
    from a thread misses what a stage allocates while it holds the GIL (igraph's
    constructor held 1 GB for 6.4M edges that 20 ms samples never saw; :mod:`_memory`).
    """
    import anndata as ad

    import pnmf
    import pnmf.tl._leiden as leiden_module

    warnings.filterwarnings("ignore")
    adata = ad.read_h5ad(path)
    overall = 0
    peaks: dict[str, int] = {}
    seconds: dict[str, float] = {}

    def checkpoint() -> None:
        nonlocal overall
        overall = max(overall, high_water_mark())

    for name in STAGES:
        original = getattr(leiden_module, name)

        def measured(*args, _original=original, _name=name, **kwargs):
            checkpoint()
            reset_high_water_mark()
            start = time.perf_counter()
            out = _original(*args, **kwargs)
            seconds[_name] = time.perf_counter() - start
            peaks[_name] = high_water_mark()
            return out

        setattr(leiden_module, name, measured)
    loaded = resident_bytes()
    reset_high_water_mark()
    start = time.perf_counter()
    pnmf.tl.leiden(adata)
    wall = time.perf_counter() - start
    checkpoint()  # the last stage's peak; each earlier one was read before the next reset
    row = {"cells": adata.n_obs, "loaded (GB)": loaded / 1e9, "peak (GB)": overall / 1e9, "wall (s)": wall}
    for name, label in STAGES.items():
        row[f"{label} (GB)"] = peaks[name] / 1e9
        row[f"{label} (s)"] = seconds[name]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "leiden_memory.md")
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker)))
        return
    rows = []
    for copies in args.copies:
        path = enlarged(copies)
        result = subprocess.run(
            [sys.executable, __file__, "--worker", str(path)], capture_output=True, text=True, check=True
        )
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    columns = list(rows[0])
    lines = ["## tl.leiden's peak memory by stage (2 cores; fresh process per size)", ""]
    lines += ["| " + " | ".join(columns) + " |", "|" + "---:|" * len(columns)]
    for row in rows:
        cells = [f"{row['cells']:,}"] + [f"{row[c]:.2f}" if "GB" in c else f"{row[c]:.1f}" for c in columns[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    publish("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
