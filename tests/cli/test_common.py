"""cli_entry: every expected failure is one line on stderr and a non-zero exit."""
import errno

import pytest

from dsl_deploy.cli.common import cli_entry
from dsl_deploy.errors import BackendUnavailable, InputError


def _main_raising(exc):
    @cli_entry("dsl-x")
    def main(argv=None):
        raise exc
    return main


@pytest.mark.parametrize("exc, code, text", [
    (InputError("frame: empty"), 1, "dsl-x: error: frame: empty"),
    (BackendUnavailable("no TensorRT"), 3, "dsl-x: error: no TensorRT"),
    (OSError(errno.ENOSPC, "No space left on device"), 1, "dsl-x: error: output: No space left on device"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "m.onnx"), 1, "m.onnx: No such file or directory"),
    (KeyboardInterrupt(), 130, "dsl-x: interrupted"),
])
def test_one_line_and_exit_code(capsys, exc, code, text):
    assert _main_raising(exc)([]) == code
    err = capsys.readouterr().err
    assert text in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unexpected_bug_names_debug_switch(capsys, monkeypatch):
    monkeypatch.delenv("DSL_DEBUG", raising=False)
    assert _main_raising(ZeroDivisionError("x"))([]) == 2
    assert "internal error: ZeroDivisionError" in capsys.readouterr().err
