"""Keeps the calling thread's alternate signal stack as it was across calls into OpenVINO.

OpenVINO's CPU plugin (2024 to 2026.4 at least) installs a signal stack of its own in the thread that loads it and,
when the plugin is destroyed, puts back the one it found, but only if its own is still the current one. Two plugin
instances (two `openvino.Core`s) released in the order they were made therefore leave the first one's stack,
already unmapped, installed: the next signal that runs on the alternate stack (CPython installs its handlers with
SA_ONSTACK, so any Ctrl-C) cannot be delivered and the kernel kills the process with SIGSEGV, no traceback.

Putting the previous stack back as soon as the plugin call returns means no plugin instance ever finds its own stack
current when it is destroyed, so none restores a stale one; each only frees its own memory.
"""
from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager

SS_DISABLE = 2  # <signal.h> on Linux (x86-64 and aarch64)


class _StackT(ctypes.Structure):
    """Linux's stack_t."""

    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def _libc() -> ctypes.CDLL | None:
    """The process's C library where sigaltstack has Linux's stack_t, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "sigaltstack") else None
    except OSError:
        return None


_LIBC = _libc()


def current() -> tuple[int, int, int] | None:
    """(address, flags, size) of this thread's alternate signal stack, or None where it cannot be read."""
    if _LIBC is None:
        return None
    stack = _StackT()
    if _LIBC.sigaltstack(None, ctypes.byref(stack)) != 0:
        return None
    return int(stack.ss_sp or 0), int(stack.ss_flags), int(stack.ss_size)


def _install(stack: tuple[int, int, int]) -> bool:
    """Make `stack` this thread's alternate signal stack again (disabled if it was); whether that worked."""
    if _LIBC is None:
        return False
    address, flags, size = stack
    wanted = _StackT(ctypes.c_void_p(address or None), SS_DISABLE if flags & SS_DISABLE else 0, size)
    return _LIBC.sigaltstack(ctypes.byref(wanted), None) == 0


@contextmanager
def kept_signal_stack() -> Iterator[None]:
    """Run the block, then put back the alternate signal stack this thread had before it (best effort)."""
    before = current()
    try:
        yield
    finally:
        after = current()
        # Refused (e.g. a stack too small for a larger signal frame the plugin has since enabled): the plugin's
        # own stack stays, as it would without this guard.
        if before is not None and after is not None and after != before:
            _install(before)
