"""The signal stack guard: OpenVINO plugins released in creation order must not leave a dead signal stack behind."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from dsl_deploy.backends import signal_stack

LINUX_ONLY = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack's stack_t is Linux's here")

# Two plugin instances released oldest first, then a Ctrl-C: without the guard OpenVINO 2026.4's second plugin puts
# the first one's (unmapped) stack back and the SIGINT kills the process with SIGSEGV (exit -11, no traceback).
TWO_PLUGINS_THEN_CTRL_C = """
import faulthandler, gc, os, signal
faulthandler.enable()  # as pytest does: CPython's own alternate stack, which the plugin replaces
from dsl_deploy.backends import signal_stack
start = signal_stack.current()
{make}
first = make(); second = make()
del first; gc.collect()
del second; gc.collect()
print("same stack", signal_stack.current() == start, flush=True)
try:
    os.kill(os.getpid(), signal.SIGINT)
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""

RAW_CORES = """
import openvino
def make():
    core = openvino.Core()
    with signal_stack.kept_signal_stack():
        core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")  # loads the CPU plugin
    return core
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@LINUX_ONLY
def test_the_block_leaves_the_stack_it_found():
    code = textwrap.dedent("""
        import ctypes, faulthandler
        from dsl_deploy.backends import signal_stack
        faulthandler.enable()
        before = signal_stack.current()
        other = ctypes.create_string_buffer(65536)
        with signal_stack.kept_signal_stack():
            assert signal_stack._install((ctypes.addressof(other), 0, 65536))
            print("inside", signal_stack.current() == (ctypes.addressof(other), 0, 65536))
        print("after", signal_stack.current() == before)
        faulthandler.disable()
        signal_stack._install((0, signal_stack.SS_DISABLE, 0))
        with signal_stack.kept_signal_stack():
            assert signal_stack._install((ctypes.addressof(other), 0, 65536))
        print("disabled again", signal_stack.current()[1] & signal_stack.SS_DISABLE == signal_stack.SS_DISABLE)
    """)
    res = _run(code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["inside", "True", "after", "True", "disabled", "again", "True"]


@LINUX_ONLY
def test_current_reads_this_threads_stack():
    stack = signal_stack.current()
    assert stack is not None and len(stack) == 3 and all(isinstance(v, int) for v in stack)


@LINUX_ONLY
def test_openvino_plugins_released_in_order_leave_ctrl_c_working():
    pytest.importorskip("openvino", reason="the OpenVINO backend is an optional extra")
    res = _run(TWO_PLUGINS_THEN_CTRL_C.format(make=RAW_CORES))
    assert res.returncode == 0, f"exit {res.returncode}: {res.stderr[-2000:]}"
    assert res.stdout.split() == ["same", "stack", "True", "KeyboardInterrupt"]


@LINUX_ONLY
def test_two_backends_released_in_order_leave_ctrl_c_working(artifacts):
    pytest.importorskip("openvino", reason="the OpenVINO backend is an optional extra")
    make = textwrap.dedent(f"""
        from dsl_deploy.backends import load_backend
        def make():
            return load_backend({str(artifacts[1])!r}, backend="openvino", threads=1)
    """)
    res = _run(TWO_PLUGINS_THEN_CTRL_C.format(make=make))
    assert res.returncode == 0, f"exit {res.returncode}: {res.stderr[-2000:]}"
    assert res.stdout.split() == ["same", "stack", "True", "KeyboardInterrupt"]
