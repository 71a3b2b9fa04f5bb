"""The ``pnmf`` command: ``pnmf demo`` on scanpy's bundled PBMCs, ``pnmf run`` on an .h5ad file.

Written for batch jobs: every option is checked before anything is computed; outputs are
written to temporary files next to their destination and renamed only once all of them
are complete, so a failure, a full disk or a scheduler's SIGTERM never leaves a partial
file behind; a mistake in the input or options gives one line ``pnmf: error: …`` and exit
status 1 (``--debug`` shows the traceback), while a bug shows its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import signal
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._options import PnmfOptions

__all__ = ["main"]

EXIT_ERROR = 1


class _Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: stop, clean up, exit with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Signals:
    """Turn SIGINT/SIGTERM into :class:`_Interrupted`, deferred while a file is being written.

    A signal raised inside h5py or matplotlib's C code can be swallowed there; while
    :meth:`deferred` is active the signal is only recorded and raised once the write
    returns (a second signal raises at once).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.child: int | None = None  # a process writing a file, stopped at once on a signal
        self._deferring = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.child is not None:
            with contextlib.suppress(OSError):
                os.kill(self.child, signal.SIGKILL)
        if self._deferring and self.received is None:
            self.received = signum
            return
        self.received = signum
        raise _Interrupted(signum)

    def __enter__(self) -> _Signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self.received is not None:
            raise _Interrupted(self.received)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``tl.pnmf`` as flags, with its defaults (those of :class:`~pnmf._options.PnmfOptions`)."""
    from ._options import DEFAULT_N_SCALES
    from ._options import PnmfOptions as D

    group = parser.add_argument_group("model")
    group.add_argument("--n-comps", type=int, default=D.n_comps, help=f"factors per scale (default: {D.n_comps})")
    group.add_argument(
        "--n-scales", type=int, default=D.n_scales, help=f"number of scales (default: {DEFAULT_N_SCALES})"
    )
    group.add_argument(
        "--filtration",
        choices=("knn", "rips"),
        default=D.filtration,
        help="persistence of the kNN graph or of all pairwise distances",
    )
    group.add_argument(
        "--graph-weight",
        type=_weight,
        default=D.graph_weight,
        help=f"λ1, graph smoothness: a number, or 'auto' to cross-validate it over a split of the genes (default: {D.graph_weight})",
    )
    group.add_argument(
        "--coupling-weight",
        type=float,
        default=D.coupling_weight,
        help=f"λ2, similarity of consecutive scales (default: {D.coupling_weight:g})",
    )
    group.add_argument(
        "--anchor-weight",
        type=float,
        default=D.anchor_weight,
        help=f"λ3, ridge on the embeddings (default: {D.anchor_weight:g})",
    )
    group.add_argument("--max-iter", type=int, default=D.max_iter, help=f"iterations per scale (default: {D.max_iter})")
    group.add_argument(
        "--max-sweeps", type=int, default=D.max_sweeps, help=f"coupled sweeps over all scales (default: {D.max_sweeps})"
    )
    group.add_argument("--seed", type=int, default=D.random_state, help=f"random seed (default: {D.random_state})")
    group.add_argument(
        "--n-jobs", type=int, default=None, help="threads of the solver (default: as many as the machine has free)"
    )
    group.add_argument("--key-added", default="pnmf", help="key of the results in the AnnData (default: pnmf)")
    parser.add_argument("--no-leiden", action="store_true", help="skip the per-scale Leiden clustering")
    parser.add_argument("--resolution", type=float, default=1.0, help="Leiden resolution (default: 1)")
    parser.add_argument("--color", default=None, help="obs column or gene to colour the figures by")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true", help="no progress display (the summary table still prints)")
    output.add_argument("--verbose", action="store_true", help="also show scanpy's log and warnings")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pnmf", description="Persistent NMF: embeddings and gene programs at every persistence scale."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run on scanpy's bundled pbmc68k_reduced (no download)")
    demo.add_argument("--out", type=Path, default=Path("pnmf_demo"), help="output folder (default: ./pnmf_demo)")
    _add_model_options(demo)

    run = commands.add_parser("run", help="run on an .h5ad file")
    run.add_argument("input", type=Path, help="input .h5ad")
    run.add_argument("-o", "--output", type=Path, required=True, help="output .h5ad (must differ from the input)")
    run.add_argument("--figures", type=Path, default=None, help="folder for figures (default: next to the output)")
    run.add_argument("--layer", default=None, help="layer with nonnegative expression (default: X)")
    run.add_argument("--use-rep", default="X_pca", help="representation in obsm for distances (default: X_pca)")
    run.add_argument("--all-genes", action="store_true", help="use all genes, not only var['highly_variable']")
    _add_model_options(run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 failed, 2 bad usage, 128 + signal when interrupted)."""
    args = _parser().parse_args(argv)
    from ._errors import PnmfError

    with _Signals() as signals, _quiet_libraries(verbose=args.verbose):
        try:
            _dispatch(args, signals)
        except _Interrupted as interrupted:
            name = signal.Signals(interrupted.signum).name
            print(f"pnmf: interrupted by {name}; no output was written", file=sys.stderr)
            return 128 + interrupted.signum
        except (PnmfError, OSError) as error:
            if args.debug:
                raise
            print(f"pnmf: error: {_one_line(error)}", file=sys.stderr)
            return EXIT_ERROR
    return 0


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename!s}" if error.filename else ""
        return f"{error.strerror}{where}" + ("" if error.errno is None else f" (errno {error.errno})")
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())


@contextlib.contextmanager
def _quiet_libraries(*, verbose: bool) -> Iterator[None]:
    """Keep scanpy's log and library warnings off the terminal unless ``--verbose``; restore afterwards."""
    import scanpy as sc

    verbosity = sc.settings.verbosity
    with warnings.catch_warnings():
        if verbose:
            sc.settings.verbosity = 3
        else:
            sc.settings.verbosity = 0
            warnings.simplefilter("ignore")
        try:
            yield
        finally:
            sc.settings.verbosity = verbosity


def _dispatch(args: argparse.Namespace, signals: _Signals) -> None:
    progress = _Progress(enabled=not args.quiet)
    try:
        progress.step("checking the options")
        _check_options(args)
        if args.command == "demo":
            output = args.out / "pbmc68k_pnmf.h5ad"
            figures = args.out
            progress.step("loading pbmc68k_reduced")
            adata = _demo_data(args.seed)
            layer, mask_var, use_rep = "lognorm", None, "X_pca"
            color = args.color or "bulk_labels"
        else:
            output = args.output
            figures = args.figures if args.figures is not None else output.parent
            _check_paths(args.input, output)
            progress.step(f"reading {args.input}")
            adata = _read_input(args.input)
            layer, use_rep, color = args.layer, args.use_rep, args.color
            mask_var = None if args.all_genes else _default_mask()
        _check_paths_writable(output, figures)
        options = _options(args, layer=layer, mask_var=mask_var, use_rep=use_rep)
        _check_against_data(adata, args, options, color=color)
        progress.step("persistent NMF")
        _analyse(adata, args, options)
        if not args.no_leiden:
            progress.step("Leiden clustering of every scale")
            import pnmf

            pnmf.tl.leiden(adata, args.resolution, key=args.key_added, random_state=args.seed)
        progress.step("drawing figures")
        images = _render_figures(adata, args.key_added, leiden=not args.no_leiden, color=color)
        progress.step(f"writing {output}")
        pngs = {figures / f"{output.stem}_{name}.png": png for name, png in images.items()}
        written = _write_outputs(adata, output, pngs, signals)
    finally:
        progress.close()
    _print_summary(adata, args.key_added, written)


class _Progress:
    """One progress display for the whole job, on stderr."""

    STEPS = 6

    def __init__(self, *, enabled: bool) -> None:
        from tqdm import tqdm

        # disable=None: drawn only on a terminal, never as \r-garbage in a batch job's log
        self._bar = tqdm(
            total=self.STEPS, disable=None if enabled else True, leave=False, file=sys.stderr, desc="pnmf", unit="step"
        )
        self._started = False

    def step(self, description: str) -> None:
        if self._started:
            self._bar.update()
        self._started = True
        self._bar.set_postfix_str(description)

    def close(self) -> None:
        self._bar.close()


def _weight(text: str) -> float | str:
    """``--graph-weight``: ``auto`` or a number."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        msg = f"expected 'auto' or a number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _options(args: argparse.Namespace, **inputs) -> PnmfOptions:
    """Build the fit's options from the flags (``inputs``: the options that depend on the command)."""
    from ._options import PnmfOptions

    # messages name the options as tl.pnmf's parameters (n_comps=0), which the flags mirror
    return PnmfOptions(
        n_comps=args.n_comps,
        n_scales=args.n_scales,
        filtration=args.filtration,
        graph_weight=args.graph_weight,
        coupling_weight=args.coupling_weight,
        anchor_weight=args.anchor_weight,
        max_iter=args.max_iter,
        max_sweeps=args.max_sweeps,
        random_state=args.seed,
        **inputs,
    )


def _check_options(args: argparse.Namespace) -> None:
    """Check every option that does not need the data, before anything is read or computed."""
    from ._validation import check_key_added, check_n_jobs, check_random_state, check_real

    check_random_state("seed", args.seed)  # named as the flag; the other options as tl.pnmf's parameters
    _options(args)
    check_n_jobs(args.n_jobs)
    check_key_added(args.key_added)
    check_real("resolution", args.resolution, strict=True)


def _check_paths(path: Path, output: Path) -> None:
    from ._errors import PnmfValueError

    if not path.is_file():
        msg = f"input file {str(path)!r} does not exist"
        raise FileNotFoundError(2, msg)
    if output.resolve() == path.resolve():
        msg = (
            f"the output {str(output)!r} is the input file; choose another output path (the input is never overwritten)"
        )
        raise PnmfValueError(msg)
    if output.exists() and output.is_dir():
        msg = f"the output {str(output)!r} is a folder; pass the path of the .h5ad file to write"
        raise PnmfValueError(msg)


def _check_paths_writable(output: Path, figures: Path) -> None:
    """Fail now, not after the computation, if an output folder cannot be written (folders are not created yet)."""
    from ._errors import PnmfValueError

    for folder in {output.parent, figures}:
        existing = folder
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            msg = f"cannot write into {str(folder)!r}: {str(existing)!r} is a file, not a folder"
            raise PnmfValueError(msg)
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied", str(existing))


def _check_against_data(adata, args: argparse.Namespace, options: PnmfOptions, *, color: str | None) -> None:
    """Check the options that depend on the data (layer, genes, sizes, keys, colour) before computing."""
    from ._errors import PnmfKeyError
    from ._manifest import check_result_key
    from ._validation import check_in_memory
    from .pl._colors import cell_colors
    from .tl._inputs import check_n_comps, gene_mask, read_expression

    check_in_memory(adata)
    mask = gene_mask(adata, options.mask_var)
    X, _ = read_expression(adata, options.layer, mask)
    check_n_comps(options.n_comps, X)
    if options.use_rep not in ("X", "X_pca") and options.use_rep not in adata.obsm:
        msg = (
            f"--use-rep {options.use_rep!r} is not in adata.obsm (available: {list(adata.obsm)}); "
            "pass --use-rep X_pca or an existing key."
        )
        raise PnmfKeyError(msg)
    check_result_key(adata, args.key_added)
    if color is not None:
        cell_colors(adata, color, layer=options.layer)


def _default_mask():
    from ._options import HVG_IF_PRESENT

    return HVG_IF_PRESENT


def _demo_data(seed: int):
    import scanpy as sc

    adata = sc.datasets.pbmc68k_reduced()
    # X is scaled (negative values); raw holds the log-normalized expression of the same genes
    adata.layers["lognorm"] = adata.raw[:, adata.var_names].X
    # the stored graph is an old 10-NN one; use scanpy's current default, as users would
    sc.pp.neighbors(adata, n_neighbors=15, random_state=seed)
    return adata


def _read_input(path: Path):
    import anndata as ad

    from ._errors import PnmfValueError

    try:
        return ad.read_h5ad(path)
    except Exception as error:  # h5py and anndata raise many types for a damaged file
        msg = f"cannot read {str(path)!r} as .h5ad ({type(error).__name__}: {error})"
        raise PnmfValueError(msg) from error


def _analyse(adata, args: argparse.Namespace, options: PnmfOptions) -> None:
    from . import tl

    tl.pnmf(adata, **options.as_kwargs(), n_jobs=args.n_jobs, key_added=args.key_added)


def _render_figures(adata, key: str, *, leiden: bool, color: str | None) -> dict[str, bytes]:
    """Draw every summary figure into memory as PNG bytes (nothing is written yet)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = {}
    for name, draw in _summary_figures(key, leiden=leiden, color=color).items():
        fig = draw(adata)
        try:
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=120)
        finally:
            plt.close(fig)
        images[name] = buffer.getvalue()
    return images


def _summary_figures(key: str, *, leiden: bool, color: str | None) -> dict[str, Callable]:
    """Name → function drawing one figure of a result (returns the Figure)."""
    from . import pl

    figures = {
        "persistence": lambda adata: pl.persistence(adata, key=key, return_fig=True),
        "scales": lambda adata: pl.scales(adata, color, key=key, return_fig=True),
        "loadings": lambda adata: pl.loadings(adata, key=key, return_fig=True),
        "convergence": lambda adata: pl.convergence(adata, key=key, return_fig=True),
    }
    if leiden:
        figures["cluster_tree"] = lambda adata: pl.cluster_tree(adata, color, key=key, return_fig=True)
    return figures


def _write_outputs(adata, output: Path, images: dict[Path, bytes], signals: _Signals) -> list[Path]:
    """Write the .h5ad and the figures through temporary files, then rename them all; on failure remove them.

    Files are complete before they get their names, so an output path holds either the
    previous file or the new complete one. Signals are deferred while a file is written
    (h5py can swallow them) and handled right after.
    """
    umask = os.umask(0)
    os.umask(umask)
    temporary: dict[Path, str] = {}
    renamed: list[Path] = []
    try:
        for target in [output, *images]:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(
                prefix=f".{target.stem}.", suffix=f"{target.suffix}.part", dir=target.parent
            )
            os.close(handle)
            temporary[target] = name
            with signals.deferred():
                if target == output:
                    _write_h5ad(adata, name, target, signals)
                else:
                    _write_bytes(name, images[target])
            os.chmod(name, 0o666 & ~umask)  # mkstemp creates the file private; give it the usual mode
        for target, name in temporary.items():
            with signals.deferred():
                os.replace(name, target)
                renamed.append(target)
    except BaseException:
        for target in renamed:
            with contextlib.suppress(OSError):
                os.remove(target)
        raise
    finally:
        for name in temporary.values():
            with contextlib.suppress(OSError):
                os.remove(name)
    return renamed


def _write_h5ad(adata, path: str, shown: Path, signals: _Signals) -> None:
    """Write an .h5ad in a child process; a failure (e.g. a full disk) becomes one OSError or PnmfError.

    When a write fails, HDF5 keeps objects whose release fails again and again: a flood of
    errors, then a crash at exit. A child process (forked: it shares the data, nothing is
    copied) confines all that; its stderr goes nowhere and it reports back through a pipe.
    Where there is no fork, the file is written here.
    """
    if not hasattr(os, "fork"):
        adata.write_h5ad(path)
        return
    import json
    import traceback

    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: write, report, exit without running any cleanup
        status = 0
        try:
            os.close(read_end)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            quiet = os.open(os.devnull, os.O_WRONLY)
            os.dup2(quiet, 2)
            try:
                adata.write_h5ad(path)
                report = {}
            except BaseException as error:
                status = 1
                cause = _os_error_in(error)
                report = {
                    "errno": getattr(cause, "errno", None),
                    "type": type(error).__name__,
                    "message": str(cause if cause is not None else error),
                    "traceback": traceback.format_exc(),
                }
            with os.fdopen(write_end, "w") as channel:
                json.dump(report, channel)
        finally:
            os._exit(status)
    os.close(write_end)
    signals.child = pid
    try:
        with os.fdopen(read_end) as channel:
            text = channel.read()
        _, status = os.waitpid(pid, 0)
    finally:
        signals.child = None
    if status == 0:
        return
    if signals.received is not None:
        return  # killed on the user's request: the caller raises _Interrupted
    outcome: dict[str, Any] = json.loads(text) if text else {}
    if outcome.get("errno"):
        raise OSError(outcome["errno"], os.strerror(outcome["errno"]), str(shown))
    if not outcome:
        msg = f"writing {str(shown)!r} crashed (status {status}); is the disk full or the file system failing?"
        raise OSError(5, msg)
    from ._errors import PnmfValueError

    msg = f"cannot write the result as .h5ad to {str(shown)!r} ({outcome['type']}: {outcome['message']})"
    failure = PnmfValueError(msg)
    failure.add_note(outcome["traceback"])
    raise failure


def _os_error_in(error: BaseException | None) -> OSError | None:
    """Return the OSError behind an exception that anndata or h5py wrapped, if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError):
            return error
        error = error.__cause__ or error.__context__
    return None


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _print_summary(adata, key: str, written: list[Path]) -> None:
    from . import get
    from ._keys import DEFAULT_CLUSTER_KEY
    from ._sections import Clustering, Convergence, read_section, section_entries

    table = get.scales(adata, key=key)
    columns = ["threshold", "n_connected", "n_edges", "objective", "n_iter", "converged", "recommended"]
    manifest = adata.uns[key]
    clusterings = section_entries(manifest, Clustering)
    if DEFAULT_CLUSTER_KEY in clusterings:
        table["n_clusters"] = clusterings[DEFAULT_CLUSTER_KEY].n_clusters
        columns.append("n_clusters")
    print(table[columns].to_string(float_format=lambda v: f"{v:.4g}"))
    convergence = read_section(manifest, Convergence)
    sweeps = get.history(adata, key=key).query("phase == 'sweep'")["objective"].to_numpy()
    status = "converged" if convergence.sweeps_converged else "stopped at --max-sweeps"
    if len(sweeps) > 1 and math.isfinite(sweeps[-2]) and sweeps[-2] != 0:
        status += f"; the last sweep lowered it by {100 * (sweeps[-2] - sweeps[-1]) / sweeps[-2]:.3f} %"
    print(f"objective {convergence.objective:.6g} after {convergence.n_sweeps} coupled sweeps ({status})")
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
