"""H0 persistence and bridging at scale: SciPy's spanning tree against gudhi, k-d trees against brute force.

Usage::

    python benchmarks/persistence.py --nodes 1000000 --bridge 20000 --dims 5 10 50
    python benchmarks/persistence.py --no-deaths --bridge 100000 --dims 10 --out /tmp/bridging.md
    python benchmarks/persistence.py --separated 20000 50000 200000 1000000 --out benchmarks/results/bridging.md

* **Deaths.** A graph of ``--nodes`` nodes with 15 random neighbours each (lengths drawn
  at random; the H0 computation does not look at geometry): ``graph_persistence`` (SciPy's
  minimum spanning tree) against ``graph_persistence_gudhi`` (gudhi's simplex tree), each
  in a fresh process for its peak RSS; the deaths must be identical.
* **Bridging.** Points in 50 dimensions whose spread falls geometrically from the first
  axis to the last, as PCA coordinates do: one giant component (a 10-NN graph) plus many
  small clusters (2 to 10 cells, each a chain) scattered around it; ``bridge_components`` by the
  dual-tree search (``method='dual'``), the per-point k-d trees (``'tree'``) and brute force
  (``'brute'``, run only where it takes minutes, not hours).
* **Separated populations** (``--separated``). 30 PCA-like dimensions, a 15-NN graph (NN-descent,
  as scanpy builds it; timed, not counted): four populations of three subtypes each, far apart (the graph
  has exactly four components), or one population holding 90 % of the cells and clumps of 100
  cells scattered around it (1,000 clumps at 1M cells). ``bridge_components`` by the dual-tree
  search (``method='dual'``, the default) against brute force (the default above 20
  dimensions before it), which is run up to ``--old-max`` cells; the bridge lengths must agree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _markdown import publish  # noqa: E402
from scaling import n_cores, peak_rss_gb  # noqa: E402

DEGREE = 15
CLUMP = 100  # cells per small component of the 'clumps' layout


def random_graph(n_nodes: int, seed: int = 0):
    from pnmf._core.persistence import EdgeList

    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_nodes, dtype=np.int64), DEGREE)
    cols = rng.integers(0, n_nodes, size=len(rows))
    lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)
    keep = lo != hi
    codes = np.unique(lo[keep] * n_nodes + hi[keep])
    lo, hi = codes // n_nodes, codes % n_nodes
    return EdgeList(n_nodes, lo, hi, rng.random(len(lo)))


def clustered_points(n_giant: int, n_outside: int, dims: int = 50, seed: int = 0):
    """A giant blob with a 10-NN graph, and small chains of 2 to 10 cells around it (separate components)."""
    from scipy.spatial import cKDTree

    from pnmf._core.persistence import EdgeList

    rng = np.random.default_rng(seed)
    # like PCA coordinates: the spread falls from the first axis to the last
    spread = np.geomspace(1.0, 0.02, dims)
    giant = rng.normal(size=(n_giant, dims)) * spread
    sizes = []
    while sum(sizes) < n_outside:
        sizes.append(int(rng.integers(2, 11)))
    centres = rng.normal(size=(len(sizes), dims)) * spread * 3.0
    small = np.vstack([c + 0.05 * rng.normal(size=(s, dims)) * spread for c, s in zip(centres, sizes, strict=True)])
    points = np.vstack([giant, small])
    _, neighbours = cKDTree(giant).query(giant, k=11, workers=-1)
    rows = [np.repeat(np.arange(n_giant), 10)]
    cols = [neighbours[:, 1:].ravel()]
    start = n_giant
    for s in sizes:  # a chain per small cluster
        rows.append(np.arange(start, start + s - 1))
        cols.append(np.arange(start + 1, start + s))
        start += s
    edges = EdgeList.from_pairs(len(points), np.concatenate(rows), np.concatenate(cols), points)
    return points, edges, len(sizes)


def separated_points(n_cells: int, layout: str, dims: int = 30, seed: int = 0) -> np.ndarray:
    """Well-separated populations in PCA-like coordinates (the spread falls from 1 to 0.02 over the axes).

    ``'populations'``: four populations of three subtypes each, centres 5 spreads apart.
    ``'clumps'``: one population (three subtypes) with 90 % of the cells, and clumps of 100
    cells (a twentieth of the spread) scattered three spreads around it.
    """
    rng = np.random.default_rng(seed)
    spread = np.geomspace(1.0, 0.02, dims)
    if layout == "populations":
        centres = rng.normal(size=(4, 1, dims)) * spread * 5.0
        subtypes = (centres + rng.normal(size=(4, 3, dims)) * spread * 0.4).reshape(-1, dims)
        which = rng.integers(0, len(subtypes), size=n_cells)
        return subtypes[which] + rng.normal(size=(n_cells, dims)) * spread * 0.5
    n_clumps = n_cells // 10 // CLUMP
    n_giant = n_cells - n_clumps * CLUMP
    subtypes = rng.normal(size=(3, dims)) * spread * 0.4
    giant = subtypes[rng.integers(0, 3, size=n_giant)] + rng.normal(size=(n_giant, dims)) * spread * 0.5
    centres = rng.normal(size=(n_clumps, 1, dims)) * spread * 3.0
    clumps = (centres + rng.normal(size=(n_clumps, CLUMP, dims)) * spread * 0.05).reshape(-1, dims)
    return np.vstack([giant, clumps])


def knn_graph(points: np.ndarray, k: int = DEGREE):
    """The symmetrized k-NN graph of the points, by NN-descent (pynndescent) as scanpy builds it for large data."""
    from pynndescent import NNDescent

    from pnmf._core.persistence import EdgeList

    neighbours, _ = NNDescent(points, n_neighbors=k + 1, random_state=0, n_jobs=-1).neighbor_graph
    rows = np.repeat(np.arange(len(points), dtype=np.int64), k)
    return EdgeList.from_pairs(len(points), rows, neighbours[:, 1:].ravel(), points)


def separated_worker(layout: str, size: int, methods: list[str]) -> dict:
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    from pnmf._core.persistence import bridge_components

    points = separated_points(size, layout)
    start = time.perf_counter()
    edges = knn_graph(points)
    graph_s = time.perf_counter() - start
    graph = coo_array((np.ones(len(edges)), (edges.rows, edges.cols)), shape=(size, size))
    n_components, labels = connected_components(graph, directed=False)
    out = {"graph_s": graph_s, "n_components": int(n_components), "largest": int(np.bincount(labels).max())}
    for method in methods:
        start = time.perf_counter()
        bridges = bridge_components(points, edges, method=method)
        out[method] = {"wall_s": time.perf_counter() - start, "lengths": np.sort(bridges.lengths).tolist()}
    out["peak_rss_gb"] = peak_rss_gb()
    return out


def separated_table(sizes: list[int], old_max: int) -> list[str]:
    lines = [
        "## Bridging well-separated populations (30 PCA-like dimensions, 15-NN graph)",
        "",
        f"{n_cores()} cores. Brute force, the default above 20 dimensions before the dual-tree search, "
        f"is run up to {old_max:,} cells; the error is the largest relative difference of the sorted bridge lengths.",
        "",
        "| layout | cells | components | largest | 15-NN graph (s, not counted) | dual tree (s) | brute force (s) "
        "| bridges | max relative error | peak RSS (GB) | load average before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for layout in ("populations", "clumps"):
        for size in sizes:
            methods = ["dual", "brute"] if size <= old_max else ["dual"]
            load = load_average()
            command = [
                sys.executable,
                __file__,
                "--separated-worker",
                layout,
                "--size",
                str(size),
                "--methods",
                *methods,
            ]
            process = subprocess.run(command, capture_output=True, text=True, check=False)
            if process.returncode != 0:
                sys.stderr.write(process.stderr[-3000:])
                raise RuntimeError(f"{layout} at {size} failed")
            fit = json.loads(process.stdout.strip().splitlines()[-1])
            dual = np.asarray(fit["dual"]["lengths"])
            brute, error = "—", "—"
            if "brute" in fit:
                exact = np.asarray(fit["brute"]["lengths"])
                brute = f"{fit['brute']['wall_s']:.1f}"
                error = f"{np.max(np.abs(dual - exact) / exact):.1e}" if len(exact) == len(dual) else "different count"
            lines.append(
                f"| {layout} | {size:,} | {fit['n_components']:,} | {fit['largest']:,} | {fit['graph_s']:.1f} "
                f"| {fit['dual']['wall_s']:.1f} | {brute} | {len(dual):,} | {error} | {fit['peak_rss_gb']:.2f} | {load} |"
            )
            print(lines[-1], file=sys.stderr, flush=True)
    return lines


def worker(kind: str, size: int, extra: int, dims: int = 50) -> dict:
    from pnmf._core.persistence import bridge_components, graph_persistence, graph_persistence_gudhi

    if kind in ("scipy", "gudhi"):
        edges = random_graph(size)
        before = peak_rss_gb()
        start = time.perf_counter()
        persistence = (graph_persistence if kind == "scipy" else graph_persistence_gudhi)(edges)
        wall = time.perf_counter() - start
        digest = float(np.sum(persistence.deaths * np.arange(1, len(persistence.deaths) + 1)))
        return {
            "wall_s": wall,
            "peak_rss_gb": peak_rss_gb(),
            "before_gb": before,
            "n_edges": len(edges),
            "n_deaths": len(persistence.deaths),
            "n_essential": persistence.n_essential,
            "digest": digest,
        }
    points, edges, n_clusters = clustered_points(size, extra, dims)
    start = time.perf_counter()
    bridges = bridge_components(points, edges, method=kind)
    wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "n_bridges": len(bridges),
        "n_clusters": n_clusters,
        "lengths": float(np.sort(bridges.lengths).sum()),
        "peak_rss_gb": peak_rss_gb(),
    }


def run(kind: str, size: int, extra: int = 0, dims: int = 50) -> dict:
    command = [sys.executable, __file__, "--worker", kind, "--size", str(size), "--extra", str(extra)]
    command += ["--dims", str(dims)]
    process = subprocess.run(command, capture_output=True, text=True, check=False)
    if process.returncode != 0:
        sys.stderr.write(process.stderr[-3000:])
        raise RuntimeError(f"{kind} failed")
    return json.loads(process.stdout.strip().splitlines()[-1])


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument(
        "--bridge", type=int, nargs="*", default=[100_000, 1_000_000], help="giant component sizes for bridging"
    )
    parser.add_argument("--outside", type=float, default=0.1, help="cells outside the giant, per giant cell")
    parser.add_argument("--brute-max", type=int, default=100_000, help="largest giant size brute force runs on")
    parser.add_argument("--no-deaths", action="store_true", help="only the bridging table")
    parser.add_argument("--dims", type=int, nargs="*", default=[50], help="dimensions of the bridging points")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "persistence.md")
    parser.add_argument(
        "--separated", type=int, nargs="*", help="only the table of well-separated populations, at these sizes"
    )
    parser.add_argument("--old-max", type=int, default=50_000, help="largest size brute force runs on (--separated)")
    parser.add_argument("--worker", choices=("scipy", "gudhi", "dual", "tree", "brute"), help=argparse.SUPPRESS)
    parser.add_argument("--separated-worker", choices=("populations", "clumps"), help=argparse.SUPPRESS)
    parser.add_argument("--methods", nargs="*", default=["dual"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--extra", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.size, args.extra, args.dims[0])))
        return
    if args.separated_worker:
        print(json.dumps(separated_worker(args.separated_worker, args.size, args.methods)))
        return
    if args.separated:
        publish("\n".join(separated_table(args.separated, args.old_max)) + "\n", args.out)
        return

    lines = [
        f"## H0 deaths of a graph filtration ({n_cores()} cores; {args.nodes:,} nodes, {DEGREE} random neighbours each)",
        "",
        "| method | edges | wall (s) | peak RSS (GB) | of which the graph (GB) | finite deaths | identical | load average before |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    results = {}
    for kind, name in (
        () if args.no_deaths else (("scipy", "SciPy minimum spanning tree"), ("gudhi", "gudhi simplex tree"))
    ):
        load = load_average()
        results[kind] = fit = run(kind, args.nodes)
        same = "reference" if kind == "scipy" else str(fit["digest"] == results["scipy"]["digest"])
        lines.append(
            f"| {name} | {fit['n_edges']:,} | {fit['wall_s']:.1f} | {fit['peak_rss_gb']:.2f} | {fit['before_gb']:.2f} "
            f"| {fit['n_deaths']:,} | {same} | {load} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)
    lines += [
        "",
        "## Bridging a disconnected kNN graph (exact closest pairs between components)",
        "",
        "| dimensions | cells in the giant component | cells outside | small components | method | wall (s) | bridges | same bridges | load average before |",
        "|---:|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for dims, giant in ((d, g) for d in args.dims for g in args.bridge):
        outside = int(giant * args.outside)
        dual = None
        for method in ("dual", "tree", "brute"):
            if method == "brute" and giant > args.brute_max:
                continue
            load = load_average()
            fit = run(method, giant, outside, dims)
            dual = fit if method == "dual" else dual
            same = "reference" if method == "dual" else str(np.isclose(fit["lengths"], dual["lengths"], rtol=1e-12))
            lines.append(
                f"| {dims} | {giant:,} | {outside:,} | {fit['n_clusters']:,} | {method} | {fit['wall_s']:.1f} | {fit['n_bridges']:,} "
                f"| {same} | {load} |"
            )
            print(lines[-1], file=sys.stderr, flush=True)
    report = "\n".join(lines) + "\n"
    publish(report, args.out)


if __name__ == "__main__":
    main()
