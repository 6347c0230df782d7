"""Data source strings, one parser for dsl-train and dsl-eval: `synthetic:N`, `coco:PATH`, `deepsport:PATH`, or a
bare path (a COCO keypoints .json file, a DeepSport folder)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, InputError, printable

KINDS = ("synthetic", "coco", "deepsport")
FORMS = "synthetic:N, coco:PATH, deepsport:PATH, a COCO keypoints .json file or a DeepSport folder"
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_-]*:")  # a kind-like prefix (not a path such as ./a:b or C:/...)


@dataclass(frozen=True)
class DataSource:
    """A parsed data source: its kind, the scene count (synthetic) or the path (coco, deepsport)."""

    kind: str
    text: str
    count: int = 0
    path: Path | None = None


def _count(text: str, arg: str, option: str) -> int:
    try:
        n = int(arg)
    except ValueError:
        n = 0
    if n < 1:
        raise InputError(f"{option}: {printable(text)!r}: synthetic:N needs a positive number of scenes")
    return n


def parse_data_source(text: str, option: str = "--data") -> DataSource:
    """The DataSource `text` names; InputError (not a source) or DataError (no such path) naming `option`."""
    kind, sep, arg = text.partition(":")
    if sep and kind in KINDS:
        if kind == "synthetic":
            return DataSource(kind, text, count=_count(text, arg, option))
        if not arg:
            raise InputError(f"{option}: {printable(text)!r} names no path; expected {kind}:PATH")
        path = Path(arg)
        if not path.exists():
            raise DataError(f"{option}: {kind} data path {printable(path)} does not exist")
        if kind == "coco" and path.is_dir():
            raise DataError(f"{option}: coco:PATH must name the COCO annotation JSON file, {printable(path)} is "
                            "a folder")
        return DataSource(kind, text, path=path)
    path = Path(text)
    if text.strip() and path.exists():  # Path("") would be the current folder
        if path.is_dir():
            return DataSource("deepsport", text, path=path)
        if path.suffix.lower() == ".json":
            return DataSource("coco", text, path=path)
        raise DataError(f"{option} {printable(text)}: expected a COCO keypoints .json file, a DeepSport folder "
                        "or synthetic:N")
    if _PREFIX.match(text):
        raise InputError(f"{option}: {printable(text)!r} is not a data source; expected {FORMS}")
    raise DataError(f"{option} {printable(text)!r}: no such file or folder (expected {FORMS})")
