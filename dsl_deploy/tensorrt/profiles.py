"""Deployment target profiles: small TOML files (export/*.toml, installed as dsl_deploy.profiles)."""
from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from ..errors import SpecError
from ..spec import PRECISIONS  # one vocabulary for precisions: the spec's

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - tomli is a dependency before 3.11
    import tomli as tomllib

PROFILE_PACKAGE = "dsl_deploy.profiles"
BACKENDS = ("tensorrt", "onnxruntime", "openvino")  # the words of load_backend(backend=...) and Backend.name
HARDWARE_LEVELS = ("none", "ampere+", "same_compute_capability")
CALIBRATION_SOURCES = ("synthetic", "folder")


class ProfileError(SpecError):
    """A target profile that is missing, unreadable or has a bad field."""


@dataclass(frozen=True)
class InputShapes:
    """Batch range of the optimisation profile; width/height 0 means 'the model's size'."""

    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 1
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Calibration:
    """INT8 calibration data: a folder of images or synthetic scenes."""

    source: str = "synthetic"
    folder: str = ""
    count: int = 256
    batch: int = 8
    cache: str = ""  # '' -> next to the engine, <engine>.calib.cache
    seed: int = 0


@dataclass(frozen=True)
class LayerPrecision:
    """Layers pinned to a precision by name pattern (fnmatch), plus the output-activation rule."""

    fp32: tuple[str, ...] = ()
    fp16: tuple[str, ...] = ()
    keep_outputs_fp32: bool = True  # the tail after the last conv (sigmoid, exp, scaling) stays FP32 in INT8/FP16


@dataclass(frozen=True)
class Profile:
    """One deployment target: backend, precision, shapes and builder settings."""

    name: str
    description: str
    backend: str = "tensorrt"
    precision: str = "fp16"
    input: InputShapes = field(default_factory=InputShapes)
    workspace_mib: int = 2048
    optimization_level: int = 3
    timing_cache: str = "auto"  # 'auto' -> user cache dir keyed by GPU and TensorRT; '' -> none; else a path
    calibration: Calibration = field(default_factory=Calibration)
    dla: int | None = None
    version_compatible: bool = False
    hardware_compatibility: str = "none"
    layers: LayerPrecision = field(default_factory=LayerPrecision)
    compute_capability: tuple[str, ...] = ()  # GPUs the target means ("8.7"); empty: any. Checked at build time.
    tensorrt: str = ""  # TensorRT versions that build for the target, e.g. ">=8.6,<10.5"; empty: any
    source: str = ""  # the file it was read from

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for the engine sidecar)."""
        d = asdict(self)
        d["dla"] = "none" if self.dla is None else self.dla
        return d


def available_targets() -> list[str]:
    """Names of the profiles shipped with dsl_deploy."""
    return sorted(Path(p.name).stem for p in resources.files(PROFILE_PACKAGE).iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name (or a unique prefix such as 'jetson-orin'), or a user's TOML file by path."""
    text, source = _read(str(name_or_path))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML ({exc})") from None
    return parse_profile(data, source=source)


def _read(name: str) -> tuple[str, str]:
    path = Path(name).expanduser()
    if path.suffix == ".toml" or "/" in name or path.is_file():
        if not path.is_file():
            raise ProfileError(f"{path}: no such profile file")
        return path.read_text(encoding="utf-8"), str(path)
    targets = available_targets()
    matches = [t for t in targets if t == name] or [t for t in targets if t.startswith(name + "-")]
    if len(matches) > 1 and f"{name}-fp16" in matches:
        matches = [f"{name}-fp16"]  # a family name ('jetson-orin') means its FP16 profile, the default precision
    if len(matches) != 1:
        why = "is ambiguous" if matches else "is not a known target"
        options = matches or targets
        raise ProfileError(f"target '{name}' {why}; available: {', '.join(options)} (or pass a path to a .toml file)")
    res = resources.files(PROFILE_PACKAGE) / f"{matches[0]}.toml"
    return res.read_text(encoding="utf-8"), f"{matches[0]} ({res})"


def parse_profile(data: Mapping[str, Any], *, source: str = "profile") -> Profile:
    """Validate a parsed TOML table into a Profile; errors name the file, the field and the reason."""
    r = _Reader(data, source, "")
    name = r.text("name")
    prof = Profile(
        name=name,
        description=r.text("description"),
        backend=r.choice("backend", BACKENDS, "tensorrt"),
        precision=r.choice("precision", PRECISIONS, "fp16"),
        input=_input(r.table("input")),
        workspace_mib=r.integer("workspace_mib", 2048, lo=16),
        optimization_level=r.integer("optimization_level", 3, lo=0, hi=5),
        timing_cache=r.text("timing_cache", "auto"),
        calibration=_calibration(r.table("calibration")),
        dla=_dla(r),
        version_compatible=r.flag("version_compatible", False),
        hardware_compatibility=r.choice("hardware_compatibility", HARDWARE_LEVELS, "none"),
        layers=_layers(r.table("layers")),
        compute_capability=_capabilities(r),
        tensorrt=_version_range(r),
        source=source,
    )
    r.done()
    if prof.tensorrt and prof.backend != "tensorrt":
        raise ProfileError(f"{source}: field 'tensorrt' only applies to backend tensorrt")
    if prof.dla is not None and prof.precision == "fp32":
        raise ProfileError(f"{source}: field 'dla' is set but DLA runs only FP16 or INT8; "
                           "set precision or dla = \"none\"")
    if prof.dla is not None and prof.input.min_batch != prof.input.max_batch:
        # DLA runs static shapes only; a batch range would silently push every layer back to the GPU.
        raise ProfileError(f"{source}: field 'input.max_batch' is {prof.input.max_batch} but DLA needs a fixed batch; "
                           f"set min_batch = opt_batch = max_batch (e.g. 1) when dla is set")
    if prof.version_compatible and prof.backend != "tensorrt":
        raise ProfileError(f"{source}: field 'version_compatible' only applies to backend tensorrt")
    return prof


def _input(r: "_Reader") -> InputShapes:
    lo = r.integer("min_batch", 1, lo=1)
    opt = r.integer("opt_batch", lo, lo=1)
    hi = r.integer("max_batch", max(lo, opt), lo=1)
    if not lo <= opt <= hi:
        raise r.error("opt_batch", f"needs min_batch <= opt_batch <= max_batch, got {lo}, {opt}, {hi}")
    width, height = r.integer("width", 0, lo=0), r.integer("height", 0, lo=0)
    for key, v in (("width", width), ("height", height)):
        if v and (v < 33 or (v - 1) % 16):
            raise r.error(key, f"is {v}; expected 0 (the model's size) or a size with (size - 1) % 16 == 0, e.g. 641")
    r.done()
    return InputShapes(lo, opt, hi, width, height)


def _calibration(r: "_Reader") -> Calibration:
    cal = Calibration(
        source=r.choice("source", CALIBRATION_SOURCES, "synthetic"),
        folder=r.text("folder", ""),
        count=r.integer("count", 256, lo=1),
        batch=r.integer("batch", 8, lo=1),
        cache=r.text("cache", ""),
        seed=r.integer("seed", 0, lo=0),
    )
    if cal.count < cal.batch:
        raise r.error("count", f"is {cal.count}, smaller than one batch ({cal.batch})")
    r.done()
    return cal


def _layers(r: "_Reader") -> LayerPrecision:
    lp = LayerPrecision(fp32=r.patterns("fp32"), fp16=r.patterns("fp16"),
                        keep_outputs_fp32=r.flag("keep_outputs_fp32", True))
    r.done()
    return lp


def _capabilities(r: "_Reader") -> tuple[str, ...]:
    value = r.raw("compute_capability", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and re.fullmatch(r"\d+\.\d+", v) for v in value):
        raise r.error("compute_capability", f"is {value!r}; expected a list of \"major.minor\" strings like [\"8.7\"]")
    return tuple(value)


def _version_range(r: "_Reader") -> str:
    value = r.text("tensorrt", "")
    if value and not re.fullmatch(r"\s*(>=|<)\s*\d+(\.\d+)*\s*(,\s*(>=|<)\s*\d+(\.\d+)*\s*)*", value):
        raise r.error("tensorrt", f"is {value!r}; expected a version range such as \">=8.6,<10.5\" (>= and < bounds)")
    return value


def _dla(r: "_Reader") -> int | None:
    value = r.raw("dla", "none")
    if value == "none":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise r.error("dla", f"is {value!r}; expected \"none\" or a DLA core number (0 or 1)")
    return value


class _Reader:
    """Typed access to one TOML table that remembers which keys were read, to reject unknown ones."""

    def __init__(self, data: Mapping[str, Any], source: str, prefix: str):
        if not isinstance(data, Mapping):
            raise ProfileError(f"{source}: field '{prefix.rstrip('.')}' must be a table")
        self.data, self.source, self.prefix = data, source, prefix
        self.seen: set[str] = set()

    def error(self, key: str, why: str) -> ProfileError:
        return ProfileError(f"{self.source}: field '{self.prefix}{key}' {why}")

    def raw(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is None:
                raise self.error(key, "is missing")
            return default
        return self.data[key]

    def text(self, key: str, default: str | None = None) -> str:
        v = self.raw(key, default)
        if not isinstance(v, str):
            raise self.error(key, f"is {v!r}; expected a string")
        return v

    def integer(self, key: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        v = self.raw(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(key, f"is {v!r}; expected an integer")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise self.error(key, f"is {v}; expected {rng}")
        return v

    def flag(self, key: str, default: bool) -> bool:
        v = self.raw(key, default)
        if not isinstance(v, bool):
            raise self.error(key, f"is {v!r}; expected true or false")
        return v

    def choice(self, key: str, options: tuple[str, ...], default: str) -> str:
        v = self.raw(key, default)
        if v not in options:
            raise self.error(key, f"is {v!r}; expected one of {', '.join(repr(o) for o in options)}")
        return v

    def patterns(self, key: str) -> tuple[str, ...]:
        v = self.raw(key, [])
        if not isinstance(v, list) or not all(isinstance(p, str) and p for p in v):
            raise self.error(key, f"is {v!r}; expected a list of layer-name patterns")
        return tuple(v)

    def table(self, key: str) -> "_Reader":
        self.seen.add(key)
        v = self.data.get(key, {})
        if not isinstance(v, Mapping):
            raise self.error(key, f"is {v!r}; expected a table [{self.prefix}{key}]")
        return _Reader(v, self.source, f"{self.prefix}{key}.")

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(unknown[0], "is not a known profile field (typo?)")
