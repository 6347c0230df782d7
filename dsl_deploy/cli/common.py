"""Shared CLI plumbing: one clear line on stderr and a non-zero exit for every expected failure."""
from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
import warnings
from typing import Any, Callable

from ..errors import DslError, InputError


def cli_entry(prog: str) -> Callable[[Callable[..., int | None]], Callable[..., int]]:
    """Wrap a main(argv) so DslError, missing files and Ctrl-C print one line instead of a traceback."""
    def wrap(fn: Callable[..., int | None]) -> Callable[..., int]:
        @functools.wraps(fn)
        def main(argv: list[str] | None = None) -> int:
            warnings.showwarning = functools.partial(_warn, prog)
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


def _warn(prog: str, message: Warning | str, category: type, *_: Any, **__: Any) -> None:
    """Warnings as one 'prog: warning: ...' line (no source path and line number)."""
    print(f"{prog}: warning: {message}", file=sys.stderr)


def add_decoder_set(parser: argparse.ArgumentParser) -> None:
    """The --decoder-set KEY=VALUE option (repeatable) of the commands that decode."""
    from ..spec import DecoderSpec

    names = ", ".join(f.name for f in dataclasses.fields(DecoderSpec))
    parser.add_argument("--decoder-set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a decoder parameter of the model's spec for this run (repeatable), e.g. "
                             f"nms_window=9 or clamp=none; keys: {names}. docs/architecture.md, 'Decoding', "
                             "says what each rule does")


def parse_decoder_set(values: list[str]) -> dict[str, Any]:
    """{'nms_window': 9, ...} from ['nms_window=9', ...], each value typed as its DecoderSpec field."""
    from ..spec import DecoderSpec

    kinds = {f.name: type(f.default) for f in dataclasses.fields(DecoderSpec)}
    out: dict[str, Any] = {}
    for item in values:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or key not in kinds:
            raise InputError(f"--decoder-set {item!r}: expected KEY=VALUE with KEY one of {', '.join(kinds)}")
        out[key] = _typed(key, text, kinds[key], item)
    return out


def _typed(key: str, text: str, kind: type, item: str) -> Any:
    if key == "clamp" and text.lower() in ("none", "off", "null"):
        return None
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise ValueError
            return lowered in ("true", "1", "yes", "on")
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        raise InputError(f"--decoder-set {item!r}: {text!r} is not a valid {kind.__name__} for {key}") from None
    return text
