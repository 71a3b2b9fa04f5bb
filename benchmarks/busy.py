"""Speed of ``pnmf.tl.pnmf`` on an idle machine and on one whose every core is busy.

Usage::

    python benchmarks/busy.py                          # label 'after', 3 repeats
    PYTHONPATH=/path/to/old/src python benchmarks/busy.py --label before

Shared servers are rarely idle. A solver whose threads synchronise often waits, on a
loaded machine, for a thread that the scheduler has parked behind someone else's
process. This script measures that cost: for each workload and each condition (idle;
every core kept busy by ``os.cpu_count()`` busy-loop processes that end by themselves
after a deadline and are killed when the script ends) it times ``pnmf.tl.pnmf`` with the
default threads and with one thread (``numba.set_num_threads(1)``), each timing repeated.
The work is fixed (``tol=0``: every run does the same iterations). Results of every label
accumulate in ``--json`` and are printed as one markdown table, also written to ``--out``.

Timings on a shared machine move with other people's load: the script prints the load
average before each condition; report the spread (min–max), not only the median.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUSY_LOOP = "import time, sys\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"
WORKLOADS = {
    # few cells, coarse scales whose graphs are nearly complete: hundreds of tiny colour classes
    "250 cells": {"n_cells": 250, "n_genes": 300, "n_comps": 10, "max_iter": 30, "max_sweeps": 3},
    # more cells, the shape of real data
    "10,000 cells": {"n_cells": 10_000, "n_genes": 500, "n_comps": 10, "max_iter": 8, "max_sweeps": 2},
}


def worker(workload: str, repeats: int) -> dict:
    """Time tl.pnmf with the default threads and with one thread, ``repeats`` times each (in this process)."""
    import warnings

    import numba
    import scanpy as sc

    import pnmf

    warnings.simplefilter("ignore")
    spec = WORKLOADS[workload]
    adata = pnmf.datasets.nested_populations(spec["n_cells"], spec["n_genes"], random_state=0)
    sc.pp.pca(adata, n_comps=10, random_state=0)
    sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
    options = {"n_scales": 8, "max_iter": spec["max_iter"], "max_sweeps": spec["max_sweeps"], "tol": 0.0}
    pnmf.tl.pnmf(adata, spec["n_comps"], n_scales=2, max_iter=2, max_sweeps=1)  # compile / load the cache
    default_threads = numba.get_num_threads()
    times: dict[str, list[float]] = {"default": [], "one": []}
    solve: dict[str, list[float]] = {"default": [], "one": []}
    results = {}
    for _ in range(repeats):
        for name, threads in (("default", default_threads), ("one", 1)):
            numba.set_num_threads(threads)
            start = time.perf_counter()
            result = pnmf.tl.pnmf(adata, spec["n_comps"], copy=True, **options)
            times[name].append(time.perf_counter() - start)
            solve[name].append(float(result.uns["pnmf"]["timings"]["solve"]))
            results[name] = result.obsm["X_pnmf_0"]
    numba.set_num_threads(default_threads)
    identical = bool((results["default"] == results["one"]).all())
    return {"threads": default_threads, "total": times, "solve": solve, "identical": identical}


def run_worker(workload: str, repeats: int) -> dict:
    process = subprocess.run(
        [sys.executable, __file__, "--worker", workload, "--repeats", str(repeats)],
        capture_output=True,
        text=True,
        check=False,
    )
    if process.returncode != 0:
        raise RuntimeError(process.stderr[-3000:])
    return json.loads(process.stdout.strip().splitlines()[-1])


def start_busy(seconds: float) -> list[subprocess.Popen]:
    """One busy-loop process per core, each ending by itself after ``seconds``."""
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(seconds)]) for _ in range(os.cpu_count() or 1)]


def stop_busy(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()


def measure(label: str, repeats: int, busy_seconds: float) -> list[dict]:
    rows = []
    for condition in ("idle", "busy"):
        for workload in WORKLOADS:
            load = os.getloadavg()[0]
            print(f"{label}: {workload}, {condition} (load average before: {load:.2f})", file=sys.stderr)
            busy = start_busy(busy_seconds) if condition == "busy" else []
            try:
                if busy:
                    time.sleep(1.0)  # let the busy loops take the cores
                record = run_worker(workload, repeats)
            finally:
                stop_busy(busy)
            for threads in ("default", "one"):
                values = sorted(record["total"][threads])
                rows.append(
                    {
                        "label": label,
                        "workload": workload,
                        "machine": condition,
                        "threads": f"default ({record['threads']})" if threads == "default" else "1",
                        "median (s)": values[len(values) // 2],
                        "min (s)": values[0],
                        "max (s)": values[-1],
                        "solve median (s)": sorted(record["solve"][threads])[len(values) // 2],
                        "identical": record["identical"],
                        "load before": load,
                    }
                )
    return rows


def table(rows: list[dict]) -> str:
    import pandas as pd

    sys.path.insert(0, str(HERE))
    from _markdown import markdown_table

    frame = pd.DataFrame(rows)
    ratios = (
        frame.pivot_table(
            index=["label", "workload", "machine"], columns="threads", values="median (s)", aggfunc="first"
        )
        .pipe(lambda t: t[[c for c in t.columns if c.startswith("default")]].max(axis=1) / t["1"])
        .rename("default / one thread")
        .reset_index()
    )
    frame = frame.merge(ratios, on=["label", "workload", "machine"])
    columns = ["label", "workload", "machine", "threads", "median (s)", "min (s)", "max (s)", "solve median (s)"]
    columns += ["default / one thread", "identical", "load before"]
    return markdown_table(frame[columns], index=False, digits=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="after", help="name of this code version in the table")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy-seconds", type=float, default=900.0, help="deadline of each busy-loop process")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "busy.json")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "busy.md")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.repeats)))
        return
    rows = measure(args.label, args.repeats, args.busy_seconds)
    previous = json.loads(args.json.read_text()) if args.json.exists() else []
    rows = [r for r in previous if r["label"] != args.label] + rows
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1))
    text = table(rows)
    args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
