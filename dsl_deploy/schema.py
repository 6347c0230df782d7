"""Reading untrusted JSON, in one place: a parse with size and nesting limits, and typed field checks.

Every JSON document dsl_deploy reads (the model spec in a checkpoint, an ONNX file's metadata or an engine
sidecar; the sidecar itself; COCO annotation files; DeepSport databases and calibrations) goes through
`parse_json` and is then read field by field with `Where` or `Fields`, so a malformed value is one error
that names the file and the field and says what was expected, never a TypeError, an OverflowError or a
RecursionError from deep inside. Values shown in messages go through `describe` (short, escaped).
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterator, Mapping, Sequence

from .errors import DataError, DslError, printable

MAX_DEPTH = 32  # deepest nesting of lists and objects accepted (the formats we read need at most 6)
_MISSING: Any = object()


def describe(value: Any, limit: int = 40) -> str:
    """A short, escaped, JSON-like rendering of `value` for a message (never raises)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if abs(value) >= 10 ** 18:  # str() of a 5000-digit integer raises ValueError on Python >= 3.11
            digits = int((value.bit_length() - 1) * 0.30103)
            while 10 ** digits <= abs(value):
                digits += 1
            return f"an integer of {digits} digits"
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else {"nan": "NaN", "inf": "Infinity"}.get(repr(value),
                                                                                               "-Infinity")
    if isinstance(value, str):
        text = printable(value, limit)
        return f'"{text}"'
    if isinstance(value, Mapping):
        return f"an object of {len(value)} field(s)"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item(s)"
    return printable(f"a {type(value).__name__}", limit)


def parse_json(data: str | bytes, *, source: str, error: type[DslError] = DataError, what: str = "JSON",
               max_bytes: int | None = None, max_depth: int | None = MAX_DEPTH) -> Any:
    """Parse JSON text; `error` naming `source` when it is too large, unreadable or nested too deeply.

    Nesting deeper than the parser can follow (Python's recursion limit) is always refused; `max_depth` also
    refuses anything deeper than that many levels (None: large documents, e.g. COCO files, whose fields are
    each checked for their type anyway, skip that walk over every value).
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise error(f"{printable(source)}: the {what} is {len(data)} bytes; expected at most {max_bytes}")
    try:
        doc = json.loads(data)
    except RecursionError:
        raise error(f"{printable(source)}: the {what} is nested too deeply to read (expected at most "
                    f"{max_depth or MAX_DEPTH} levels of lists and objects)") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, the int digit limit, bad UTF-8
        raise error(f"{printable(source)}: the {what} is not readable JSON ({printable(str(exc), 120)})") from None
    if max_depth is not None and nesting_depth(doc, max_depth) > max_depth:
        raise error(f"{printable(source)}: the {what} is nested more than {max_depth} levels deep; expected at "
                    f"most {max_depth}")
    return doc


def nesting_depth(doc: Any, stop: int = MAX_DEPTH) -> int:
    """Depth of nested lists/objects in `doc` (a scalar is 0), counted without recursion; stops past `stop`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > deepest:
            deepest = depth
            if deepest > stop:
                return deepest
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


class Where:
    """Checks of single values; each failure is `error` naming the source and the field."""

    def __init__(self, source: str, error: type[DslError] = DataError):
        self.source, self.error = source, error

    def fail(self, field: str, value: Any, expected: str) -> DslError:
        """The error for `field` holding `value` where `expected` was wanted."""
        return self.error(f"{printable(self.source)}: field '{printable(field, 80)}' is {describe(value)}; "
                          f"expected {expected}")

    def integer(self, value: Any, field: str, lo: int, hi: int) -> int:
        """An integer (not a bool, not 3.0) in [lo, hi]."""
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(field, value, f"an integer in [{lo}, {hi}]")
        return value

    def number(self, value: Any, field: str, lo: float, hi: float, *, open_lo: bool = False) -> float:
        """A finite number (int or float, not a bool) in [lo, hi] (or (lo, hi] with open_lo)."""
        ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
              and (lo < value if open_lo else lo <= value) and value <= hi)
        if not ok:
            raise self.fail(field, value, f"a finite number in {'(' if open_lo else '['}{lo:g}, {hi:g}]")
        return float(value)

    def string(self, value: Any, field: str, *, choices: Sequence[str] | None = None, max_len: int = 256) -> str:
        """A string of printable characters, at most max_len long, one of `choices` when given."""
        if choices is not None:
            if not isinstance(value, str) or value not in choices:
                raise self.fail(field, value, "one of " + ", ".join(f'"{c}"' for c in choices))
            return value
        if not isinstance(value, str) or len(value) > max_len or not value.isprintable():
            raise self.fail(field, value, f"a string of at most {max_len} printable characters")
        return value

    def boolean(self, value: Any, field: str) -> bool:
        """true or false (not "yes", not 1)."""
        if not isinstance(value, bool):
            raise self.fail(field, value, "true or false")
        return value

    def numbers(self, value: Any, field: str, lo: float, hi: float, *, count: int | None = None,
                open_lo: bool = False) -> tuple[float, ...]:
        """A list of finite numbers in [lo, hi], of exactly `count` items when given."""
        if not isinstance(value, (list, tuple)) or (count is not None and len(value) != count):
            raise self.fail(field, value, f"a list of {count if count is not None else 'some'} numbers")
        return tuple(self.number(v, f"{field}[{i}]", lo, hi, open_lo=open_lo) for i, v in enumerate(value))

    def strings(self, value: Any, field: str, *, max_items: int = 64, max_len: int = 64) -> tuple[str, ...]:
        """A list of at most max_items printable strings."""
        if not isinstance(value, (list, tuple)) or len(value) > max_items:
            raise self.fail(field, value, f"a list of at most {max_items} strings")
        return tuple(self.string(v, f"{field}[{i}]", max_len=max_len) for i, v in enumerate(value))

    def identifier(self, value: Any, field: str) -> int | str:
        """An id as JSON files write them: an integer or a short string (never a list or an object)."""
        if isinstance(value, bool) or not isinstance(value, (int, str)) \
                or (isinstance(value, int) and abs(value) >= 1 << 63) or (isinstance(value, str) and len(value) > 256):
            raise self.fail(field, value, "an integer or a string id")
        return value

    def fields(self, value: Any, field: str = "") -> "Fields":
        """A JSON object's fields, read under `field`."""
        return Fields(value, where=self, prefix=field)

    def items(self, value: Any, field: str, *, max_items: int | None = None) -> list:
        """A list (of at most max_items)."""
        if not isinstance(value, list) or (max_items is not None and len(value) > max_items):
            raise self.fail(field, value, "a list" + (f" of at most {max_items} items" if max_items else ""))
        return value


class Fields:
    """Typed reads of one JSON object's fields; `fields.integer("width", 1, 8192)` and so on."""

    def __init__(self, data: Any, *, where: Where, prefix: str = ""):
        self.where, self.prefix = where, prefix
        if not isinstance(data, Mapping):
            raise where.fail(prefix or "(top level)", data, "an object")
        self.data = data

    def _name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """The raw value of `key`; an error naming it when it is missing and has no default."""
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self.where.error(f"{printable(self.where.source)}: field '{self._name(key)}' is missing")
        return default

    def has(self, key: str) -> bool:
        """Whether `key` is present."""
        return key in self.data

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def integer(self, key: str, lo: int, hi: int, default: Any = _MISSING) -> int:
        """Integer field in [lo, hi]."""
        v = self.get(key, default)
        return v if v is default and default is not _MISSING else self.where.integer(v, self._name(key), lo, hi)

    def number(self, key: str, lo: float, hi: float, default: Any = _MISSING, *, open_lo: bool = False) -> float:
        """Finite number field in [lo, hi]."""
        v = self.get(key, default)
        if v is default and default is not _MISSING:
            return v
        return self.where.number(v, self._name(key), lo, hi, open_lo=open_lo)

    def string(self, key: str, default: Any = _MISSING, **kwargs: Any) -> str:
        """String field (see Where.string)."""
        v = self.get(key, default)
        return v if v is default and default is not _MISSING else self.where.string(v, self._name(key), **kwargs)

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        """Boolean field."""
        v = self.get(key, default)
        return v if v is default and default is not _MISSING else self.where.boolean(v, self._name(key))

    def numbers(self, key: str, lo: float, hi: float, default: Any = _MISSING, **kwargs: Any) -> tuple[float, ...]:
        """List-of-numbers field."""
        v = self.get(key, default)
        if v is default and default is not _MISSING:
            return v
        return self.where.numbers(v, self._name(key), lo, hi, **kwargs)

    def identifier(self, key: str, default: Any = _MISSING) -> int | str:
        """Id field: an integer or a string."""
        v = self.get(key, default)
        return v if v is default and default is not _MISSING else self.where.identifier(v, self._name(key))

    def items(self, key: str, default: Any = _MISSING, **kwargs: Any) -> list:
        """List field."""
        v = self.get(key, default)
        return v if v is default and default is not _MISSING else self.where.items(v, self._name(key), **kwargs)

    def fields(self, key: str, default: Any = _MISSING) -> "Fields":
        """Object field, as Fields."""
        v = self.get(key, default)
        return Fields(v, where=self.where, prefix=self._name(key))
