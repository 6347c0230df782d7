"""Shared CLI plumbing: one clear line on stderr and a non-zero exit for every expected failure."""
from __future__ import annotations

import functools
import os
import sys
from typing import Callable

from ..errors import DslError


def cli_entry(prog: str) -> Callable[[Callable[..., int | None]], Callable[..., int]]:
    """Wrap a main(argv) so DslError, missing files and Ctrl-C print one line instead of a traceback."""
    def wrap(fn: Callable[..., int | None]) -> Callable[..., int]:
        @functools.wraps(fn)
        def main(argv: list[str] | None = None) -> int:
            try:
                return int(fn(argv) or 0)
            except DslError as exc:
                _fail(prog, str(exc))
                return exc.exit_code
            except OSError as exc:  # missing files, permissions, a full disk, a closed stdout
                _fail(prog, f"{exc.filename or 'output'}: {exc.strerror or exc}")
                return 1
            except KeyboardInterrupt:
                print(f"{prog}: interrupted", file=sys.stderr)
                return 130
            except Exception as exc:  # pragma: no cover - an unexpected bug: keep the traceback on request
                if os.environ.get("DSL_DEBUG"):
                    raise
                _fail(prog, f"internal error: {type(exc).__name__}: {exc} (set DSL_DEBUG=1 for a traceback)")
                return 2
        return main
    return wrap


def _fail(prog: str, message: str) -> None:
    print(f"{prog}: error: {message}", file=sys.stderr)
