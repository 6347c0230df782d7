"""dsl-bench with several --backend (or --precision-hint) values: each file on each CPU runtime in one run.

    dsl-bench --demo --precision int8 --backend onnxruntime,openvino --precision-hint f32,bf16

Every row is the whole pipeline (our decoder and host path) in a process of its own: the FP32 file and the
converted one on ONNX Runtime, then on OpenVINO once per precision hint. The first row that runs is the reference
(ONNX Runtime FP32): each other row has its speed-up over it and its decoded agreement with it (players matched by
mask IoU > 0.5, mask IoU, keypoint px, ball within 8 px, field differences) on the same frames, measured in the
same run. A BF16 row on a CPU without BF16 is listed as not run, with the reason. The machine's load average is
sampled during the run: other work on the machine moves every row, so only ratios within one run mean anything.
"""
from __future__ import annotations

import math
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..machine import machine_info, usable_cores
from .cases import Case
from .precision import cpu_isa, precision_of, precision_record
from .stats import ratio
from .suite import run_isolated

Log = Callable[[str], None]
# Frames whose decoded results are compared: the benchmark's distinct synthetic frames (Case.distinct_frames).
AGREEMENT_FRAMES = 8


@dataclass
class Row:
    """One measured configuration: a file on a runtime (with OpenVINO's precision hint), or why it was not run."""

    label: str
    artifact: str
    backend: str
    precision_hint: str | None = None
    skipped: str | None = None


def plan_rows(artifacts: list[str], backends: list[str], hints: list[str | None],
              capabilities: Callable[[], list[str]]) -> list[Row]:
    """Rows in table order: per runtime, per file (FP32 first), per OpenVINO hint; `capabilities` are OpenVINO's of
    the CPU (asked only when a bf16 row is planned)."""
    rows = []
    for backend in backends:
        for artifact in artifacts:
            name = f"{backend} {precision_of(artifact) or Path(artifact).stem}"
            for hint in hints if backend == "openvino" else [None]:
                row = Row(f"{name} ({hint})" if hint else name, artifact, backend, hint)
                if hint == "bf16" and "BF16" not in (caps := capabilities()):
                    row.skipped = f"this CPU has no BF16 (OpenVINO's CPU capabilities: {', '.join(caps)})"
                rows.append(row)
    return rows


class LoadSampler:
    """The 1-minute load average, sampled every `every` s in a thread while the rows run."""

    def __init__(self, every: float = 5.0):
        self.every, self.samples = every, [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> "LoadSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self, cores: int) -> dict[str, Any]:
        """min/mean/max of the samples, beside the cores the benchmark may use."""
        a = np.asarray(self.samples)
        return {"one_minute": {"min": round(float(a.min()), 2), "mean": round(float(a.mean()), 2),
                               "max": round(float(a.max()), 2)}, "samples": len(a), "every_s": self.every,
                "cores": cores}


def compare_saved(reference: Path, test: Path, decoder_params: dict[str, Any]) -> dict[str, Any]:
    """Decoded agreement of two rows' saved outputs, frame by frame (export.agreement's measures)."""
    from ..decode import Decoder
    from ..export.agreement import Agreement
    from ..spec import ModelSpec

    spec = ModelSpec.from_json((reference / "spec.json").read_text(encoding="utf-8")).with_decoder(decoder_params)
    decoder = Decoder(spec)
    acc = Agreement(float(spec.pif_stride))
    frames = sorted(reference.glob("frame*.npz"), key=lambda p: int(p.stem[5:]))
    for path in frames:
        with np.load(path) as a, np.load(test / path.name) as b:
            ref, out = {k: a[k] for k in a.files}, {k: b[k] for k in b.files}
        acc.add_fields(ref, out)
        acc.add(decoder(ref), decoder(out))
    return acc.summary()


def run_rows(rows: list[Row], common: dict[str, Any], *, decoder: str, agreement_frames: int, log: Log
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Measure every row that is not skipped, each in its own process; (row records, load average summary)."""
    records: list[dict[str, Any]] = []
    reference: tuple[dict[str, Any], Path] | None = None
    with tempfile.TemporaryDirectory(prefix="dsl-bench-runtimes-") as tmp, LoadSampler() as load:
        work = Path(tmp)
        for i, row in enumerate(rows):
            record: dict[str, Any] = {"label": row.label, "artifact": row.artifact, "backend": row.backend,
                                      "precision_hint": row.precision_hint}
            records.append(record)
            if row.skipped:
                log(f"{row.label}: not run: {row.skipped}")
                record["skipped"] = row.skipped
                continue
            folder = work / f"row{i}"
            case = Case(label=row.label, artifact=str(Path(row.artifact).resolve()), decoder=decoder,
                        backend=row.backend, precision_hint=row.precision_hint, agreement_dir=str(folder),
                        agreement_frames=agreement_frames, **common)
            log(f"measuring {row.label}")
            start = os.getloadavg()[0]
            record["result"] = result = run_isolated(case, work)
            # Rows run one after another: the load each one saw says whether their ratios are comparable.
            record["load_1min"] = {"start": round(start, 2), "end": round(os.getloadavg()[0], 2)}
            if "error" in result:
                log(f"{row.label}: FAILED: {result['error']}")
                continue
            if reference is None:
                reference = (record, folder)
                record["reference"] = True
                continue
            ref_result = reference[0]["result"]
            record["vs_reference"] = {stage: ratio(_median(ref_result, stage), _median(result, stage))
                                      for stage in ("inference", "total")}
            record["vs_reference"]["memory"] = ratio(ref_result["memory"]["peak_rss_mb"],
                                                     result["memory"]["peak_rss_mb"])
            record["agreement"] = compare_saved(reference[1], folder, common.get("decoder_params") or {})
    return records, load.summary(usable_cores())


def _median(result: dict[str, Any], stage: str) -> float:
    return float(result.get("ms", {}).get(stage, {}).get("median", math.nan))


def runtimes_document(records: list[dict[str, Any]], load: dict[str, Any], settings: dict[str, Any]
                      ) -> dict[str, Any]:
    """The result document: machine, CPU model and ISA flags, load average, settings and one entry per row."""
    files = {r["artifact"] for r in records}
    return {"tool": "dsl-bench", "mode": "runtimes", "machine": machine_info(), "cpu": cpu_isa(),
            "load_average": load, "settings": settings, "rows": records,
            "precision_records": {f: precision_record(f) for f in sorted(files)}}


def _agreement_cell(a: dict[str, Any] | None) -> str:
    if not a:
        return "-"
    if a["players_reference"] or a["players"]:
        kp = "-" if a["keypoint_px_mean"] is None else f"{a['keypoint_px_mean']:.2f} px"
        iou = "-" if a["mask_iou_mean"] is None else f"{a['mask_iou_mean']:.3f}"
        players = f"players {a['players_matched']}/{a['players_reference']}, IoU {iou}, kp {kp}"
    else:
        players = "no players decoded"
    ball = "-" if a["ball_agreement"] is None else f"{a['ball_agreement']:.2f}"
    fields = a["field_max_abs"]
    return f"{players}, ball {ball}; max |d| pif {fields.get('pif', math.nan):.2g}"


def format_runtimes(doc: dict[str, Any]) -> str:
    """The terminal table: total and inference ms, ratio to the reference, peak RSS, agreement with it."""
    rows = doc["rows"]
    ref = next((r for r in rows if r.get("reference")), None)
    lines = [f"CPU: {doc['cpu'].get('model_name', '?')} ({', '.join(doc['cpu'].get('flags', []))}); load average "
             f"(1 min) during the run {doc['load_average']['one_minute']['min']:.1f}-"
             f"{doc['load_average']['one_minute']['max']:.1f} on {doc['load_average']['cores']} cores"]
    net = next((r["result"]["spec"] for r in rows if "result" in r and "spec" in r["result"]), None)
    if net:
        lines.append(f"network: {net['architecture']} {net['backbone']} at {net['width']}x{net['height']}")
    frames = next((r["result"]["frames"] for r in rows if "result" in r and "frames" in r["result"]), None)
    n_agree = doc["settings"].get("agreement_frames")
    head = (f"{'runtime, file':<28} {'total ms (min-max)':<24} {'inference ms':>12} {'ref/this':>8} {'RSS MB':>7} "
            f"{'load':>9}  agreement with {ref['label'] if ref else 'the reference'} ({n_agree} frames)")
    if frames:
        lines.append(f"frames {frames['width']}x{frames['height']}")
    lines += [head, "-" * len(head)]
    for r in rows:
        if r.get("skipped"):
            lines.append(f"{r['label']:<28} not run: {r['skipped']}")
            continue
        res = r.get("result", {})
        if "error" in res:
            lines.append(f"{r['label']:<28} FAILED: {res['error']}")
            continue
        total, inference = res["ms"]["total"], res["ms"]["inference"]
        speed = r.get("vs_reference", {}).get("total")
        cell = f"{total['median']:.1f} ({total['min']:.0f}-{total['max']:.0f})"
        versus = f"{speed:.2f}x" if speed else ("ref" if r.get("reference") else "-")
        load = r.get("load_1min") or {}
        seen = f"{load.get('start', math.nan):.1f}-{load.get('end', math.nan):.1f}"
        lines.append(f"{r['label']:<28} {cell:<24} {inference['median']:>12.1f} {versus:>8} "
                     f"{res['memory']['peak_rss_mb']:>7.0f} {seen:>9}  {_agreement_cell(r.get('agreement'))}")
    return "\n".join(lines)
