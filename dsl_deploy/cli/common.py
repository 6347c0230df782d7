"""Shared CLI plumbing: one clear line on stderr and a non-zero exit for every expected failure."""
from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import signal
import sys
import warnings
from typing import Any, Callable

from ..errors import DslError, InputError, printable


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
            except KeyboardInterrupt as exc:  # Ctrl-C, or a second SIGINT/SIGTERM during a graceful stop
                signum = int(getattr(exc, "signum", signal.SIGINT))
                print(f"{prog}: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
                return 128 + signum
            except Exception as exc:  # pragma: no cover - an unexpected bug: keep the traceback on request
                if os.environ.get("DSL_DEBUG"):
                    raise
                _fail(prog, f"internal error: {type(exc).__name__}: {exc} (set DSL_DEBUG=1 for a traceback)")
                return 2
        return main
    return wrap


def _fail(prog: str, message: str) -> None:
    # Messages can carry text from files (paths, sidecar fields): control characters are shown escaped.
    print(f"{prog}: error: {printable(message)}", file=sys.stderr)


def _warn(prog: str, message: Warning | str, category: type, *_: Any, **__: Any) -> None:
    """Warnings as one 'prog: warning: ...' line (no source path and line number)."""
    print(f"{prog}: warning: {printable(message)}", file=sys.stderr)


def quiet_opencv(max_pixels: int | None = None) -> None:
    """Silence OpenCV's and FFmpeg's own stderr lines (our one-line errors say what failed); call before cv2 loads.

    `max_pixels` also becomes OpenCV's own decoding limit (OPENCV_IO_MAX_IMAGE_PIXELS, read when cv2 loads), a
    backstop for image formats whose header dsl_deploy.limits does not read.
    """
    # FFmpeg logs on its own (e.g. "[mjpeg @ 0x..] overread 8" for a truncated video); read when the first
    # capture opens. setdefault: OPENCV_FFMPEG_LOGLEVEL=24 or OPENCV_LOG_LEVEL=INFO shows them again.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    if max_pixels is not None:
        os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(int(max_pixels)))
    import cv2

    try:
        if os.environ["OPENCV_LOG_LEVEL"] == "SILENT":
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # an OpenCV build without the logging module
        pass


def add_decoder_set(parser: argparse.ArgumentParser) -> None:
    """The --decoder-set KEY=VALUE option (repeatable) of the commands that decode."""
    from ..spec import DecoderSpec

    names = ", ".join(f.name for f in dataclasses.fields(DecoderSpec))
    parser.add_argument("--decoder-set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a decoder parameter of the model's spec for this run (repeatable), e.g. "
                             f"nms_window=9 or clamp=none; keys: {names}. docs/architecture.md, 'Decoding', "
                             "says what each rule does (default: the parameters in the model's spec, the "
                             "authors' rules)")


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


def add_backend_args(parser: argparse.ArgumentParser, several: bool = False) -> None:
    """The --backend and --precision-hint options (comma-separated lists when `several`, for dsl-bench)."""
    from ..backends import RUNTIMES
    from ..backends.openvino import PRECISION_HINTS

    names = ", ".join(sorted({n for names in RUNTIMES.values() for n in names}))
    lists = " (comma-separated: each is measured, side by side)" if several else ""
    parser.add_argument("--backend", default="auto", metavar="NAME" + ("[,NAME]" if several else ""),
                        help=f"runtime of the model{lists}: auto (by its suffix: onnxruntime for .onnx), or one of "
                             f"{names}; a .onnx file runs on onnxruntime or openvino (pip install "
                             "'dsl_deploy[openvino]') (default: %(default)s)")
    parser.add_argument("--precision-hint", default=None, metavar="HINT" + ("[,HINT]" if several else ""),
                        help=f"OpenVINO only{lists}: inference precision of the layers the file keeps in floating "
                             f"point, one of {', '.join(PRECISION_HINTS)} (auto: bf16 where the CPU has BF16) "
                             "(default: f32)")


def parse_backend_args(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(backend, precision_hint) of a command taking one of each: None where not chosen; InputError when unknown."""
    from ..backends import RUNTIMES
    from ..backends.openvino import PRECISION_HINTS

    backend = None if args.backend == "auto" else args.backend
    known = {n for names in RUNTIMES.values() for n in names}
    if backend is not None and backend not in known:
        raise InputError(f"--backend: {args.backend!r} is not one of auto, {', '.join(sorted(known))}")
    hint = args.precision_hint
    if hint is not None and hint not in PRECISION_HINTS:
        raise InputError(f"--precision-hint: {hint!r} is not one of {', '.join(PRECISION_HINTS)}")
    if hint is not None and backend != "openvino":
        raise InputError("--precision-hint: applies to --backend openvino only")
    return backend, hint
