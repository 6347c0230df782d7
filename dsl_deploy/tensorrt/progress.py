"""Builder progress on the terminal: TensorRT's IProgressMonitor where it exists, else a heartbeat line."""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable

Log = Callable[[str], None]


def make_monitor_factory(log: Log, max_depth: int = 1) -> Callable[[type], Any]:
    """A factory for compat.attach_progress: builds an IProgressMonitor subclass that logs phases."""
    def factory(base: type) -> Any:
        class PhaseLogger(base):  # type: ignore[misc, valid-type]
            """Logs the top phases with their step counts; never cancels the build."""

            def __init__(self) -> None:
                base.__init__(self)  # type: ignore[misc]  # TensorRT's binding: a base made at run time
                self._depth: dict[str, int] = {}
                self._steps: dict[str, int] = {}
                self._start: dict[str, float] = {}
                self._lock = threading.Lock()  # TensorRT may call from several threads

            def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
                with self._lock:
                    depth = self._depth.get(parent_phase, -1) + 1 if parent_phase else 0
                    self._depth[phase_name] = depth
                    self._steps[phase_name] = num_steps
                    self._start[phase_name] = time.perf_counter()
                    if depth <= max_depth:
                        log(f"{'  ' * depth}{phase_name} ({num_steps} step{'s' if num_steps != 1 else ''})")

            def step_complete(self, phase_name: str, step: int) -> bool:
                with self._lock:
                    if self._depth.get(phase_name, 99) == 0 and self._steps.get(phase_name, 0) > 1:
                        log(f"  step {step + 1}/{self._steps[phase_name]} of {phase_name}")
                return True  # False would cancel the build

            def phase_finish(self, phase_name: str) -> None:
                with self._lock:
                    depth = self._depth.pop(phase_name, 99)
                    started = self._start.pop(phase_name, time.perf_counter())
                    if depth == 0:
                        log(f"{phase_name} done in {time.perf_counter() - started:.1f} s")

        return PhaseLogger()

    return factory


class Heartbeat:
    """Prints 'still building... N s' every `every` seconds until stopped (for TensorRT without a monitor)."""

    def __init__(self, what: str, every: float = 15.0, stream: Any = None):
        self.what, self.every = what, every
        self.stream = stream or sys.stderr
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            print(f"{self.what}... {time.perf_counter() - self._t0:.0f} s", file=self.stream, flush=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
