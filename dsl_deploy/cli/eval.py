"""dsl-eval: run the whole pipeline over a dataset and score it as the paper does (bDQ, pSQ, pDQ, pose AP/AR)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.sources import parse_data_source
from ..decode.decoder import IMPLS
from ..errors import DataError, DslError, InputError, printable
from .common import add_backend_args, add_decoder_set, cli_entry, parse_backend_args, parse_decoder_set, quiet_opencv

EPILOG = """\
examples:
  dsl-eval --model model.onnx --data synthetic:50             # 50 synthetic scenes at the model's input size
  dsl-eval --model model.engine --data coco/person_keypoints_val2017.json --out eval/ --limit 500
  dsl-eval --model model.pth --data deepsport/ --decoder numpy
  dsl-eval --model model.onnx --data deepsport/ --protocol coco   # the standard COCO/PQ measures instead

Data: 'synthetic:N' (deterministic scenes, --seed and --frame-size), a COCO keypoints JSON
(dsl_deploy.data.coco) or a DeepSport folder (dsl_deploy.data.deepsport), bare or as coco:PATH / deepsport:PATH
as dsl-train takes them (dsl_deploy.data.sources). Measures are in percent, as in
the paper's Table 1. Protocols: 'paper' computes them as the authors' evaluation scripts do (eval_oks_pq.py,
ball_metrics.py: the numbers to set beside Table 1); 'coco' gives the standard ones (COCO OKS AP/AR, PQ with
void regions, exact ROC AUC). Every frame is scored by both: the table shows the chosen protocol and names it,
summary.json holds both. ms is the mean +- std of the pipeline's per-frame total (preprocess, inference,
decode, mapping back to the frame); MB is the peak resident memory of this process. A frame that fails
is reported on stderr with its id and reason, counted as failed, and the run goes on. With --out: a
JSON summary, COCO-format keypoint and segmentation results (RLE masks), and for synthetic data the
ground truth in COCO format, all readable by pycocotools. Ctrl-C (or SIGTERM) stops after the current
frame and still prints and writes the scores of the frames done (exit 130); a second Ctrl-C aborts.
"""


def build_parser() -> argparse.ArgumentParser:
    """The dsl-eval argument parser."""
    p = argparse.ArgumentParser(prog="dsl-eval", description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="artifact to evaluate: .pth checkpoint, .onnx or .engine")
    p.add_argument("--data", required=True,
                   help="dataset: 'synthetic:N', a COCO keypoints JSON file (or coco:PATH), or a DeepSport folder "
                        "(or deepsport:PATH)")
    p.add_argument("--out", default=None,
                   help="folder for summary.json and the COCO-format result files (default: none written)")
    p.add_argument("--decoder", default="auto", choices=IMPLS,
                   help="decoder implementation (default: auto = native if built, else numpy)")
    add_decoder_set(p)
    p.add_argument("--limit", type=int, default=None, help="evaluate at most this many frames (default: all)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads of the backend (default: its own choice)")
    add_backend_args(p)
    p.add_argument("--images", default=None, metavar="DIR",
                   help="folder of the COCO JSON's images (default: the folder the JSON file is in)")
    p.add_argument("--coco-filter", default="paper", choices=("paper", "none"),
                   help="COCO images kept: 'paper' = images with people or a ball and no person over 10%% of "
                        "the image (Sec. 4); 'none' = every image (default: %(default)s)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="DeepSport images (and annotations) are rescaled by this factor first (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic scenes (default: %(default)s)")
    p.add_argument("--frame-size", default=None, metavar="WxH",
                   help="size of the synthetic frames (default: the model's input size)")
    p.add_argument("--protocol", default="paper", choices=("paper", "coco"),
                   help="measures the table shows: 'paper' = as the authors' scripts compute them, for the "
                        "comparison with Table 1; 'coco' = COCO OKS AP/AR, PQ with void, exact ROC AUC "
                        "(default: %(default)s; summary.json holds both)")
    p.add_argument("--court-rule", default="foot", choices=("foot", "centroid", "majority"),
                   help="coco protocol: when a player is on the court, if the data has a court mask (default: "
                        "foot = the middle of its lowest pixels lies on the court)")
    p.add_argument("--tp-radii", type=float, default=1.0,
                   help="coco protocol: a ball detection hits when within this many ball radii of the ball "
                        "(default: %(default)s)")
    p.add_argument("--tp-min-px", type=float, default=5.0,
                   help="... or within this many pixels, whichever is larger (default: %(default)s)")
    p.add_argument("--name", default=None,
                   help="row label in the table (default: the model file name and its precision)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--frame-size: expected WxH (e.g. 1280x720), got {text!r}") from None
    if w < 33 or h < 33:
        raise InputError(f"--frame-size: {w}x{h} is too small; expected at least 33x33")
    return w, h


def _check_args(args: argparse.Namespace) -> None:
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit: expected a positive number of frames, got {args.limit}")
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads: expected a positive count, got {args.threads}")
    if args.scale <= 0:
        raise InputError(f"--scale: expected a positive factor, got {args.scale}")
    if args.tp_radii <= 0 or args.tp_min_px < 0:
        raise InputError("--tp-radii must be positive and --tp-min-px non-negative")
    if not Path(args.model).is_file():
        raise InputError(f"--model: {args.model}: no such file")


OUT_FILES = ("summary.json", "keypoints_results.json", "segmentation_results.json", "groundtruth.json")


def _check_out_folder(args: argparse.Namespace) -> Path:
    """Check --out before the (long) evaluation: writable, sparing --model and --data; created when written."""
    from ..runtime.outputs import OutputPlan

    data = parse_data_source(args.data).path
    OutputPlan([("--model", args.model), ("--data", data)]).folder("--out", args.out, OUT_FILES).check()
    return Path(args.out)


class EvalData:
    """A dataset as dsl-eval sees it: `load(i) -> (frame id, BGR image, Annotation)` for i < len."""

    def __init__(self, name: str, items: Any, *, synthetic: bool = False):
        self.name, self._items, self.synthetic = name, items, synthetic

    def __len__(self) -> int:
        return len(self._items)

    def _entry(self, i: int) -> Any:
        for attr in ("images", "items"):  # COCO: images[i].file_name; DeepSport: items[i].stem
            entries = getattr(self._items, attr, None)
            if isinstance(entries, list) and i < len(entries):
                return entries[i]
        return None

    def frame_name(self, i: int) -> str:
        """What a message calls frame i: its file name when the dataset has one, else its index."""
        entry = self._entry(i)
        name = getattr(entry, "file_name", "") or (Path(str(entry.stem)).name if hasattr(entry, "stem") else "")
        return str(name or i)

    def load(self, i: int) -> tuple[str, Any, Any]:
        """Frame i: (name, image, annotation)."""
        image, ann = self._items[i]
        return self.frame_name(i), image, ann

    def image_id(self, i: int, ann: Any) -> int:
        """The COCO integer image id of frame i: the dataset's own id, or the digits of its name, or i."""
        own = getattr(self._entry(i), "id", None)
        if isinstance(own, int) or (isinstance(own, str) and own.isdigit()):
            return int(own)
        stem = Path(str(getattr(ann, "image_id", "") or "")).stem
        return int(stem) if stem.isdigit() else int(i)


def _loader(module: str, what: str, source: str) -> Any:
    """Import a dataset loader module of dsl_deploy.data, or say clearly that it is not there."""
    import importlib

    try:
        return importlib.import_module(f"dsl_deploy.data.{module}")
    except ImportError as exc:
        raise DataError(f"--data {source}: reading {what} needs dsl_deploy.data.{module}, which is not available "
                        f"in this install ({exc}); use --data synthetic:N") from None


def check_data_source(source: str) -> None:
    """Fail early (before the model loads) on a --data value that cannot be a dataset."""
    parse_data_source(source, "--data")


def open_dataset(source: str, *, frame_size: tuple[int, int], seed: int = 0, images: str | None = None,
                 coco_filter: str = "paper", scale: float = 1.0) -> EvalData:
    """A data source (`data.sources`: synthetic:N, a COCO keypoints JSON file, a DeepSport folder) -> EvalData."""
    parsed = parse_data_source(source, "--data")
    if parsed.kind == "synthetic":
        from ..data.synthetic import SyntheticScenes
        return EvalData(source, SyntheticScenes(seed, frame_size[0], frame_size[1], length=parsed.count),
                        synthetic=True)
    path = parsed.path
    assert path is not None
    if parsed.kind == "coco":
        coco = _loader("coco", "a COCO JSON file", source)
        image_dir = Path(images) if images else path.parent
        if not image_dir.is_dir():
            raise DataError(f"--images {image_dir}: no such folder")
        if coco_filter == "paper":
            return EvalData(source, coco.CocoDataset(path, image_dir))
        return EvalData(source, coco.CocoDataset(path, image_dir, max_person_fraction=None, keep_empty=True))
    deepsport = _loader("deepsport", "a DeepSport folder", source)
    # The court mask lets the measures discard players outside the court, as the paper does.
    return EvalData(source, deepsport.DeepSportDataset(path, scale=scale, with_court=True))


def _write_json(path: Path, doc: Any) -> None:
    from ..runtime.outputs import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(doc, separators=(",", ":")).encode())


def _versions() -> dict[str, str]:
    import numpy as np

    from .. import __version__
    out = {"dsl_deploy": __version__, "numpy": np.__version__, "python": platform.python_version()}
    try:
        import onnxruntime
        out["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return out


@dataclass
class _Records:
    """What a run collected for the COCO-format output files."""

    keypoints: list[dict] = field(default_factory=list)
    segments: list[dict] = field(default_factory=list)
    gt_images: list[dict] = field(default_factory=list)
    gt_anns: list[dict] = field(default_factory=list)


def _score_frames(data: EvalData, pipeline: Any, evaluator: Any, count: int, *, keep_records: bool,
                  progress: bool) -> tuple[_Records, int, int | None]:
    """Run and score `count` frames. Ctrl-C or SIGTERM ends the run after the current frame, keeping what was
    scored; returns the records, the frames done and the signal that stopped it (None if none did)."""
    from tqdm import tqdm

    from ..metrics.coco_format import groundtruth_records, result_records
    from ..signals import GracefulStop

    records = _Records()
    done = 0
    with GracefulStop() as stop, tqdm(range(count), desc="dsl-eval", unit="frame", disable=not progress,
                                      file=sys.stderr) as bar:
        for i in bar:
            if stop.requested:
                break
            done += 1
            frame_id = data.frame_name(i)
            try:
                frame_id, image, ann = data.load(i)
                result = pipeline(image)
                evaluator.add(result, ann)
            except Exception as exc:  # one bad frame (unreadable image, backend or decoder error) must not stop the run
                reason = str(exc) if isinstance(exc, DslError) else f"{type(exc).__name__}: {exc}"
                evaluator.add_failure(frame_id, reason)
                tqdm.write(f"dsl-eval: frame {printable(frame_id)}: failed: {printable(reason)}", file=sys.stderr)
                continue
            if keep_records:
                image_id = data.image_id(i, ann)
                kps, segs = result_records(result, image_id)
                records.keypoints += kps
                records.segments += segs
                if data.synthetic:
                    entry, anns = groundtruth_records(ann, image_id, len(records.gt_anns) + 1, file_name=frame_id)
                    records.gt_images.append(entry)
                    records.gt_anns += anns
    return records, done, stop.signum


@cli_entry("dsl-eval")
def main(argv: list[str] | None = None) -> int:
    """Evaluate an artifact on a dataset; print the paper's table; write JSON and COCO results with --out."""
    args = build_parser().parse_args(argv)
    quiet_opencv()  # OpenCV's own lines for unreadable images would bury the per-frame reasons
    _check_args(args)
    check_data_source(args.data)
    from ..bench.memory import peak_rss_mb
    from ..metrics.coco_format import coco_document
    from ..metrics.evaluator import Evaluator, format_table
    from ..runtime import Pipeline

    out = _check_out_folder(args) if args.out else None
    backend, precision_hint = parse_backend_args(args)
    pipeline = Pipeline(args.model, decoder=args.decoder, threads=args.threads, backend=backend,
                        precision_hint=precision_hint, decoder_params=parse_decoder_set(args.decoder_set))
    spec = pipeline.spec
    frame_size = _parse_size(args.frame_size) if args.frame_size else (spec.input.width, spec.input.height)
    data = open_dataset(args.data, frame_size=frame_size, seed=args.seed, images=args.images,
                        coco_filter=args.coco_filter, scale=args.scale)
    count = len(data) if args.limit is None else min(args.limit, len(data))
    if count == 0:
        raise DataError(f"--data {args.data}: the dataset has no frame")
    evaluator = Evaluator(spec, tp_radii=args.tp_radii, tp_min_px=args.tp_min_px, court_rule=args.court_rule,
                          protocol=args.protocol)
    started = time.perf_counter()
    records, done, signum = _score_frames(data, pipeline, evaluator, count, keep_records=out is not None,
                                              progress=not args.no_progress)
    pipeline.close()
    stopped_by = signal.Signals(signum).name if signum is not None else None
    if stopped_by:
        print(f"dsl-eval: stopped by {stopped_by} after {done} of {count} frames; the scores below cover those "
              "only", file=sys.stderr)

    summary = evaluator.summary()
    summary["MB"] = round(peak_rss_mb(), 1)
    # The precision in the row label: the same network's FP32, FP16 and INT8 files read as one table.
    name = args.name or f"{Path(args.model).name} ({spec.precision})"
    print(format_table([(name, summary)]))
    print(f"{summary['frames']} frames scored, {summary['failed']} failed, "
          f"{time.perf_counter() - started:.1f} s; decoder {getattr(pipeline.decoder, 'impl', args.decoder)}")
    if out is not None:
        doc = {"model": str(args.model), "precision": spec.precision, "data": args.data, "limit": args.limit,
               "decoder": args.decoder,
               "decoder_params": dataclasses.asdict(spec.decoder),
               "spec": spec.to_dict(), "settings": {"protocol": args.protocol, "court_rule": args.court_rule,
                                                     "tp_radii": args.tp_radii, "tp_min_px": args.tp_min_px,
                                                     "seed": args.seed},
               "frames_requested": count, "stopped_by": stopped_by,
               "summary": summary, "failures": [{"frame": f, "reason": r} for f, r in evaluator.failures],
               "versions": _versions()}
        _write_json(out / "summary.json", doc)
        _write_json(out / "keypoints_results.json", records.keypoints)
        _write_json(out / "segmentation_results.json", records.segments)
        written = ["summary.json", "keypoints_results.json", "segmentation_results.json"]
        if data.synthetic:
            _write_json(out / "groundtruth.json", coco_document(records.gt_images, records.gt_anns))
            written.append("groundtruth.json")
        print(f"wrote {', '.join(written)} to {out}")
    if signum is not None:
        return 128 + signum
    if summary["frames"] == 0:
        print(f"dsl-eval: error: every one of the {count} frames failed (see the lines above)", file=sys.stderr)
        return 1
    return 0
