"""One-line error text: `first_line` and `printable`."""
from __future__ import annotations

from dsl_deploy.errors import first_line, printable


def test_first_line_takes_the_first_line_cut_at_the_limit_or_the_type_name() -> None:
    assert first_line(ValueError("bad value\nTraceback detail")) == "bad value"
    assert first_line(RuntimeError("")) == "RuntimeError"
    assert first_line(OSError("x" * 300), 10) == "x" * 10 + "..."


def test_printable_escapes_control_characters() -> None:
    assert printable("a\x1b[2Jb\r") == "a\\x1b[2Jb\\r"
