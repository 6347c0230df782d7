"""dsl-infer: run a model over an image, a folder, a video, a camera or a stream; JSON lines, COCO, overlays."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from ..decode.decoder import IMPLS
from ..errors import DslError, InputError, printable
from ..limits import MAX_PIXELS, MAX_PIXELS_TEXT
from ..signals import GracefulStop
from .common import add_backend_args, add_decoder_set, cli_entry, parse_backend_args, parse_decoder_set, quiet_opencv

if TYPE_CHECKING:
    from ..runtime.outputs import OutputPlan

PROG = "dsl-infer"

DESCRIPTION = """\
Run DeepSportLab on SOURCE and emit, per frame, the players (id, score, bbox, mask, 17 keypoints with
scores) and the ball, in the pixels of the original frame.

SOURCE is an image, a folder of images (name order), a video file, a camera index (0, 1, ...) or a
stream URL (rtsp://, http://, ...; read with OpenCV/FFmpeg). Capture, preprocessing, inference and
decoding run concurrently in threads; results keep the source order.

Files are read completely (nothing dropped, a progress bar on stderr). Live sources (cameras, URLs)
feed a bounded queue that drops the OLDEST frame when the model falls behind (counted as 'dropped'),
and are reopened with exponential back-off when they stop. Unreadable frames are skipped with a
warning and counted as 'corrupt'. SIGINT (Ctrl-C) and SIGTERM stop reading, finish the frames in
flight, and flush and close every output (exit status 130 / 143); a second signal aborts.
"""

EPILOG = """\
outputs:
  JSON lines   one object per frame: {"frame", "source", "timestamp", "size": [h, w], "ball": {x, y, score}
               or null, "players": [{"id", "score", "bbox": [x0, y0, x1, y1], "area", "center",
               "keypoints": [[x, y, score] x 17], "mask": COCO RLE}], "timings_ms": {...}}.
               timestamp: media time in s for video files, wall-clock epoch s for images and live sources.
  --coco       a COCO results list: image_id (frame index), category_id 1, bbox [x, y, w, h], score,
               keypoints [x, y, score] x 17, segmentation (compressed RLE), file_name.
  --render     a folder gets frame_NNNNNN.jpg per frame; a .mp4/.avi/.mkv/.mov path gets one video.
  summary      on stderr at the end: frames, dropped, corrupt, reconnects, throughput (fps), mean ms per
               stage (preprocess, inference, decode, total) and capture-to-result latency percentiles.

examples:
  dsl-infer match.mp4 --model model.onnx -o match.jsonl --render match_overlay.mp4
  dsl-infer frames/ --model model.onnx -o - --masks none --coco results.json
  dsl-infer rtsp://camera.local/stream --model model.engine -o live.jsonl --queue 2
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option with its default)."""
    p = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE",
                   help="image, folder of images, video file, camera index (e.g. 0) or stream URL")
    p.add_argument("--model", "-m", required=True, metavar="ARTIFACT",
                   help="model artifact: .onnx (ONNX Runtime), .engine (TensorRT) or .pth (torch checkpoint)")
    p.add_argument("-o", "--output", default="-", metavar="PATH",
                   help="JSON-lines output file, '-' for stdout, 'none' for no JSON lines (default: -)")
    p.add_argument("--coco", metavar="PATH", default=None,
                   help="also write COCO-format results to PATH, atomically at the end (default: off)")
    p.add_argument("--render", metavar="DIR|VIDEO", default=None,
                   help="also draw masks, boxes, skeletons and the ball: into a folder of JPEGs, or into a "
                        "video when the path ends in .mp4/.avi/.mkv/.mov (default: off)")
    p.add_argument("--masks", choices=("rle", "none"), default="rle",
                   help="player masks in the JSON lines (and COCO/overlays): COCO RLE or left out (default: rle)")
    p.add_argument("--queue", type=int, default=4, metavar="N",
                   help="capture queue size; for live sources the oldest frame is dropped when full (default: 4)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="stop after N frames read from the source (default: all)")
    p.add_argument("--decoder", choices=IMPLS, default="auto",
                   help="decoder implementation; auto picks native when built, else numpy (default: auto)")
    add_decoder_set(p)
    add_backend_args(p)
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads of ONNX Runtime or OpenVINO (default: the runtime's choice, all cores)")
    p.add_argument("--providers", default=None, metavar="LIST",
                   help="ONNX Runtime execution providers, comma-separated: cpu, cuda, tensorrt or full names "
                        "(default: the fastest available)")
    live = p.add_mutually_exclusive_group()
    live.add_argument("--live", dest="live", action="store_true", default=None,
                      help="treat SOURCE as live (drop-oldest queue, reopen when it stops) even if it is a file")
    live.add_argument("--no-live", dest="live", action="store_false",
                      help="treat a URL as a finite video: read every frame, end at its end")
    p.add_argument("--reconnect-delay", type=float, default=0.5, metavar="S",
                   help="live sources: first wait before reopening a stopped stream, doubled each attempt "
                        "(default: 0.5)")
    p.add_argument("--reconnect-max-delay", type=float, default=30.0, metavar="S",
                   help="live sources: longest wait between reopen attempts (default: 30)")
    p.add_argument("--reconnect-attempts", type=int, default=None, metavar="N",
                   help="live sources: reopen attempts per outage before ending (default: unlimited)")
    p.add_argument("--fps", type=float, default=None, metavar="F",
                   help="frame rate of a rendered video (default: the source's, else 25)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--log-every", type=float, default=None, metavar="S",
                   help="print a status line (frames, dropped, corrupt, fps, ms) on stderr every S seconds; "
                        "0 turns it off (default: 60 for live sources, off for files)")
    p.add_argument("--summary-json", metavar="PATH", default=None,
                   help="also write the end-of-run summary as JSON to PATH (default: off)")
    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="largest frame accepted, in pixels (width x height); larger images are skipped as corrupt "
                        "before they are decoded, a larger video is refused (default: "
                        f"{MAX_PIXELS_TEXT}; raise it for bigger frames)")
    return p


def _check(args: argparse.Namespace) -> None:
    if args.queue < 1:
        raise InputError(f"--queue: expected at least 1, got {args.queue}")
    if args.max_frames is not None and args.max_frames < 0:
        raise InputError(f"--max-frames: expected 0 or more, got {args.max_frames}")
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads: expected at least 1, got {args.threads}")
    if args.reconnect_delay <= 0 or args.reconnect_max_delay <= 0:
        raise InputError("--reconnect-delay and --reconnect-max-delay: expected positive seconds")
    if args.reconnect_attempts is not None and args.reconnect_attempts < 0:
        raise InputError(f"--reconnect-attempts: expected 0 or more, got {args.reconnect_attempts}")
    if args.log_every is not None and args.log_every < 0:
        raise InputError(f"--log-every: expected 0 or more seconds, got {args.log_every}")
    if args.fps is not None and args.fps <= 0:
        raise InputError(f"--fps: expected a positive rate, got {args.fps}")
    if args.max_pixels is not None and args.max_pixels < 1:
        raise InputError(f"--max-pixels: expected a positive number of pixels, got {args.max_pixels}")
    _check_no_clobber(args)
    _output_plan(args).check()


def _output_plan(args: argparse.Namespace) -> "OutputPlan":
    """Every output of the run against the SOURCE and --model files, and each other (checked before the run)."""
    from ..runtime.outputs import OutputPlan
    from ..runtime.sinks import VIDEO_SUFFIXES

    source = args.source if args.source and Path(args.source).exists() else None
    plan = OutputPlan([("SOURCE", source), ("--model", args.model)])
    plan.file("--output", args.output).file("--coco", args.coco)
    if args.render and Path(args.render).suffix.lower() in VIDEO_SUFFIXES:
        plan.file("--render", args.render)
    else:
        plan.folder("--render", args.render, "frame_*.jpg")
    return plan.file("--summary-json", args.summary_json)


def _check_no_clobber(args: argparse.Namespace) -> None:
    """Outputs inside a SOURCE folder would destroy its images or join the frames (OutputPlan does the rest)."""
    from ..runtime.sources import IMAGE_SUFFIXES

    source_dir = Path(args.source).resolve() if args.source and Path(args.source).is_dir() else None
    for option, path in (("--output", args.output), ("--coco", args.coco), ("--render", args.render),
                         ("--summary-json", args.summary_json)):
        if not path or path in ("-", "none"):
            continue
        target = Path(path).resolve()
        # Frames extracted as frame_%06d.jpg share the names a rendered folder writes.
        if source_dir is not None and option == "--render" and target == source_dir:
            raise InputError(f"--render {path}: is the SOURCE folder; rendered frame_NNNNNN.jpg files could "
                             "overwrite its images; render into another folder")
        if source_dir is not None and target.parent == source_dir and target.suffix.lower() in IMAGE_SUFFIXES:
            raise InputError(f"{option} {path}: is an image in the SOURCE folder; writing there would destroy "
                             "it or add it to the frames")


class _TqdmLogHandler(logging.Handler):
    """Warnings on stderr, one line each, without breaking the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        tqdm.write(f"{PROG}: warning: {printable(record.getMessage())}", file=sys.stderr)


def _open_sinks(args: argparse.Namespace, stack: ExitStack, fps: float | None) -> list:
    from ..runtime.sinks import CocoSink, JsonLinesSink, RenderSink

    sinks = []
    if args.output != "none":
        sinks.append(stack.enter_context(JsonLinesSink(args.output, masks=args.masks == "rle")))
    if args.coco:
        sinks.append(stack.enter_context(CocoSink(args.coco, masks=args.masks == "rle")))
    if args.render:
        sinks.append(stack.enter_context(RenderSink(args.render, fps=args.fps or fps or 25.0,
                                                    masks=args.masks == "rle")))
    return sinks


@cli_entry(PROG)
def main(argv: list[str] | None = None) -> int:
    """Entry point of dsl-infer."""
    args = build_parser().parse_args(argv)
    max_pixels = args.max_pixels or MAX_PIXELS
    quiet_opencv(max(1, max_pixels))  # before anything imports cv2
    _check(args)
    from tqdm import tqdm

    from ..runtime import Pipeline, Reconnect, open_source
    from ..runtime.sinks import SinkClosed

    logger = logging.getLogger("dsl_deploy.runtime")
    handler = _TqdmLogHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    stopper = GracefulStop()
    reconnect = Reconnect(delay=args.reconnect_delay, max_delay=args.reconnect_max_delay,
                          attempts=args.reconnect_attempts)
    providers = [s.strip() for s in args.providers.split(",") if s.strip()] if args.providers else None
    backend, precision_hint = parse_backend_args(args)
    stream = None
    finished = False
    try:
        with stopper, ExitStack() as stack:
            source = stack.enter_context(open_source(args.source, live=args.live, reconnect=reconnect,
                                                     max_pixels=max_pixels))
            pipeline = stack.enter_context(Pipeline(args.model, decoder=args.decoder, threads=args.threads,
                                                    providers=providers, backend=backend,
                                                    precision_hint=precision_hint, max_pixels=max_pixels,
                                                    decoder_params=parse_decoder_set(args.decoder_set)))
            if args.coco and source.live:
                logger.warning("--coco keeps every record in memory until the end; with a live source memory "
                               "grows for as long as it runs")
            sinks = _open_sinks(args, stack, source.fps)
            total = source.total if not source.live else None
            if total is not None and args.max_frames is not None:
                total = min(total, args.max_frames)
            stream = stack.enter_context(pipeline.stream(source, queue=args.queue, max_frames=args.max_frames,
                                                         with_frames=True, stop=stopper.event))
            bar = stack.enter_context(tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True,
                                           disable=args.no_progress or source.live, desc=PROG))
            every = args.log_every if args.log_every is not None else (60.0 if source.live else 0.0)
            last_log = time.monotonic()
            for frame, result in stream:
                try:
                    for sink in sinks:
                        sink.write(frame, result)
                except SinkClosed as exc:
                    logger.warning("output %s closed by its reader; stopping", exc)
                    stream.stop()
                    break
                bar.update(1)
                if every and time.monotonic() - last_log >= every:
                    last_log = time.monotonic()
                    tqdm.write(f"{PROG}: {stream.stats.summary().splitlines()[0]}", file=sys.stderr)
            stats = stream.stats
            if stats.frames == 0 and stats.corrupt > 0 and stopper.signum is None:  # inside: the sinks abort
                raise DslError(f"{args.source}: no frame could be read ({stats.corrupt} corrupt)")
        finished = True
    finally:
        logger.removeHandler(handler)
        if stream is not None:
            for line in stream.stats.summary().splitlines():
                print(f"{PROG}: {line}", file=sys.stderr)
            if args.summary_json and finished:  # a failed run leaves no summary that looks like a result
                from ..runtime.outputs import write_atomic

                write_atomic(args.summary_json, (json.dumps(stream.stats.to_dict(), indent=1) + "\n").encode())
    if stopper.signum is not None:
        print(f"{PROG}: stopped by {stopper.signal_name}; outputs flushed and closed",
              file=sys.stderr)
        return 128 + stopper.signum
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
