"""Error types: every user-facing failure is one of these, with a message naming the input and the fix."""
from __future__ import annotations


class DslError(Exception):
    """Base class; the CLIs print its message on one line and exit non-zero."""

    exit_code = 1


class SpecError(DslError):
    """A model spec that is unreadable, malformed or newer than this version."""


class ArtifactError(DslError):
    """A checkpoint, ONNX file, engine or sidecar that is missing, corrupt or incompatible."""


class InputError(DslError, ValueError):
    """An array, frame or argument of the wrong shape, dtype, value or content."""


class BackendUnavailable(DslError):
    """A backend (TensorRT, CUDA, an ONNX Runtime provider) that is not installed or has no device."""

    exit_code = 3


class DataError(DslError):
    """A dataset file or annotation that is malformed or missing."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name when empty), cut at `limit`, for one-line errors."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def printable(text: object, limit: int | None = None) -> str:
    """`text` with control and other non-printable characters escaped (ESC as \\x1b, CR as \\r), cut at `limit`.

    Every message that may carry text from a file (a sidecar field, a COCO file name, a path) passes through
    this, so nothing read from disk can move the cursor, rewrite a line or add one on the user's terminal.
    """
    s = str(text)
    if not s.isprintable():
        s = "".join(c if c.isprintable() else repr(c)[1:-1] if c not in "'\"" else c for c in s)
    if limit is not None and len(s) > limit:
        s = s[:limit] + "..."
    return s
