"""Runs our pipeline and the paper-style peer in separate processes and puts them side by side."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..machine import machine_info
from .cases import Case
from .paper import PAPER_DEEPSPORTLAB, PAPER_MACHINE, PAPER_TABLE_1
from .stats import ratio


def run_isolated(case: Case, workdir: Path) -> dict[str, Any]:
    """Run a case in a fresh Python process; its progress bar goes to our stderr."""
    slug = "".join(c if c.isalnum() else "_" for c in case.label)[:40]
    case_path, result_path = workdir / f"{slug}.case.json", workdir / f"{slug}.result.json"
    case_path.write_text(json.dumps(case.to_dict()), encoding="utf-8")
    # cwd=workdir: `-m` puts the working folder first on sys.path, and a source checkout there (no compiled
    # decoder) would shadow the installed package the parent runs.
    proc = subprocess.run([sys.executable, "-m", "dsl_deploy.bench.worker", str(case_path), str(result_path)],
                          stdout=subprocess.DEVNULL, cwd=workdir)
    if proc.returncode != 0 or not result_path.exists():
        return {"case": case.to_dict(), "error": f"the benchmark worker exited with status {proc.returncode}"}
    return json.loads(result_path.read_text(encoding="utf-8"))


def max_abs_errors(ours: Path, reference: Path) -> dict[str, float]:
    """Max abs difference per network output between two saved first-frame outputs."""
    with np.load(ours) as a, np.load(reference) as b:
        return {k: float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64))))
                for k in a.files if k in b.files and a[k].shape == b[k].shape}


def _median(result: dict[str, Any], stage: str) -> float:
    return float(result.get("ms", {}).get(stage, {}).get("median", math.nan))


def compare(ours: dict[str, Any], peer: dict[str, Any] | None) -> dict[str, Any]:
    """Ratios of ours to the peer measured in the same run, and to the paper's Table 1."""
    out: dict[str, Any] = {}
    if peer is not None and "error" not in peer and "error" not in ours:
        out["vs_peer"] = {stage: ratio(_median(peer, stage), _median(ours, stage))
                          for stage in ("read", "preprocess", "inference", "decode", "map", "serialise", "total",
                                        "host") if stage in ours.get("ms", {})}
        peer_mb, ours_mb = peer["memory"]["peak_rss_mb"], ours["memory"]["peak_rss_mb"]
        out["vs_peer"]["memory"] = ratio(peer_mb, ours_mb)
    if "error" not in ours:
        mem = ours["memory"]
        # The paper reports GPU memory: prefer the device figure when the pipeline ran on a GPU.
        ours_mb = mem.get("gpu_used_peak_mb") or mem.get("engine_device_mb") or mem["peak_rss_mb"]
        out["vs_paper"] = {
            "paper_ms": PAPER_DEEPSPORTLAB.ms, "paper_ms_std": PAPER_DEEPSPORTLAB.ms_std,
            "paper_mb": PAPER_DEEPSPORTLAB.mb, "paper_machine": PAPER_MACHINE,
            "total_speedup": ratio(PAPER_DEEPSPORTLAB.ms, _median(ours, "total")),
            "memory_ratio": ratio(PAPER_DEEPSPORTLAB.mb, ours_mb),
            "memory_measure": ("gpu_used_peak_mb" if mem.get("gpu_used_peak_mb") else
                               "engine_device_mb" if mem.get("engine_device_mb") else "peak_rss_mb"),
            "note": "the paper measured GPU memory on a V100; on a CPU we report the process's peak RSS",
        }
    return out


def run_suite(ours: Case, peer: Case | None, *, settings: dict[str, Any]) -> dict[str, Any]:
    """Measure ours and (optionally) the peer, each in its own process, and assemble the result document."""
    for case in filter(None, (ours, peer)):
        case.artifact = str(Path(case.artifact).resolve())
    with tempfile.TemporaryDirectory(prefix="dsl-bench-") as tmp:
        work = Path(tmp)
        ours.save_outputs = str(work / "ours.npz")
        ours_result = run_isolated(ours, work)
        peer_result = None
        if peer is not None:
            peer.save_outputs = str(work / "peer.npz")
            peer_result = run_isolated(peer, work)
        parity = None
        if peer is not None and peer_result is not None and ours.save_outputs and peer.save_outputs \
                and Path(ours.save_outputs).exists() and Path(peer.save_outputs).exists():
            if peer.artifact != ours.artifact:
                parity = max_abs_errors(Path(ours.save_outputs), Path(peer.save_outputs))
    doc: dict[str, Any] = {
        "tool": "dsl-bench",
        "machine": machine_info(),
        "settings": settings,
        "ours": ours_result,
        "peer": peer_result,
        "max_abs_error_vs_peer_backend": parity,
        "comparison": compare(ours_result, peer_result),
        "paper_table_1": [row._asdict() for row in PAPER_TABLE_1],
    }
    return doc
