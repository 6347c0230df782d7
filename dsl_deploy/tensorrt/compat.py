"""Every TensorRT version difference (8.5 .. 10.x, and what 11.x removed) lives here, and only here.

Two ways to say the precision: strongly typed networks (TensorRT 10+: the ONNX file's types and Q/DQ nodes are
the precision, no builder flags), and the builder-flag path (FP16/INT8 flags, layer constraints and an INT8
calibrator over an FP32 graph) that TensorRT 11 removed and older targets (Volta, JetPack 5) still need.
"""
from __future__ import annotations

import importlib
import re
from typing import Any, Callable

from ..errors import ArtifactError, BackendUnavailable
from .api import Builder, BuilderConfig, Context, Engine, Layer, Network, Parser, RuntimeT, TrtModule, legacy

MIN_VERSION = (8, 5)  # JetPack 5 (Jetson Xavier) ships TensorRT 8.5
# TensorRT 11 removed the weak-typing precision flags (FP16, INT8), layer precision constraints and the INT8
# calibrators; networks are strongly typed (NetworkDefinitionCreationFlag.STRONGLY_TYPED since 10.0). The two
# build paths:
STRONGLY_TYPED = "strongly-typed"
BUILDER_FLAGS = "builder-flags"

INSTALL_HINT = "pip install tensorrt cuda-python (or '.[trt]') on a machine with an NVIDIA GPU"


def import_tensorrt() -> TrtModule:
    """The tensorrt module, or BackendUnavailable saying what is missing and how to install it."""
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        raise BackendUnavailable(f"TensorRT is not installed ({exc}); {INSTALL_HINT}") from None
    except OSError as exc:  # the bindings are present but libnvinfer or the driver is not
        raise BackendUnavailable(f"TensorRT is installed but its libraries do not load ({exc}); "
                                 f"install the NVIDIA driver and {INSTALL_HINT}") from None
    version = parse_version(getattr(trt, "__version__", "0"))
    if version[:2] < MIN_VERSION:
        raise BackendUnavailable(f"TensorRT {trt.__version__} is too old (need >= 8.5); {INSTALL_HINT}")
    return trt  # type: ignore[return-value]  # the module, typed by its stubs where mypy has them


def parse_version(text: str) -> tuple[int, ...]:
    """'10.3.0.26' -> (10, 3, 0, 26); non-numeric tails are dropped."""
    parts = []
    for piece in str(text).split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts) or (0,)


def version_tag(text: str) -> str:
    """'10.3.0.26' -> '10.3' (major.minor, for file names and messages)."""
    v = parse_version(text)
    return ".".join(str(x) for x in (v + (0,))[:2])


def trt_version(trt: TrtModule) -> tuple[int, ...]:
    """The loaded TensorRT's version tuple."""
    return parse_version(trt.__version__)


_LOGGER: Any = None


def make_logger(trt: TrtModule, verbose: bool = False) -> Any:
    """The process's one TensorRT logger (TensorRT warns when builders and runtimes get different ones)."""
    global _LOGGER
    if _LOGGER is None:
        _LOGGER = trt.Logger(trt.Logger.WARNING)
    _LOGGER.min_severity = trt.Logger.VERBOSE if verbose else trt.Logger.WARNING
    return _LOGGER


# ---- builder ----------------------------------------------------------------------------------

def has_strong_typing(trt: TrtModule) -> bool:
    """Whether this TensorRT builds strongly typed networks (NetworkDefinitionCreationFlag.STRONGLY_TYPED)."""
    return hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")


def has_precision_flags(trt: TrtModule) -> bool:
    """Whether this TensorRT still has the builder-flag path (BuilderFlag.FP16; gone in 11)."""
    return hasattr(trt.BuilderFlag, "FP16")


def create_network(trt: TrtModule, builder: Builder, strongly_typed: bool = False) -> Network:
    """An explicit-batch network (the flag is required before 10, deprecated in 10, gone in 11), strongly typed
    when asked (the ONNX file's types are the precision)."""
    flags = 0
    explicit = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    if explicit is not None and trt_version(trt)[0] < 10:
        flags |= 1 << int(explicit)
    if strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return builder.create_network(flags)


def choose_path(trt: TrtModule, onnx_precision: str, target_precision: str, target: str = "target") -> str:
    """STRONGLY_TYPED or BUILDER_FLAGS for an ONNX file of `onnx_precision` and a target of `target_precision`.

    A file exported in FP16 or INT8 is built strongly typed where TensorRT can (10.0+) and with the matching
    flags (explicit Q/DQ, no calibrator) before; an FP32 file builds FP16/INT8 with the builder flags, which
    TensorRT 11 no longer has: then the precision step must come first, and the message says how.
    """
    if onnx_precision != "fp32":
        if onnx_precision != target_precision:
            raise BackendUnavailable(f"the model is {onnx_precision} but {target} is {target_precision}; build it "
                                     f"with a {onnx_precision} target, or export the model in {target_precision}")
        return STRONGLY_TYPED if has_strong_typing(trt) else BUILDER_FLAGS
    if target_precision == "fp32":
        return STRONGLY_TYPED if has_strong_typing(trt) else BUILDER_FLAGS
    if not has_precision_flags(trt):
        scheme = " --int8-scheme tensorrt --calib FRAMES/" if target_precision == "int8" else ""
        raise BackendUnavailable(
            f"TensorRT {trt.__version__} builds the precision the ONNX file carries (it removed the FP16/INT8 "
            f"builder flags and calibrators), and this file is fp32; make the {target_precision} file first: "
            f"dsl-export MODEL.onnx --precision {target_precision}{scheme}, then dsl-build that file")
    return BUILDER_FLAGS


def version_in_range(version: tuple[int, ...], spec: str) -> bool:
    """Whether a version satisfies a range like '>=8.6,<10.5' (empty: any)."""
    for part in filter(None, (p.strip() for p in spec.split(","))):
        op = ">=" if part.startswith(">=") else "<" if part.startswith("<") else ""
        if not op:
            raise ValueError(f"version range {spec!r}: each part must start with >= or <")
        bound = parse_version(part[len(op):].strip())
        width = max(len(bound), 2)
        have = tuple((version + (0,) * width)[:width])
        bound = tuple((bound + (0,) * width)[:width])
        if (op == ">=" and have < bound) or (op == "<" and have >= bound):
            return False
    return True


def check_precision_supported(trt: TrtModule, precision: str) -> None:
    """Refuse FP16/INT8 builds on a TensorRT without the precision flags, never silently downgrade."""
    if precision == "fp32":
        return
    flag = getattr(trt.BuilderFlag, precision.upper(), None)
    if flag is None:
        raise BackendUnavailable(
            f"TensorRT {trt.__version__} has no BuilderFlag.{precision.upper()} (TensorRT 11 removed weak-typed "
            f"{precision} builds in favour of strongly typed ONNX files); make a {precision} file with dsl-export "
            f"MODEL.onnx --precision {precision} and build that")
    if precision == "int8" and not hasattr(trt, "IInt8EntropyCalibrator2"):
        raise BackendUnavailable(f"TensorRT {trt.__version__} has no INT8 calibrator; make an INT8 (Q/DQ) file with "
                                 "dsl-export MODEL.onnx --precision int8 --int8-scheme tensorrt --calib FRAMES/")


def set_precision_flags(trt: TrtModule, config: BuilderConfig, precision: str, constrained: bool,
                        prefer: bool = False) -> list[str]:
    """Set FP16/INT8 (INT8 also enables FP16 for the layers it does not quantise); returns the flag names."""
    names = []
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
        names.append("FP16")
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        names.append("INT8")
    if constrained:
        # OBEY fails the build rather than quietly running the output tail in reduced precision; PREFER
        # (for DLA, which has no FP32) lets the GPU-fallback layers keep it where they can.
        order = ("PREFER_PRECISION_CONSTRAINTS", "OBEY_PRECISION_CONSTRAINTS") if prefer else \
            ("OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS")
        for flag_name in order:
            flag = getattr(trt.BuilderFlag, flag_name, None)
            if flag is not None:
                config.set_flag(flag)
                names.append(flag_name)
                break
    return names


def set_workspace(trt: TrtModule, config: BuilderConfig, mib: int) -> None:
    """Limit the builder workspace memory pool."""
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(mib) << 20)


def set_optimization_level(config: BuilderConfig, level: int) -> bool:
    """Builder optimisation level (TensorRT >= 8.6); False when unsupported."""
    if hasattr(config, "builder_optimization_level"):
        config.builder_optimization_level = int(level)
        return True
    return False


def set_compatibility(trt: TrtModule, config: BuilderConfig, version_compatible: bool, hardware: str) -> list[str]:
    """Version- and hardware-compatible engines; raises BackendUnavailable when this TensorRT lacks them."""
    names = []
    if version_compatible:
        flag = getattr(trt.BuilderFlag, "VERSION_COMPATIBLE", None)
        if flag is None:
            raise BackendUnavailable(f"TensorRT {trt.__version__} cannot build version-compatible engines (needs 8.6)")
        config.set_flag(flag)
        names.append("VERSION_COMPATIBLE")
    if hardware != "none":
        levels = getattr(trt, "HardwareCompatibilityLevel", None)
        attr = {"ampere+": "AMPERE_PLUS", "same_compute_capability": "SAME_COMPUTE_CAPABILITY"}[hardware]
        level = getattr(levels, attr, None) if levels is not None else None
        if level is None:
            raise BackendUnavailable(f"TensorRT {trt.__version__} has no HardwareCompatibilityLevel.{attr}")
        config.hardware_compatibility_level = level
        names.append(f"HARDWARE_COMPATIBILITY={attr}")
    return names


def set_dla(trt: TrtModule, builder: Builder, config: BuilderConfig, core: int | None) -> list[str]:
    """Run on a DLA core with GPU fallback for the layers DLA cannot run."""
    if core is None:
        return []
    available = int(getattr(builder, "num_DLA_cores", 0))
    if core >= available:
        raise BackendUnavailable(f"the profile asks for DLA core {core} but this device has {available} DLA core(s); "
                                 "set dla = \"none\" in the profile")
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = int(core)
    config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    return ["DLA", "GPU_FALLBACK"]


def set_int8_calibration(config: BuilderConfig, calibrator: Any, profile: Any) -> None:
    """Attach the calibrator; dynamic-shape networks also need the calibration profile."""
    config.int8_calibrator = calibrator
    if hasattr(config, "set_calibration_profile"):
        config.set_calibration_profile(profile)


def calibrator_base(trt: TrtModule) -> type:
    """The entropy calibrator base class (IInt8EntropyCalibrator2)."""
    base = getattr(trt, "IInt8EntropyCalibrator2", None)
    if base is None:
        raise BackendUnavailable(f"TensorRT {trt.__version__} has no IInt8EntropyCalibrator2 (removed in 11)")
    return base


def load_timing_cache(config: BuilderConfig, blob: bytes) -> Any:
    """Create a timing cache (from a previous build's bytes, or empty) and attach it to the config."""
    cache = config.create_timing_cache(blob)
    # ignore_mismatch=False: a cache from another GPU must not silently steer tactics.
    config.set_timing_cache(cache, False)
    return cache


def attach_progress(trt: TrtModule, config: BuilderConfig, make_monitor: Callable[[type], Any]) -> Any | None:
    """Attach an IProgressMonitor when this TensorRT has one (10.0+); returns it, or None."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None or not hasattr(config, "progress_monitor"):
        return None
    monitor = make_monitor(base)
    config.progress_monitor = monitor
    return monitor


def parser_errors(parser: Parser) -> list[str]:
    """The ONNX parser's errors, each with the node name and operator where the parser gives them."""
    out = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        where = []
        for attr in ("node_name", "node_operator"):
            fn = getattr(err, attr, None)
            if callable(fn):
                value = fn()
                if value:
                    where.append(f"{attr.split('_')[1]} {value}")
        if not where and callable(getattr(err, "node", None)) and err.node() >= 0:
            where.append(f"node #{err.node()}")
        out.append(f"{err.desc()}" + (f" ({', '.join(where)})" if where else ""))
    return out


def layer_type_name(layer: Layer) -> str:
    """'CONVOLUTION', 'ACTIVATION', ... for a network layer."""
    return str(layer.type).split(".")[-1]


# ---- runtime ----------------------------------------------------------------------------------

def deserialize(trt: TrtModule, runtime: RuntimeT, blob: bytes, path: str, rebuild: str = "dsl-build") -> Engine:
    """Deserialise a plan; a corrupt or foreign plan becomes an ArtifactError, never a None engine."""
    if hasattr(runtime, "engine_host_code_allowed"):
        # Version-compatible plans embed a lean runtime that must be allowed to run.
        runtime.engine_host_code_allowed = True
    try:
        engine = runtime.deserialize_cuda_engine(blob)
    except Exception as exc:  # the bindings raise on some corruptions and return None on others
        engine = None
        reason = f" ({exc})"
    else:
        reason = ""
    if engine is None:
        raise ArtifactError(f"{path}: TensorRT {trt.__version__} could not deserialise this engine{reason}; the file "
                            f"is corrupt, truncated or not a TensorRT plan; rebuild with: {rebuild}")
    return engine


def io_tensor_names(engine: Engine) -> list[str]:
    """Input and output tensor names in engine order."""
    if hasattr(engine, "num_io_tensors"):
        return [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    old = legacy(engine)  # the 8.x binding API (JetPack 5)
    return [old.get_binding_name(i) for i in range(old.num_bindings)]


def is_input(trt: TrtModule, engine: Engine, name: str) -> bool:
    """Whether a tensor is an engine input."""
    if hasattr(engine, "get_tensor_mode"):
        return engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
    old = legacy(engine)
    return old.binding_is_input(old.get_binding_index(name))


def tensor_dtype(trt: TrtModule, engine: Engine, name: str) -> Any:
    """The numpy dtype of an I/O tensor."""
    if hasattr(engine, "get_tensor_dtype"):
        return trt.nptype(engine.get_tensor_dtype(name))
    old = legacy(engine)
    return trt.nptype(old.get_binding_dtype(old.get_binding_index(name)))


def profile_shapes(engine: Engine, name: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(min, opt, max) shapes of an input in optimisation profile 0."""
    if hasattr(engine, "get_tensor_profile_shape"):
        shapes = engine.get_tensor_profile_shape(name, 0)
    else:
        old = legacy(engine)
        shapes = old.get_profile_shape(0, old.get_binding_index(name))
    low, opt, high = (dims_tuple(s) for s in shapes)
    return low, opt, high


def set_input_shape(engine: Engine, context: Context, name: str, shape: tuple[int, ...]) -> None:
    """Set a dynamic input's shape for the next execution."""
    if hasattr(context, "set_input_shape"):
        ok = context.set_input_shape(name, shape)
    else:
        ok = legacy(context).set_binding_shape(legacy(engine).get_binding_index(name), shape)
    if ok is False:
        raise ArtifactError(f"engine input '{name}': shape {shape} is outside the engine's optimisation profile")


def tensor_shape(engine: Engine, context: Context, name: str) -> tuple[int, ...]:
    """An I/O tensor's current shape (outputs: after the input shapes are set)."""
    if hasattr(context, "get_tensor_shape"):
        return dims_tuple(context.get_tensor_shape(name))
    return dims_tuple(legacy(context).get_binding_shape(legacy(engine).get_binding_index(name)))


def dims_tuple(dims: Any) -> tuple[int, ...]:
    """A TensorRT Dims (or any sequence of ints) as a tuple of ints."""
    return tuple(int(dims[i]) for i in range(len(dims)))


def bind_addresses(engine: Engine, context: Context, pointers: dict[str, int]) -> list[int] | None:
    """Bind device pointers by name (v3 API); returns a bindings list for the v2 API instead."""
    if hasattr(context, "set_tensor_address"):
        for name, ptr in pointers.items():
            context.set_tensor_address(name, int(ptr))
        return None
    old = legacy(engine)
    bindings = [0] * old.num_bindings
    for name, ptr in pointers.items():
        bindings[old.get_binding_index(name)] = int(ptr)
    return bindings


def execute_async(context: Context, stream_handle: int, bindings: list[int] | None) -> None:
    """Enqueue one execution on a stream (execute_async_v3, else execute_async_v2)."""
    if bindings is None:
        ok = context.execute_async_v3(stream_handle)
    else:
        ok = legacy(context).execute_async_v2(bindings, stream_handle)
    if not ok:
        raise ArtifactError("TensorRT failed to enqueue the engine (see the TensorRT log above)")


def device_memory_bytes(engine: Engine) -> int:
    """Device memory the engine's execution context needs (activations), in bytes."""
    for attr in ("device_memory_size_v2", "device_memory_size"):
        if hasattr(engine, attr):
            return int(getattr(engine, attr))
    return 0
