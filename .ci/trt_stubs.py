"""Install NVIDIA's TensorRT Python stubs (the `tensorrt-stubs` package) where mypy can read them, repaired.

    python .ci/trt_stubs.py [--dest .ci/.stubs] [--version 10.13.0.35.1]
    MYPYPATH=.ci/.stubs mypy

Why a script and not a requirement:
- `tensorrt-stubs` depends on `tensorrt`, whose wheel downloads its libraries from pypi.nvidia.com at install
  time (a GPU machine's job; CI has no such host), so the stubs are installed alone (`--no-deps`).
- They install as top-level `tensorrt/` and `tensorrt_bindings/` folders without a `py.typed` marker, which
  mypy does not read from site-packages (PEP 561); from a folder on MYPYPATH it does.
- The generated `tensorrt.pyi` of 10.13.0.35.1 does not parse: four plugin methods name a parameter `in` (a
  Python keyword) and `INetworkDefinition.add_scale_nd` has a parameter without a default after ones with
  defaults. mypy then stops on syntax errors and checks nothing. Each such line is repaired here, by parsing
  the file and fixing the line Python reports, until it parses; any other kind of error stops the script.
- The same file declares the data type `bool: DataType` at module level, which shadows the builtin in every
  `-> bool` of the file (mypy: 'Variable ... is not valid as a type'); those annotations become builtins.bool.
"""
from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_VERSION = "10.13.0.35.1"
KEYWORD_PARAM = re.compile(r"(?<=[(,\s])in(?=\s*:)")
MAX_REPAIRS = 200
BOOL_ANNOTATION = re.compile(r"(->\s*|:\s*|\[\s*|,\s*|\|\s*)bool\b")


def repair_line(line: str, message: str) -> str:
    """The stub line with the defect Python reported fixed, or the line unchanged when it is not one we know."""
    if KEYWORD_PARAM.search(line):
        return KEYWORD_PARAM.sub("in_", line)
    if "default" in message and line.lstrip().startswith("def "):
        # Parameters after the first defaulted one get '= ...' (the stub's own placeholder for defaults).
        head, sep, tail = line.partition("(")
        params, close, rest = tail.rpartition(")")
        fixed, seen_default = [], False
        for p in split_params(params):
            if "=" in p:
                seen_default = True
            elif seen_default and ":" in p and not p.strip().startswith("*"):
                p = p + " = ..."
            fixed.append(p)
        return head + sep + ",".join(fixed) + close + rest
    return line


def split_params(text: str) -> list[str]:
    """Split a parameter list on top-level commas (annotations hold brackets with commas of their own)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def repair_source(source: str, name: str) -> tuple[str, int]:
    """Repair `source` until it parses: (repaired source, lines repaired). ValueError on an unknown defect."""
    lines = source.split("\n")
    repaired = 0
    for _ in range(MAX_REPAIRS):
        try:
            ast.parse("\n".join(lines), filename=name, feature_version=(3, 10))
            return "\n".join(lines), repaired
        except SyntaxError as exc:
            index = (exc.lineno or 0) - 1
            if not 0 <= index < len(lines):
                raise ValueError(f"{name}: {exc.msg} (no line to repair)") from None
            fixed = repair_line(lines[index], exc.msg or "")
            if fixed == lines[index]:
                raise ValueError(f"{name}:{exc.lineno}: {exc.msg}; not a defect this script knows how to "
                                 f"repair: {lines[index].strip()[:120]}") from None
            lines[index] = fixed
            repaired += 1
    raise ValueError(f"{name}: more than {MAX_REPAIRS} lines to repair")


def unshadow_bool(source: str) -> tuple[str, int]:
    """Annotations of `bool` -> builtins.bool where the module declares a variable named bool."""
    if not re.search(r"^bool\s*:", source, re.M):
        return source, 0
    out, n = [], 0
    for line in source.split("\n"):
        if line.lstrip().startswith("def ") or re.match(r"\s+\w+\s*:", line):
            line, k = BOOL_ANNOTATION.subn(lambda m: m.group(1) + "builtins.bool", line)
            n += k
        out.append(line)
    if n and not re.search(r"^import builtins$", source, re.M):
        out.insert(1, "import builtins")
    return "\n".join(out), n


def install(dest: Path, version: str) -> None:
    """pip-install tensorrt-stubs==version alone into dest."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", tmp,
                        f"tensorrt-stubs=={version}"], check=True)
        dest.mkdir(parents=True, exist_ok=True)
        for package in ("tensorrt", "tensorrt_bindings"):
            src = Path(tmp) / package
            if not src.is_dir():
                raise SystemExit(f"trt_stubs: tensorrt-stubs {version} has no {package}/ folder")
            target = dest / package
            target.mkdir(exist_ok=True)
            for stub in src.glob("*.pyi"):
                (target / stub.name).write_text(stub.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=Path(__file__).resolve().parent / ".stubs",
                        help="folder to put on MYPYPATH (default .ci/.stubs)")
    parser.add_argument("--version", default=DEFAULT_VERSION,
                        help=f"tensorrt-stubs version (default {DEFAULT_VERSION})")
    args = parser.parse_args(argv)
    install(args.dest, args.version)
    total = 0
    for stub in sorted(args.dest.rglob("*.pyi")):
        try:
            text, n = repair_source(stub.read_text(), str(stub))
        except ValueError as exc:
            print(f"trt_stubs: {exc}", file=sys.stderr)
            return 1
        text, k = unshadow_bool(text)
        if n or k:
            stub.write_text(text)
            print(f"trt_stubs: {stub.relative_to(args.dest)}: repaired {n} line(s), {k} bool annotation(s)")
        total += n
    print(f"trt_stubs: tensorrt-stubs {args.version} in {args.dest} ({total} line(s) repaired); "
          f"run MYPYPATH={args.dest} mypy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
