"""dsl-bench: ms and MB per stage of the whole pipeline, beside a paper-style pipeline and the paper's Table 1."""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from ..backends import runtime_for
from ..bench.cases import FIELD_SOURCES, READ_MODES, Case
from ..decode.decoder import IMPLS
from ..errors import BackendUnavailable, DslError, InputError
from .common import add_backend_args, add_decoder_set, cli_entry, parse_decoder_set

EPILOG = """\
examples:
  dsl-bench --demo                                  # embedded default model (needs the train extra once)
  dsl-bench --demo --architecture deepsportlab,light   # the authors' network, then the light one, same settings
  dsl-bench --onnx model.onnx --reference model.pth # ONNX Runtime + native decoder vs torch + Python decoder
  dsl-bench --engine model.engine --iters 200       # TensorRT: H2D, GPU compute, D2H and host latency
  dsl-bench --onnx model.onnx --frame-size 1280x720 --read jpeg   # a capture box's frames, decoded from JPEG
  dsl-bench --demo --precision int8 --backend onnxruntime,openvino --precision-hint f32,bf16
                                                    # FP32 and INT8 on both CPU runtimes, agreement with ORT FP32

Each pipeline runs in a process of its own (so its peak memory is its own). The decoder is timed on
fields encoded from synthetic ground truth unless --fields network. Stages: read (with --read), preprocess,
inference, decode, map (back to the frame), serialise (the JSON line), total; host = preprocess + decode +
map + serialise. Ours runs the fast host path, the peer today's (see dsl_deploy.bench.host). Results: a
table here, and JSON plus a PNG plot under --out.
"""


def build_parser() -> argparse.ArgumentParser:
    """The dsl-bench argument parser."""
    p = argparse.ArgumentParser(prog="dsl-bench", description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--engine", help="TensorRT engine (with its .json sidecar) to measure")
    src.add_argument("--onnx", help="ONNX model (exported by dsl-export) to measure on ONNX Runtime")
    src.add_argument("--checkpoint", help="checkpoint (.pth) to measure on torch")
    src.add_argument("--demo", action="store_true",
                     help="measure the embedded default model (the authors' network, ResNet-50 at --size, seeded, "
                          "untrained; built and exported once into ~/.cache/dsl_deploy or $DSL_CACHE_DIR)")
    p.add_argument("--reference", metavar="CHECKPOINT",
                   help="checkpoint of the same network: the peer runs it on torch eager, and the table gets the "
                        "max abs error of the measured backend against it (default with --demo: the demo checkpoint)")
    p.add_argument("--size", type=int, default=641, help="input size of the demo model (default: 641, as the paper)")
    p.add_argument("--backbone", default="resnet50", help="backbone of the demo model (default: resnet50)")
    p.add_argument("--architecture", default="deepsportlab", metavar="NAME[,NAME]",
                   help="network of the demo model: deepsportlab (the authors'), light, or both comma-separated, "
                        "measured one after the other with the same settings (default: %(default)s)")
    p.add_argument("--batch", type=int, default=1, help="frames per inference call (default: 1, as the paper)")
    p.add_argument("--iters", type=int, default=None, help="timed batches (default: 20; 5 with --demo)")
    p.add_argument("--warmup", type=int, default=None, help="untimed batches first (default: 3; 1 with --demo)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads of the backend (default: its own choice)")
    add_backend_args(p, several=True)
    p.add_argument("--decoder", default="auto", choices=IMPLS,
                   help="our decoder (default: auto = native if built, else numpy)")
    add_decoder_set(p)
    p.add_argument("--fields", default="ground-truth", choices=FIELD_SOURCES,
                   help="what the decoders are timed on (default: ground-truth fields of the synthetic frames, "
                        "sparse like a trained network's; 'network' decodes the model's own outputs)")
    p.add_argument("--frame-size", default=None, metavar="WxH",
                   help="size of the synthetic frames, or 'input' (default: input with --demo, the paper's "
                        "641x641 table; 1920x1080, a capture box's broadcast frames, otherwise)")
    p.add_argument("--read", default="none", choices=READ_MODES,
                   help="decode each frame from a JPEG first, timed as the read stage (default: none)")
    p.add_argument("--no-peer", action="store_true", help="skip the paper-style pipeline")
    # Precision side by side (bench/precision.py): the converted file as ours, its FP32 original as the peer.
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"),
                   help="with --demo: measure the demo model in this precision (made once by dsl-export's precision "
                        "step; INT8 calibrated on synthetic scenes) beside its FP32 file (default: %(default)s)")
    p.add_argument("--versus", metavar="ARTIFACT",
                   help="measure this artifact as the peer instead of the paper-style pipeline, with our decoder "
                        "and host path: e.g. --onnx model.int8.onnx --versus model.onnx (default: none)")
    p.add_argument("--out", default="benchmarks/results", help="folder for the JSON and PNG (default: %(default)s)")
    p.add_argument("--json", help="JSON result path (default: OUT/bench-MACHINE-MODEL.json)")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG plot")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the synthetic frames and the demo model (default: 0)")
    return p


def _positive(name: str, value: int | None) -> None:
    least = 0 if name == "--warmup" else 1
    if value is not None and value < least:
        raise InputError(f"{name}: expected {'0 or more' if least == 0 else 'a positive number'}, got {value}")


@cli_entry("dsl-bench")
def main(argv: list[str] | None = None) -> int:
    """Entry point of dsl-bench."""
    args = build_parser().parse_args(argv)
    architectures = _architectures(args)
    if len(architectures) > 1:  # one whole run per network, the same settings
        if args.json:
            raise InputError("--json: names one result file; with several --architecture values give --out")
        argv = list(sys.argv[1:] if argv is None else argv)
        return max(main(_with_architecture(argv, name)) for name in architectures)
    for name in ("--batch", "--iters", "--warmup", "--threads"):
        _positive(name, getattr(args, name.lstrip("-").replace("-", "_")))
    if not (args.engine or args.onnx or args.checkpoint or args.demo):
        raise InputError("nothing to measure: give --engine, --onnx, --checkpoint or --demo (see dsl-bench --help)")
    frame_size = _frame_size(args)
    backends, hints = _runtimes(args)
    iters = args.iters if args.iters is not None else (5 if args.demo else 20)
    warmup = args.warmup if args.warmup is not None else (1 if args.demo else 3)
    reference = args.reference
    t_start = time.perf_counter()
    versus = args.versus
    if args.precision != "fp32" and not args.demo:
        raise InputError("--precision: applies to --demo; measure your own files with --onnx FILE --versus FP32_FILE")
    if args.demo:
        from ..bench.demo import demo_artifacts
        reference_path, artifact = demo_artifacts(args.backbone, args.size, args.seed, log=_log,
                                                  architecture=architectures[0])
        reference = reference or str(reference_path)
        artifact = str(artifact)
        if args.precision != "fp32":
            from ..bench.precision import demo_converted
            versus = versus or artifact
            artifact = str(demo_converted(Path(artifact), args.precision, _log, args.seed))
    else:
        artifact = args.engine or args.onnx or args.checkpoint
        flag, expected = next((f, k) for f, k in (("--engine", "engine"), ("--onnx", "onnx"),
                                                  ("--checkpoint", "checkpoint")) if getattr(args, f[2:]))
        if _kind(artifact) != expected:
            raise InputError(f"{flag} {artifact}: this is a{'n' if _kind(artifact)[0] in 'eo' else ''} "
                             f"{_kind(artifact)} file by its suffix; use --{_kind(artifact)}")
    for path in filter(None, (artifact, reference, versus)):
        if not Path(path).is_file():
            raise InputError(f"{path}: no such file")
    for path in filter(None, (artifact, versus)):
        for name in backends:
            if name is not None:
                runtime_for(path, name)
    _check_output(args, [("measured artifact", artifact), ("--reference", reference), ("--versus", versus)])
    if args.decoder == "cuda":  # fail now, not after the paper-style peer has run for minutes
        from ..decode.cuda import unavailable_reason
        reason = unavailable_reason()
        if reason:
            raise BackendUnavailable(reason)
    common = dict(iters=iters, warmup=warmup, batch=args.batch, threads=args.threads, fields=args.fields,
                  seed=args.seed, decoder_params=parse_decoder_set(args.decoder_set), frame_size=frame_size,
                  read=args.read)
    if len(backends) > 1 or len(hints) > 1:
        return _run_runtimes(args, [p for p in (versus, artifact) if p], backends, hints, common, argv, t_start)
    from ..decode import resolve_impl
    # The measured file, and --versus, run on the chosen runtime; the paper-style peer on its own.
    ours = Case(label=f"dsl_deploy ({_backend_word(artifact, backends[0])}{_precision_word(artifact, bool(versus))} "
                      f"+ {resolve_impl(args.decoder)} decoder)", artifact=artifact, decoder=args.decoder,
                backend=backends[0], precision_hint=hints[0], **common)
    peer = None
    if versus:  # the same pipeline on another artifact (e.g. the FP32 file): peer/ours is the precision's speed-up
        peer = Case(label=f"dsl_deploy ({_backend_word(versus, backends[0])}{_precision_word(versus, True)} + "
                          f"{resolve_impl(args.decoder)} decoder)", artifact=versus, decoder=args.decoder,
                    backend=backends[0], precision_hint=hints[0], **common)
    elif not args.no_peer:
        peer_artifact = reference if reference and importlib.util.find_spec("torch") else artifact
        peer = Case(label=f"paper-style ({_backend_word(peer_artifact)} + Python decoder)", artifact=peer_artifact,
                    decoder="paper", host_path="today", **common)
    settings = {"artifact": artifact, "reference": reference, "iters": iters, "warmup": warmup,
                "backend": backends[0] or "auto", "precision_hint": hints[0],
                "batch": args.batch, "threads": args.threads, "decoder": args.decoder, "fields": args.fields,
                "decoder_set": parse_decoder_set(args.decoder_set), "frame_size": frame_size or "input",
                "read": args.read,
                "seed": args.seed, "demo": bool(args.demo), "versus": versus,
                "architecture": architectures[0] if args.demo else "the artifact's"}
    from ..bench.report import format_table, write_json, write_plot
    from ..bench.suite import run_suite
    from ..machine import machine_slug

    _log(f"measuring {ours.label}" + (f" and {peer.label}" if peer else "") + f": {warmup} warm-up + {iters} timed")
    doc = run_suite(ours, peer, settings=settings)
    if "error" in doc["ours"]:  # nothing was measured: one line, no table and no result files
        raise DslError(doc["ours"]["error"])
    used = doc["ours"].get("decoder_impl")
    if used and used != resolve_impl(args.decoder):
        _log(f"warning: the measuring process decoded with '{used}', not '{resolve_impl(args.decoder)}'")
    print(format_table(doc))
    if versus or _precision_word(artifact):
        from ..bench.precision import cpu_isa, describe_agreement, precision_record
        doc["precision"] = {"ours": precision_record(artifact), "peer_artifact": versus, "cpu": cpu_isa()}
        line = describe_agreement(doc["precision"]["ours"])
        if line:
            print(line)
    name = f"bench-{machine_slug(doc['machine'])}-{Path(artifact).stem}"
    json_path = Path(args.json) if args.json else Path(args.out) / f"{name}.json"
    write_json(doc, json_path)
    print(f"\nresults: {json_path}")
    if not args.no_plot:
        png = write_plot(doc, json_path.with_suffix(".png"))
        print(f"plot:    {png}" if png else "plot:    skipped (matplotlib is not installed: pip install matplotlib)")
    _log(f"done in {time.perf_counter() - t_start:.1f} s")
    return 0


def _frame_size(args: argparse.Namespace) -> list[int] | None:
    """[width, height] of the frames, or None for the network input size."""
    from ..bench.host import parse_frame_size

    text = args.frame_size or ("input" if args.demo else "1920x1080")
    if text == "input":
        return None
    return list(parse_frame_size(text))


def _architectures(args: argparse.Namespace) -> list[str]:
    """The --architecture names, checked; only --demo builds a network (an artifact carries its own)."""
    from ..spec import ARCHITECTURES

    names = [n.strip() for n in str(args.architecture).split(",") if n.strip()]
    unknown = [n for n in names if n not in ARCHITECTURES]
    if not names or unknown or len(set(names)) != len(names):
        raise InputError(f"--architecture: {args.architecture!r}; expected one or more of "
                         f"{', '.join(ARCHITECTURES)}, comma-separated, each once")
    if names != ["deepsportlab"] and not args.demo:
        raise InputError("--architecture: applies to --demo only (an artifact carries its own network)")
    return names


def _with_architecture(argv: list[str], name: str) -> list[str]:
    """argv with its --architecture option replaced by `name`."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--architecture":
            skip = True
        elif not arg.startswith("--architecture="):
            out.append(arg)
    return out + ["--architecture", name]


def _check_output(args: argparse.Namespace, inputs: list[tuple[str, str | None]]) -> None:
    """Check --out/--json now, so a bad one fails before minutes of measuring; nothing is created until the
    results are written (a model that fails to load leaves no folder)."""
    from ..runtime.outputs import OutputPlan

    plan = OutputPlan(inputs)
    if args.json and Path(args.json).parent.is_dir():
        plan.file("--json", args.json)
    elif args.json:  # its folder is made when the results are written
        plan.folder("--json", str(Path(args.json).parent), Path(args.json).name)
    else:
        plan.folder("--out", args.out, ("bench-*.json", "bench-*.png"))
    plan.check()


def _kind(artifact: str) -> str:
    from ..backends import artifact_kind
    return artifact_kind(artifact)


def _precision_word(artifact: str, always: bool = False) -> str:
    """' int8' / ' fp16' for a converted ONNX file (' fp32' too when `always`), '' otherwise (table labels)."""
    from ..bench.precision import precision_of

    word = precision_of(artifact)
    return f" {word}" if word and (always or word != "fp32") else ""


def _backend_word(artifact: str, backend: str | None = None) -> str:
    from ..backends import runtime_for
    return runtime_for(artifact, backend)


def _runtimes(args: argparse.Namespace) -> tuple[list[str | None], list[str | None]]:
    """The --backend names (None: by the suffix) and --precision-hint values (None: OpenVINO's f32), checked."""
    from ..backends import RUNTIMES
    from ..backends.openvino import INSTALL, PRECISION_HINTS, OpenVinoBackend

    names = [n.strip() for n in str(args.backend).split(",") if n.strip()]
    known = sorted({n for kinds in RUNTIMES.values() for n in kinds})
    if not names or len(set(names)) != len(names) or any(n not in ("auto", *known) for n in names):
        raise InputError(f"--backend: {args.backend!r}; expected auto or one or more of {', '.join(known)}, "
                         "comma-separated, each once")
    hints = [h.strip() for h in str(args.precision_hint or "").split(",") if h.strip()]
    if args.precision_hint is not None and (not hints or len(set(hints)) != len(hints)
                                            or any(h not in PRECISION_HINTS for h in hints)):
        raise InputError(f"--precision-hint: {args.precision_hint!r}; expected one or more of "
                         f"{', '.join(PRECISION_HINTS)}, comma-separated, each once")
    if hints and "openvino" not in names:
        raise InputError("--precision-hint: applies to --backend openvino only")
    if "openvino" in names and not OpenVinoBackend.is_available():
        raise BackendUnavailable(f"--backend openvino: openvino is not installed: {INSTALL}")
    if len(names) > 1 and "auto" in names:
        raise InputError("--backend: name each runtime when measuring several (e.g. onnxruntime,openvino)")
    return [None if n == "auto" else n for n in names], list(hints) or [None]


def _run_runtimes(args: argparse.Namespace, artifacts: list[str], backends: list[str | None],
                  hints: list[str | None], common: dict, argv: list[str] | None, t_start: float) -> int:
    """Several runtimes (or OpenVINO hints) side by side: bench/runtimes.py's table, JSON, no plot."""
    from ..backends.openvino import cpu_capabilities
    from ..bench.report import write_json
    from ..bench.runtimes import AGREEMENT_FRAMES, format_runtimes, plan_rows, run_rows, runtimes_document
    from ..machine import machine_slug

    if any(Path(a).suffix.lower() != ".onnx" for a in artifacts):
        raise InputError("--backend with several runtimes: measures .onnx files (--onnx or --demo)")
    rows = plan_rows(artifacts, [str(b) for b in backends], hints, cpu_capabilities)
    agreement_frames = AGREEMENT_FRAMES
    settings = {"command": " ".join(["dsl-bench", *(sys.argv[1:] if argv is None else argv)]),
                "artifacts": artifacts, "backends": backends, "precision_hints": hints,
                "agreement_frames": agreement_frames, "decoder": args.decoder, "demo": bool(args.demo),
                **{k: v for k, v in common.items() if k != "decoder_params"},
                "decoder_set": common["decoder_params"], "frame_size": common["frame_size"] or "input"}
    records, load = run_rows(rows, common, decoder=args.decoder, agreement_frames=agreement_frames, log=_log)
    if not any("result" in r and "error" not in r["result"] for r in records):
        raise DslError("no configuration ran: " + "; ".join(f"{r['label']}: {r.get('skipped') or r['result']['error']}"
                                                            for r in records))
    doc = runtimes_document(records, load, settings)
    print(format_runtimes(doc))
    name = f"bench-{machine_slug(doc['machine'])}-{Path(artifacts[-1]).stem}-runtimes"
    json_path = Path(args.json) if args.json else Path(args.out) / f"{name}.json"
    write_json(doc, json_path)
    print(f"\nresults: {json_path}")
    _log(f"done in {time.perf_counter() - t_start:.1f} s")
    return 0


def _log(message: str) -> None:
    print(f"[dsl-bench] {message}", file=sys.stderr, flush=True)
