"""Compact JSON text of result records: orjson when installed (the `fast` extra), else the standard library.

Both give the same values. The text can differ only where JSON allows it: orjson writes non-ASCII characters
as UTF-8 rather than \\u escapes, small numbers as 0.00001 rather than 1e-05, and NaN/inf as null (which the
standard library writes as the non-JSON tokens NaN/Infinity; decoded results hold none).
"""
from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # the standard library is the fallback
    orjson = None  # type: ignore[assignment]

ENGINES = ("orjson", "json")
ENGINE = "orjson" if orjson is not None else "json"


def dumps(obj: Any, *, engine: str | None = None) -> bytes:
    """Compact UTF-8 JSON of `obj` (plain dicts, lists, str, int, float, bool, None)."""
    engine = engine or ENGINE
    if engine == "orjson":
        if orjson is None:
            raise ImportError("orjson is not installed: pip install 'dsl_deploy[fast]' (or orjson)")
        return orjson.dumps(obj)
    if engine != "json":
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    return json.dumps(obj, separators=(",", ":")).encode()
