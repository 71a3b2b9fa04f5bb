"""When the tools show their progress: at scanpy's info verbosity, as scanpy's own log lines."""

from __future__ import annotations

from scanpy import settings

__all__ = ["show_progress"]


def show_progress() -> bool:
    """Whether long steps show a bar with an ETA: ``sc.settings.verbosity`` is info (2) or above."""
    return settings.verbosity >= 2
