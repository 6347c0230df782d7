"""Build a TensorRT engine (bare plan + JSON sidecar) from a dsl_deploy ONNX file and a target profile.

`build_engine` is a chain of small steps, each testable alone (as Polygraphy's loaders): `parse_onnx`,
`set_precision`, `add_input_profile`, `use_timing_cache`, `add_calibration`, `serialize`, `write_engine`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..cache import cache_dir
from ..errors import ArtifactError, BackendUnavailable, InputError
from ..runtime.outputs import write_atomic
from . import compat, cuda_runtime, precision
from .api import Builder, BuilderConfig, Logger, Network, Parser, TrtModule
from .calibration import CalibrationFeed, folder_frames, make_calibrator, synthetic_frames
from .onnx_check import OnnxInfo
from .profiles import Profile, ProfileError
from .progress import Heartbeat, make_monitor_factory
from .sidecar import GpuInfo, default_engine_name, gpu_short_name, make_sidecar, sha256_file, write_sidecar

Log = Callable[[str], None]


@dataclass
class BuildOptions:
    """Per-build choices on top of the profile (the CLI's options)."""

    output: Path | None = None
    timing_cache: Path | None = None  # overrides the profile's
    calib_images: Path | None = None  # overrides the profile's calibration source
    calib_synthetic: int | None = None  # N synthetic frames (overrides the profile's source and count)
    fp16_layers: tuple[str, ...] = ()  # extra layer-name patterns kept in FP16 (out of INT8)
    fp32_layers: tuple[str, ...] = ()  # extra layer-name patterns kept in FP32
    device: int = 0
    verbose: bool = False


@dataclass
class BuildReport:
    """What was built, with what, and how long it took."""

    engine_path: Path
    sidecar_path: Path
    sidecar: dict
    seconds: float
    fp32_layers: list[str] = field(default_factory=list)
    fp16_layers: list[str] = field(default_factory=list)
    calibration: dict | None = None


def check_build_requirements(device: int = 0) -> None:
    """Raise BackendUnavailable listing everything missing for a build here (TensorRT, cuda-python, a GPU)."""
    missing = []
    try:
        compat.import_tensorrt()
    except BackendUnavailable as exc:
        missing.append(str(exc))
    try:
        cuda_runtime.cudart()
        cuda_runtime.open_device(device)
    except BackendUnavailable as exc:
        missing.append(str(exc))
    if missing:
        raise BackendUnavailable("cannot build a TensorRT engine here: " + "; ".join(missing))


def input_size(info: OnnxInfo, profile: Profile) -> tuple[int, int]:
    """(width, height) of the engine: the model's, which the profile may restate but not change."""
    w, h = info.spec.input.width, info.spec.input.height
    pw, ph = profile.input.width or w, profile.input.height or h
    if (pw, ph) != (w, h):
        raise ProfileError(f"{profile.source}: field 'input.width/height' is {pw}x{ph} but {info.path} was exported at "
                           f"{w}x{h}; re-export with dsl-export --size {pw} or remove the size from the profile")
    if info.input_shape and isinstance(info.input_shape[0], int) and info.input_shape[0] > 0:
        fixed = info.input_shape[0]
        if not profile.input.min_batch == profile.input.max_batch == fixed:
            raise ArtifactError(f"{info.path}: its batch dimension is fixed at {fixed} but the profile asks for batch "
                                f"{profile.input.min_batch}..{profile.input.max_batch}; re-export with a dynamic batch")
    return w, h


def timing_cache_path(profile: Profile, options: BuildOptions, gpu: GpuInfo, trt_version: str) -> Path | None:
    """Where the timing cache lives: the option, the profile's path, 'auto' (`cache.cache_dir`) or none."""
    if options.timing_cache is not None:
        return options.timing_cache
    if not profile.timing_cache:
        return None
    if profile.timing_cache == "auto":
        return cache_dir("timing") / f"{gpu_short_name(gpu.name)}.sm{gpu.compute_capability.replace('.', '')}." \
                      f"trt{compat.version_tag(trt_version)}.cache"
    return Path(profile.timing_cache).expanduser()


def calibration_feed(info: OnnxInfo, profile: Profile, options: BuildOptions) -> tuple[CalibrationFeed, dict]:
    """The INT8 calibration batches and a summary of where they come from."""
    cal = profile.calibration
    w, h = info.spec.input.width, info.spec.input.height
    folder = options.calib_images or (Path(cal.folder) if cal.source == "folder" and cal.folder else None)
    if options.calib_synthetic is not None:
        folder = None
    if cal.source == "folder" and folder is None and options.calib_synthetic is None:
        raise InputError(f"{profile.source}: calibration source is 'folder' but no folder is set; pass "
                         "--calib-images DIR or --calib-synthetic N")
    if folder is not None:
        frames, count = folder_frames(folder, cal.count)
        summary = {"source": "folder", "folder": str(folder), "count": count}
    else:
        count = options.calib_synthetic or cal.count
        frames = synthetic_frames(cal.seed, w, h)
        summary = {"source": "synthetic", "seed": cal.seed, "count": count}
    batch = min(cal.batch, count)
    feed = CalibrationFeed(frames, count, batch, info.spec, info.input_format)
    summary.update(batch=batch, batches=len(feed), dropped=feed.dropped)
    return feed, summary


def agreement_batch(info: OnnxInfo, profile: Profile, options: BuildOptions, count: int = 8) -> np.ndarray:
    """A batch of calibration-like frames for the post-build agreement check (other scenes than calibration's)."""
    cal = profile.calibration
    folder = options.calib_images or (Path(cal.folder) if cal.source == "folder" and cal.folder else None)
    if folder is not None and options.calib_synthetic is None:
        frames, n = folder_frames(folder, count)  # a folder has no 'other' frames: the same footage
    else:
        frames, n = synthetic_frames(cal.seed + 1, info.spec.input.width, info.spec.input.height), count
    return next(iter(CalibrationFeed(frames, n, n, info.spec, info.input_format)))  # n >= 1: exactly one batch


def check_tensorrt_range(trt: TrtModule, profile: Profile) -> None:
    """BackendUnavailable when this TensorRT is outside the versions the target profile states."""
    if profile.tensorrt and not compat.version_in_range(compat.trt_version(trt), profile.tensorrt):
        raise BackendUnavailable(f"target {profile.name} builds with TensorRT {profile.tensorrt} (its profile's "
                                 f"'tensorrt' field) and this is TensorRT {trt.__version__}; install a version in "
                                 "that range on the build machine, or choose another target")


def check_qdq_scheme(info: OnnxInfo) -> None:
    """An INT8 file must carry TensorRT's Q/DQ (int8, zero point 0), not the CPU scheme's uint8 activations."""
    if info.spec.precision != "int8":
        return
    try:
        import onnx
    except ImportError:  # a bare build box: TensorRT's parser reports it instead
        return
    from ..export.graph import activation_zero_points, quantized_element_types

    model = onnx.load(str(info.path), load_external_data=False)
    if "UINT8" in quantized_element_types(model) or activation_zero_points(model) - {0}:
        raise ArtifactError(f"{info.path}: its INT8 activations are uint8 with zero points (dsl-export "
                            "--int8-scheme cpu, for ONNX Runtime and OpenVINO); TensorRT needs int8 with zero point "
                            "0: re-export with --precision int8 --int8-scheme tensorrt")


def build_path(trt: TrtModule, info: OnnxInfo, profile: Profile) -> str:
    """compat.STRONGLY_TYPED or compat.BUILDER_FLAGS for this file, target and TensorRT (checked)."""
    check_tensorrt_range(trt, profile)
    path = compat.choose_path(trt, info.spec.precision, profile.precision, f"target {profile.name}")
    if path == compat.BUILDER_FLAGS and info.spec.precision == "fp32":
        compat.check_precision_supported(trt, profile.precision)
    check_qdq_scheme(info)
    return path


def parse_onnx(trt: TrtModule, info: OnnxInfo, *, strongly_typed: bool,
               verbose: bool = False) -> tuple[Logger, Builder, Network, Parser]:
    """Step 1: (logger, builder, network, parser) of the ONNX file; keep the parser while the network is used
    (it owns the weights the network points at)."""
    logger = compat.make_logger(trt, verbose)
    builder = trt.Builder(logger)
    network = compat.create_network(trt, builder, strongly_typed=strongly_typed)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(info.path)):
        errors = compat.parser_errors(parser)
        raise ArtifactError(f"{info.path}: TensorRT's ONNX parser failed: " + "; ".join(errors or ["unknown error"]))
    return logger, builder, network, parser


def set_precision(trt: TrtModule, builder: Builder, config: BuilderConfig, network: Network, info: OnnxInfo,
                  profile: Profile, options: BuildOptions, *, strongly_typed: bool, flags: dict[str, Any],
                  log: Log) -> tuple[list[precision.LayerInfo], list[precision.LayerInfo]]:
    """Step 2: layer precisions and builder flags (none on a strongly typed network: the file's types are the
    precision), compatibility and DLA; records them in `flags`; returns the (FP32, FP16) layers kept."""
    fp32_layers: list[precision.LayerInfo] = []
    fp16_layers: list[precision.LayerInfo] = []
    if profile.precision != "fp32" and not strongly_typed:
        layers, outputs = precision.describe_network(trt, network)
        fp32_layers, fp16_layers = precision.select(layers, outputs, profile.layers, options.fp32_layers,
                                                    options.fp16_layers)
        precision.apply(trt, network, fp32_layers, fp16_layers)
    names = [] if strongly_typed else compat.set_precision_flags(trt, config, profile.precision,
                                                                 constrained=bool(fp32_layers or fp16_layers),
                                                                 prefer=profile.dla is not None)
    names += compat.set_compatibility(trt, config, profile.version_compatible, profile.hardware_compatibility)
    names += compat.set_dla(trt, builder, config, profile.dla)
    flags.update(builder_flags=names, version_compatible=profile.version_compatible,
                 hardware_compatibility=profile.hardware_compatibility, dla_core=profile.dla,
                 fp32_layers=[x.name for x in fp32_layers], fp16_layers=[x.name for x in fp16_layers])
    if fp32_layers or fp16_layers:
        log(f"precision: {len(fp32_layers)} layer(s) kept FP32 (output tail and patterns), {len(fp16_layers)} kept "
            f"FP16: {_preview([x.name for x in fp32_layers + fp16_layers])}")
    return fp32_layers, fp16_layers


def add_input_profile(builder: Builder, config: BuilderConfig, info: OnnxInfo, profile: Profile, width: int,
                      height: int) -> dict[str, Any]:
    """Step 3: the optimization profile of the input (the target's min/opt/max batch); its record for `flags`."""
    batches = {"min": profile.input.min_batch, "opt": profile.input.opt_batch, "max": profile.input.max_batch}
    shapes = {k: info.input_dims(b, width, height) for k, b in batches.items()}
    opt_profile = builder.create_optimization_profile()
    # The bindings turn tuples into Dims (pybind11's implicit conversion, which the stubs leave out).
    opt_profile.set_shape(info.input_name, shapes["min"], shapes["opt"], shapes["max"])  # type: ignore[arg-type]
    config.add_optimization_profile(opt_profile)
    return {"name": info.input_name, **{k: list(v) for k, v in shapes.items()}}


def use_timing_cache(config: BuilderConfig, cache_path: Path | None, log: Log) -> Any | None:
    """Step 4: the timing cache read from `cache_path` (or new) attached to the config; None without a path."""
    if cache_path is None:
        return None
    blob = cache_path.read_bytes() if cache_path.is_file() else b""
    log(f"timing cache: {cache_path} ({'reused, ' + str(len(blob)) + ' bytes' if blob else 'new'})")
    return compat.load_timing_cache(config, blob)


def add_calibration(trt: TrtModule, builder: Builder, config: BuilderConfig, info: OnnxInfo, profile: Profile,
                    options: BuildOptions, out: Path, size: tuple[int, int], log: Log) -> dict[str, Any] | None:
    """Step 5: the INT8 calibrator of an FP32 file built as INT8 (a Q/DQ file carries its scales); its summary."""
    if profile.precision != "int8" or info.spec.precision != "fp32":
        return None
    feed, summary = calibration_feed(info, profile, options)
    calib_cache = Path(profile.calibration.cache).expanduser() if profile.calibration.cache else \
        out.with_name(out.name[: -len(out.suffix)] + ".calib.cache" if out.suffix else out.name + ".calib.cache")
    summary["cache"] = str(calib_cache)
    summary["cache_reused"] = calib_cache.is_file()
    log(f"INT8 calibration: {summary['batches']} batch(es) of {summary['batch']} {summary['source']} frames, cache "
        f"{calib_cache}" + (" (reused)" if summary["cache_reused"] else ""))
    calib_profile = builder.create_optimization_profile()
    cshape = info.input_dims(feed.batch, *size)
    calib_profile.set_shape(info.input_name, cshape, cshape, cshape)  # type: ignore[arg-type]  # at kOPT; Dims
    calibrator = make_calibrator(trt, feed, calib_cache,
                                 on_batch=lambda i, n: log(f"  calibration batch {i}/{n}") if i % 8 == 0 or i == n
                                 else None)
    compat.set_int8_calibration(config, calibrator, calib_profile)
    return summary


def serialize(trt: TrtModule, builder: Builder, network: Network, config: BuilderConfig, info: OnnxInfo,
              profile: Profile, log: Log) -> tuple[Any, float]:
    """Step 6: the serialized plan and the seconds TensorRT took; ArtifactError when it builds nothing."""
    monitor = compat.attach_progress(trt, config, make_monitor_factory(log))
    t0 = time.perf_counter()
    if monitor is None:
        with Heartbeat("building the engine (TensorRT prints no progress before 10.0)"):
            plan = builder.build_serialized_network(network, config)
    else:
        plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ArtifactError(f"{info.path}: TensorRT failed to build the engine for target {profile.name} (see the "
                            "TensorRT messages above; run with --verbose for details)")
    return plan, time.perf_counter() - t0


def write_engine(trt: TrtModule, logger: Logger, plan: Any, out: Path, info: OnnxInfo, profile: Profile, gpu: GpuInfo,
                 build: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """Step 7: the bare plan (trtexec, C++ and DeepStream read it as it is) and its sidecar, each written whole."""
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, memoryview(plan))
    runtime = trt.Runtime(logger)
    engine = compat.deserialize(trt, runtime, bytes(memoryview(plan)), str(out))
    spec = replace(info.spec, precision=profile.precision).to_dict()
    doc = make_sidecar(spec=spec, tensorrt_version=trt.__version__, gpu=gpu, build=build, onnx_path=info.path,
                       onnx_sha256=info.sha256, engine_sha256=sha256_file(out),
                       device_memory_bytes=compat.device_memory_bytes(engine))
    del engine, runtime
    return write_sidecar(out, doc), doc


def build_engine(info: OnnxInfo, profile: Profile, options: BuildOptions, log: Log = print) -> BuildReport:
    """model.engine + model.engine.json from an ONNX file, as a chain of steps: parse, precision, input profile,
    timing cache, (calibration,) build, plan and sidecar."""
    trt = compat.import_tensorrt()
    path = build_path(trt, info, profile)
    strong = path == compat.STRONGLY_TYPED
    gpu = cuda_runtime.open_device(options.device)
    width, height = input_size(info, profile)
    out = Path(options.output or default_engine_name(info.path, profile.precision, width, height, gpu.name,
                                                     trt.__version__))
    _announce(trt, info, profile, gpu, out, strong, log)

    logger, builder, network, parser = parse_onnx(trt, info, strongly_typed=strong, verbose=options.verbose)
    config = builder.create_builder_config()
    compat.set_workspace(trt, config, profile.workspace_mib)
    flags: dict[str, Any] = {"precision": profile.precision, "workspace_mib": profile.workspace_mib, "path": path,
                             "onnx_precision": info.spec.precision}
    if compat.set_optimization_level(config, profile.optimization_level):
        flags["optimization_level"] = profile.optimization_level
    flags["input"] = add_input_profile(builder, config, info, profile, width, height)
    fp32_layers, fp16_layers = set_precision(trt, builder, config, network, info, profile, options,
                                             strongly_typed=strong, flags=flags, log=log)
    cache_path = timing_cache_path(profile, options, gpu, trt.__version__)
    timing_cache = use_timing_cache(config, cache_path, log)
    if cache_path is not None:
        flags["timing_cache"] = str(cache_path)
    calib_summary = add_calibration(trt, builder, config, info, profile, options, out, (width, height), log)
    if calib_summary is not None:
        flags["calibration"] = calib_summary

    plan, seconds = serialize(trt, builder, network, config, info, profile, log)
    if timing_cache is not None and cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache_path, memoryview(config.get_timing_cache().serialize()))
    build = {"target": profile.to_dict(), "flags": flags, "seconds": round(seconds, 1)}
    side, doc = write_engine(trt, logger, plan, out, info, profile, gpu, build)
    del parser
    return BuildReport(out, side, doc, seconds, [x.name for x in fp32_layers], [x.name for x in fp16_layers],
                       calib_summary)


def _announce(trt: TrtModule, info: OnnxInfo, profile: Profile, gpu: GpuInfo, out: Path, strong: bool,
              log: Log) -> None:
    """The first lines of a build: a GPU the target is not meant for, then what is built with what."""
    if profile.compute_capability and gpu.compute_capability not in profile.compute_capability:
        # Engines run only where they were built: say so before minutes of building the wrong thing.
        log(f"warning: target {profile.name} is meant for compute capability "
            f"{'/'.join(profile.compute_capability)} but this GPU ({gpu.name}) is {gpu.compute_capability}; the "
            "engine will only run on this kind of GPU. Build on the target device for the target.")
    log(f"building {out.name} for {gpu.name} (sm {gpu.compute_capability}) with TensorRT {trt.__version__}, "
        f"target {profile.name}, {profile.precision}, batch {profile.input.min_batch}..{profile.input.max_batch}, "
        + ("strongly typed (the ONNX file's precision)" if strong else
           f"builder flags (the {info.spec.precision} file built as {profile.precision})"))


def _preview(names: list[str], n: int = 6) -> str:
    return ", ".join(names[:n]) + (f", ... (+{len(names) - n})" if len(names) > n else "")
