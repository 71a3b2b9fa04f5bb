"""Outputs written whole or not at all, and signals that stop a job without leaving a partial file.

Every output is written to a temporary file next to its destination and renamed only once
all of them are complete, so a failure, a full disk or a scheduler's SIGTERM never leaves
a partial file behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["Interrupted", "Signals", "write_outputs"]


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: stop, clean up, exit with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Signals:
    """Turn SIGINT/SIGTERM into :class:`Interrupted`, deferred while a file is being written.

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
        raise Interrupted(signum)

    def __enter__(self) -> Signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Record a signal that arrives inside the block, and raise it once the block is done."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self.received is not None:
            raise Interrupted(self.received)


def write_outputs(outputs: Mapping[Path, bytes | AnnData], signals: Signals) -> list[Path]:
    """Write every output through a temporary file, then rename them all; on failure remove them.

    Parameters
    ----------
    outputs
        Destination → content: the bytes of a file (a figure, a table) or an AnnData,
        written as ``.h5ad``.
    signals
        Signals are deferred while a file is written (h5py can swallow them) and handled
        right after.

    Returns
    -------
    The paths written, in the order of ``outputs``. Files are complete before they get
    their names, so an output path holds either its previous file or the new complete one.
    """
    umask = os.umask(0)
    os.umask(umask)
    temporary: dict[Path, str] = {}
    renamed: list[Path] = []
    try:
        for target, content in outputs.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(
                prefix=f".{target.stem}.", suffix=f"{target.suffix}.part", dir=target.parent
            )
            os.close(handle)
            temporary[target] = name
            with signals.deferred():
                if isinstance(content, bytes):
                    _write_bytes(name, content)
                else:
                    _write_h5ad(content, name, target, signals)
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


def _write_h5ad(adata: AnnData, path: str, shown: Path, signals: Signals) -> None:
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
        return  # killed on the user's request: the caller raises Interrupted
    outcome: dict[str, Any] = json.loads(text) if text else {}
    if outcome.get("errno"):
        raise OSError(outcome["errno"], os.strerror(outcome["errno"]), str(shown))
    if not outcome:
        msg = f"writing {str(shown)!r} crashed (status {status}); is the disk full or the file system failing?"
        raise OSError(5, msg)
    from .._errors import PnmfValueError

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
