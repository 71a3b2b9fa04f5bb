"""The ``pnmf`` command line (the entry point ``pnmf`` and ``python -m pnmf``).

``pnmf demo`` and ``pnmf run`` fit and draw; ``pnmf project`` embeds new cells on a
fitted reference; ``pnmf select-k`` compares numbers of factors; ``pnmf plot`` draws an
existing result. The subcommands live in :mod:`pnmf._cli`, one module per family.
"""

from __future__ import annotations

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
