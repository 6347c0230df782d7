"""Presents a dsl-bench result: a terminal table, a JSON file and a PNG plot."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..runtime.outputs import write_atomic
from .paper import PAPER_TABLE_1

MAIN_STAGES = ("read", "preprocess", "inference", "decode", "map", "serialise", "total", "host")


def _cell(stats: dict[str, float] | None) -> str:
    if not stats or not math.isfinite(stats.get("median", math.nan)):
        return "-"
    return f"{stats['median']:.2f} ({stats['min']:.2f}-{stats['max']:.2f})"


def _stage_rows(result: dict[str, Any]) -> list[str]:
    """Stages in reading order: the main ones, each followed by its sub-stages."""
    names = list(result.get("ms", {}))
    rows = []
    for main in MAIN_STAGES:
        if main not in names:  # e.g. read when frames are not decoded from files, or an older result
            continue
        rows.append(main)
        rows.extend(sorted(n for n in names if n.startswith(main + ".")))
    return rows


def _label(result: dict[str, Any] | None) -> str:
    return result["case"]["label"] if result else "-"


def format_table(doc: dict[str, Any]) -> str:
    """The terminal table: ms per stage (median, min-max), fps, memory, ratios, and the paper's Table 1."""
    ours, peer = doc["ours"], doc.get("peer")
    lines = []
    for res in (ours, peer):
        if res and "error" in res:
            lines.append(f"{_label(res)}: FAILED: {res['error']}")
    w0, w1 = 22, 30
    head = f"{'stage [ms]':<{w0}} {_label(ours)[:w1]:<{w1}}"
    if peer:
        head += f" {_label(peer)[:w1]:<{w1}} {'peer/ours':>9}"
    frames = ours.get("frames")
    if frames:
        paths = ", ".join(f"{who} {r['frames']['host_path']['name']}" for who, r in (("ours", ours), ("peer", peer))
                          if r and r.get("frames"))
        lines.append(f"frames {frames['width']}x{frames['height']}, read: {frames['read']}; host path: {paths}")
    net = ours.get("spec") or {}
    if net.get("architecture"):  # every comparison names the network that ran
        lines.append(f"network: {net['architecture']} {net['backbone']} at {net['width']}x{net['height']}")
    lines += [head, "-" * len(head)]
    rows = _stage_rows(ours) if "error" not in ours else []
    for stage in rows:
        a = ours["ms"].get(stage)
        line = f"{stage:<{w0}} {_cell(a):<{w1}}"
        if peer and "error" not in peer:
            b = peer["ms"].get(stage)
            r = (b["median"] / a["median"]) if a and b and a["median"] > 0 else None
            line += f" {_cell(b):<{w1}} {('%.1fx' % r) if r else '-':>9}"
        lines.append(line)
    if rows:
        def extra(name: str, fn) -> None:
            line = f"{name:<{w0}} {fn(ours):<{w1}}"
            if peer and "error" not in peer:
                line += f" {fn(peer):<{w1}}"
            lines.append(line)
        extra("frames/s", lambda r: f"{r['fps']:.1f}" if r.get("fps") else "-")
        extra("peak RSS [MB]", lambda r: f"{r['memory']['peak_rss_mb']:.0f}")
        if "engine_device_mb" in ours["memory"]:
            extra("engine device [MB]", lambda r: f"{r['memory'].get('engine_device_mb', math.nan):.0f}")
        if "gpu_used_peak_mb" in ours["memory"]:
            extra("GPU in use, peak [MB]", lambda r: f"{r['memory'].get('gpu_used_peak_mb', math.nan):.0f}")
        extra("players decoded", lambda r: f"{r.get('players_decoded_median')}")
    parity = doc.get("max_abs_error_vs_peer_backend")
    if parity:
        lines.append("max abs error vs peer backend: " + ", ".join(f"{k} {v:.2e}" for k, v in parity.items()))
    vs = doc.get("comparison", {}).get("vs_paper")
    lines.append("")
    lines.append("paper, Table 1 (V100 GPU, 641x641, batch 1):")
    for row in PAPER_TABLE_1:
        lines.append(f"  {row.method:<18} {row.ms:>5.0f} +/- {row.ms_std:<4.0f} ms  {row.mb:>5.0f} MB  ({row.tasks})")
    if vs and vs.get("total_speedup"):
        lines.append(f"  ours vs DeepSportLab: {vs['total_speedup']:.1f}x the speed, "
                     f"{vs['memory_ratio']:.1f}x less memory ({vs['note']})")
    return "\n".join(lines)


def write_json(doc: dict[str, Any], path: Path) -> Path:
    """Write the result document (pretty, key order kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(doc, indent=1, default=str) + "\n").encode())
    return path


def write_plot(doc: dict[str, Any], path: Path) -> Path | None:
    """Median ms per main stage, one bar per pipeline (log scale), with the paper's total; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    runs = [r for r in (doc["ours"], doc.get("peer")) if r and "error" not in r]
    colours = ("#3b75af", "#e0803a")
    stages = [s for s in MAIN_STAGES if all(s in r["ms"] for r in runs)]
    height = 0.8 / max(1, len(runs))
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for j, (r, colour) in enumerate(zip(runs, colours)):
        for i, stage in enumerate(stages):
            v = r["ms"][stage]["median"]
            y = i + (j - (len(runs) - 1) / 2) * height
            ax.barh(y, v, height=height * 0.9, color=colour, label=_label(r) if i == 0 else None)
            ax.text(v, y, f" {v:.1f} ms" if v >= 10 else f" {v:.2f} ms", va="center", fontsize=7)
    paper = PAPER_TABLE_1[0]
    ax.axvline(paper.ms, color="#777777", linestyle="--", linewidth=1)
    ax.text(paper.ms, -0.55, f" paper total, V100: {paper.ms:.0f} ms", fontsize=7, color="#555555")
    ax.set_yticks(range(len(stages)), stages)
    ax.set_ylim(len(stages) - 0.5, -0.75)
    ax.set_xscale("log")
    values = [r["ms"][s]["median"] for r in runs for s in stages] + [paper.ms]
    ax.set_xlim(min(values) / 2, max(values) * 6)  # room for the value labels
    ax.set_xlabel("median ms per frame (log scale)")
    ax.set_title(f"dsl-bench on {doc['machine']['cpu'][:50]}", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
