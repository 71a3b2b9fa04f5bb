"""``pnmf select-k``: the stability and error of each number of factors, as a table and a figure."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ._common import (
    Progress,
    check_against_data,
    check_fit_flags,
    check_paths,
    check_writable,
    fit_options,
    input_options,
    read_input,
)
from ._figures import png
from ._files import Signals, write_outputs
from ._flags import add_fit_options, add_input_options, add_output_flags, new_command

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["add_select_k"]


def add_select_k(commands) -> None:
    """Add ``pnmf select-k``."""
    select_k = new_command(
        commands,
        "select-k",
        help="compare numbers of factors by the stability of their programs",
        description=(
            "Fit replicate runs for each number of factors k (pnmf.tl.select_k) and write the stability, "
            "reproducibility and error of every k as a CSV table with its figure. --out is the table's path "
            "(TABLE.csv; the figure is TABLE.png) or a folder (DIR/<input name>_k_selection.csv and .png). "
            "The suggested k is printed and marked in the table."
        ),
        examples=[
            "pnmf select-k data.h5ad --k 5 10 15 20 --out k_selection/",
            "pnmf select-k data.h5ad --k 4 6 8 10 --layer lognorm --n-runs 10 --out results/k.csv",
        ],
    )
    select_k.add_argument("input", type=Path, help="input .h5ad")
    select_k.add_argument("--k", type=int, nargs="+", required=True, help="the numbers of factors to compare")
    select_k.add_argument(
        "--out", type=Path, required=True, help="the table (.csv; its figure beside it) or a folder for both"
    )
    select_k.add_argument("--n-runs", type=int, default=5, help="replicate runs per k (default: 5)")
    select_k.add_argument(
        "--subsample",
        type=float,
        default=None,
        help="share of the cells each run sees, in (0, 1] (default: that of pnmf.tl.select_k)",
    )
    select_k.add_argument("--all-scales", action="store_true", help="fit every scale in each run")
    add_input_options(select_k)
    add_fit_options(select_k, one_fit=False)
    add_output_flags(select_k)
    select_k.set_defaults(handler=compare_k)


def _targets(args: argparse.Namespace) -> tuple[Path, Path]:
    """Return the paths of the table and the figure that ``--out`` names."""
    if args.out.suffix.lower() == ".csv":
        return args.out, args.out.with_suffix(".png")
    stem = f"{args.input.stem}_k_selection"
    return args.out / f"{stem}.csv", args.out / f"{stem}.png"


def compare_k(args: argparse.Namespace, signals: Signals) -> None:
    """Run ``pnmf select-k``: check, read, fit the replicates, write the table and the figure, summarize."""
    from .._validation import check_int
    from ..tl._select_k import _check_n_comps, _check_subsample

    progress = Progress(5, enabled=not args.quiet)
    try:
        progress.step("checking the options")
        check_fit_flags(args)
        ks = [int(k) for k in _check_n_comps(args.k)]
        if args.subsample is not None:
            _check_subsample(args.subsample)
        check_int("n_runs", args.n_runs, minimum=2, hint="Stability compares runs; pass --n-runs 5 or more.")
        table_path, figure_path = _targets(args)
        check_paths([args.input], [table_path, figure_path])
        check_writable(table_path.parent)
        progress.step(f"reading {args.input}")
        adata = read_input(args.input)
        options = fit_options(args, **input_options(args))
        check_against_data(adata, options, largest_k=ks[-1], key_added=None)
        progress.step(f"fitting {args.n_runs} runs for each of {len(ks)} values of k")
        import pnmf

        # select_k's own tolerance (its runs converge further than one fit), not tl.pnmf's
        kwargs = {name: value for name, value in options.as_kwargs().items() if name not in ("n_comps", "tol")}
        if args.subsample is not None:
            kwargs["subsample"] = args.subsample
        pnmf.tl.select_k(adata, ks, n_runs=args.n_runs, all_scales=args.all_scales, **kwargs)
        progress.step("drawing the figure")
        table = pnmf.get.k_selection(adata)
        outputs = {
            table_path: table.to_csv(index=False).encode(),
            figure_path: png(cast("Figure", pnmf.pl.k_selection(adata, return_fig=True))),
        }
        progress.step(f"writing {table_path}")
        written = write_outputs(outputs, signals)
    finally:
        progress.close()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"suggested k: {int(table.loc[table['suggested'], 'n_comps'].iloc[0])}")
    for path in written:
        print(f"wrote {path}")
