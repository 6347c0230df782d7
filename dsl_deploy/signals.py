"""Graceful stop on SIGINT/SIGTERM: the first signal asks long work to finish cleanly, a second aborts."""
from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class StopSignal(KeyboardInterrupt):
    """A second signal during a graceful stop: abort now. `signum` is that signal (exit status 128 + signum)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class GracefulStop:
    """While entered, SIGINT (and SIGTERM) set `event` instead of raising; a second signal raises StopSignal
    (a KeyboardInterrupt carrying the signal, so SIGTERM twice exits 143, not 130). Outside the main thread,
    where handlers cannot be installed, it leaves signals alone."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._signals = signals
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """Whether a stop was asked for."""
        return self.event.is_set()

    @property
    def signal_name(self) -> str:
        """Name of the signal that asked for the stop ('SIGINT'), or '' if none did."""
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for sig in self._signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is not None:
            raise StopSignal(signum)  # the second signal: the user no longer wants a clean finish
        self.signum = signum
        self.event.set()
