"""The ``pnmf`` command: one module per family of subcommands, shared checks and atomic writing.

Written for batch jobs: every option is checked before anything is computed; outputs are
written to temporary files next to their destination and renamed only once all of them
are complete, so a failure, a full disk or a scheduler's SIGTERM never leaves a partial
file behind; a mistake in the input or options gives one line ``pnmf: error: …`` and exit
status 1 (``--debug`` shows the traceback), while a bug shows its traceback. Heavy
libraries are imported inside the functions that use them, so ``pnmf --help`` is quick.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from .. import __version__
from ._common import one_line, quiet_libraries
from ._figures import add_plot
from ._files import Interrupted, Signals
from ._fit import add_demo, add_run
from ._project import add_project
from ._select_k import add_select_k

__all__ = ["EXIT_ERROR", "main", "parser"]

EXIT_ERROR = 1


def parser() -> argparse.ArgumentParser:
    """Return the parser of the ``pnmf`` command and all its subcommands."""
    root = argparse.ArgumentParser(
        prog="pnmf",
        description="Persistent NMF: embeddings and gene programs at every persistence scale.",
        epilog="Run 'pnmf COMMAND --help' for a command's options and examples.",
    )
    root.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_demo, add_run, add_project, add_select_k, add_plot):
        add(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pnmf`` command.

    Parameters
    ----------
    argv
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    The exit status: 0 done, 1 a mistake in the input or options (or a file-system error),
    2 bad usage, 128 + the signal number when interrupted.
    """
    args = parser().parse_args(argv)
    import matplotlib

    from .._errors import PnmfError

    matplotlib.use("Agg")  # figures go to files only, never to a window
    with Signals() as signals, quiet_libraries(verbose=args.verbose):
        try:
            args.handler(args, signals)
        except Interrupted as interrupted:
            name = signal.Signals(interrupted.signum).name
            print(f"pnmf: interrupted by {name}; no output was written", file=sys.stderr)
            return 128 + interrupted.signum
        except (PnmfError, OSError) as error:
            if args.debug:
                raise
            print(f"pnmf: error: {one_line(error)}", file=sys.stderr)
            return EXIT_ERROR
    return 0
