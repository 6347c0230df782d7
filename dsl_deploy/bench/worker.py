"""Runs one benchmark case in a process of its own, so each pipeline's peak memory is its own.

Internal: `dsl-bench` starts it as `python -m dsl_deploy.bench.worker CASE.json RESULT.json`.
"""
from __future__ import annotations

import json
import sys

from ..errors import DslError
from .cases import Case, run_case


def main(argv: list[str] | None = None) -> int:
    """Read a case, run it, write its result; a DslError becomes {"error": message}."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m dsl_deploy.bench.worker CASE.json RESULT.json", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        case = Case(**json.load(f))
    try:
        result = run_case(case)
    except DslError as exc:
        result = {"case": case.to_dict(), "error": str(exc)}
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: dsl-bench itself says 'interrupted'
        return 130
    with open(args[1], "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
