"""SIGINT and SIGTERM while qomsim runs: the one place that installs and restores their handlers.

Three parts of a run need them, each differently: the bounded exploration holds them back while a Dask
``LocalCluster`` starts (a half-started cluster cannot be closed), ``qomsim decide`` turns them into a
stop between two checks (:class:`Interrupts`), and the notes' writer records them and finishes the swap
first (:mod:`migration.report.outdir`).  Python delivers signals to the main thread only, so elsewhere
the handlers are left as they are.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["STOP_SIGNALS", "Interrupts", "deferred", "routed"]

#: the signals that stop a run
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def routed(handler: Callable[[int], None]) -> Iterator[None]:
    """Send SIGINT and SIGTERM to ``handler`` while the block runs, then put the old handlers back.

    :param handler: called with the signal's number (it may raise, e.g. ``KeyboardInterrupt``).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, lambda signum, _frame: handler(signum)) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the block runs, then deliver the first one that came to the
    handler in place before."""
    got: list[int] = []
    with routed(got.append):
        yield
    if got:
        signal.raise_signal(got[0])


class Interrupts:
    """SIGINT and SIGTERM both stop a run; the flag survives a ``KeyboardInterrupt`` Python swallowed.

    :ivar signum: the first signal that came (0: none).
    """

    def __init__(self) -> None:
        self.signum = 0

    def handler(self, signum: int) -> None:
        """Record the signal and raise :class:`KeyboardInterrupt` where the program is.

        :param signum: the signal.
        :raise KeyboardInterrupt: always.
        """
        self.signum = self.signum or signum
        raise KeyboardInterrupt

    def check(self) -> None:
        """:raise KeyboardInterrupt: when a signal came, even one whose exception was swallowed (one that
            landed in a gc or weakref callback, where Python cannot raise it)."""
        if self.signum:
            raise KeyboardInterrupt

    @property
    def status(self) -> int:
        """:return: the exit status a run stopped by the signal ends with (130 for SIGINT, 143 for
            SIGTERM)."""
        return 128 + (self.signum or signal.SIGINT)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Route SIGINT and SIGTERM to :meth:`handler` while the block runs."""
        hook = sys.unraisablehook

        def unraisable(u: Any) -> None:
            if not (self.signum and u.exc_type is KeyboardInterrupt):
                hook(u)

        sys.unraisablehook = unraisable
        try:
            with routed(self.handler):
                yield
        finally:
            sys.unraisablehook = hook
