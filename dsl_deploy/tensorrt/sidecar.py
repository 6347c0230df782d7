"""The engine's JSON sidecar (model.engine.json): what was built, where, from what, and the checks on load."""
from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from .. import __version__
from ..errors import ArtifactError, printable
from ..runtime.outputs import write_atomic
from ..schema import Fields, Where, describe, parse_json
from .compat import parse_version, version_tag
from .profiles import HARDWARE_LEVELS

SIDECAR_FORMAT = "dsl_deploy.engine"
SIDECAR_VERSION = 1
MAX_SIDECAR_BYTES = 1 << 22  # a sidecar is a few kB; its calibration summary at most a few hundred
REQUIRED = ("format", "format_version", "spec", "tensorrt_version", "gpu", "build", "onnx_sha256", "engine_sha256",
            "built_at", "device_memory_bytes")


@dataclass(frozen=True)
class GpuInfo:
    """The GPU an engine was built for or is loaded on."""

    name: str
    compute_capability: str  # "8.7"

    def to_dict(self) -> dict[str, str]:
        """JSON form used in the sidecar."""
        return {"name": self.name, "compute_capability": self.compute_capability}


def sidecar_path(engine_path: str | Path) -> Path:
    """model.engine -> model.engine.json."""
    p = Path(engine_path)
    return p.with_name(p.name + ".json")


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def gpu_short_name(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'h100', 'Tesla V100-SXM2-16GB' -> 'v100', 'NVIDIA GeForce RTX 4090' -> 'rtx4090'."""
    words = [w for w in re.split(r"[\s\-_]+", name.lower()) if w and w not in ("nvidia", "tesla", "geforce", "quadro")]
    if not words:
        return "gpu"
    short = words[0] + (words[1] if words[0] in ("rtx", "gtx", "titan", "jetson", "agx") and len(words) > 1 else "")
    return re.sub(r"[^a-z0-9]", "", short) or "gpu"


def default_engine_name(onnx_path: str | Path, precision: str, width: int, height: int, gpu_name: str,
                        tensorrt_version: str) -> Path:
    """model.onnx -> model.fp16.641x641.h100.trt10.3.engine, next to the ONNX file."""
    p = Path(onnx_path)
    tag = f"{precision}.{width}x{height}.{gpu_short_name(gpu_name)}.trt{version_tag(tensorrt_version)}"
    return p.with_name(f"{p.stem}.{tag}.engine")


def make_sidecar(*, spec: Mapping[str, Any], tensorrt_version: str, gpu: GpuInfo, build: Mapping[str, Any],
                 onnx_path: str | Path, onnx_sha256: str, engine_sha256: str, device_memory_bytes: int) -> dict:
    """The sidecar document for a freshly built engine."""
    return {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "dsl_deploy_version": __version__,
        "spec": dict(spec),
        "tensorrt_version": str(tensorrt_version),
        "gpu": gpu.to_dict(),
        "build": dict(build),
        "onnx_path": str(onnx_path),
        "onnx_sha256": onnx_sha256,
        "engine_sha256": engine_sha256,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device_memory_bytes": int(device_memory_bytes),
    }


def write_sidecar(engine_path: str | Path, doc: Mapping[str, Any]) -> Path:
    """Write model.engine.json next to the engine (atomically); returns its path."""
    path = sidecar_path(engine_path)
    write_atomic(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
    return path


def read_sidecar(engine_path: str | Path) -> dict:
    """Read and check model.engine.json field by field; ArtifactError naming the file, the field and the problem."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise ArtifactError(f"{printable(engine_path)}: its sidecar {printable(path.name)} is missing; the engine "
                            "cannot be checked against this GPU and TensorRT. Rebuild with: "
                            f"{rebuild_command(None, engine_path)}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{printable(path)}: cannot read the sidecar ({exc.strerror or exc})") from None
    doc = parse_json(data, source=str(path), error=ArtifactError, what="sidecar", max_bytes=MAX_SIDECAR_BYTES)
    if not isinstance(doc, dict) or doc.get("format") != SIDECAR_FORMAT:
        found = describe(doc.get("format")) if isinstance(doc, dict) else describe(doc)
        raise ArtifactError(f"{printable(path)}: format is {found.replace(chr(34), chr(39))}; expected "
                            f"{SIDECAR_FORMAT!r}")
    version = doc.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= SIDECAR_VERSION:
        raise ArtifactError(f"{printable(path)}: format_version {describe(version)} is not understood (this "
                            f"dsl_deploy reads 1..{SIDECAR_VERSION}); upgrade dsl_deploy or rebuild the engine")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise ArtifactError(f"{printable(path)}: missing field(s) {', '.join(printable(k, 40) for k in missing)}; "
                            f"rebuild with: {rebuild_command(None, engine_path)}")
    _check_fields(Fields(doc, where=Where(str(path), ArtifactError)))
    return doc


def _check_fields(f: Fields) -> None:
    """Types and ranges of every field the loaders read (docs/architecture.md, "Artifacts")."""
    f.fields("spec")  # an object; ModelSpec.from_dict checks its fields
    f.string("tensorrt_version", max_len=32)
    if not re.fullmatch(r"\d{1,4}(\.\d{1,6}){0,3}[A-Za-z0-9.+-]{0,16}", f.get("tensorrt_version")):  # 8.6.1.post1
        raise f.where.fail("tensorrt_version", f.get("tensorrt_version"), "a version such as 10.3.0.26")
    gpu = f.fields("gpu")
    gpu.string("name", max_len=128)
    if not re.fullmatch(r"\d{1,2}\.\d{1,2}", gpu.string("compute_capability", max_len=5)):
        raise f.where.fail("gpu.compute_capability", gpu.get("compute_capability"), 'a "major.minor" string')
    build = f.fields("build")
    target = build.fields("target", {})
    target.string("name", "", max_len=128)
    flags = build.fields("flags", {})
    flags.boolean("version_compatible", False)
    flags.string("hardware_compatibility", "none", choices=HARDWARE_LEVELS)
    for key in ("onnx_sha256", "engine_sha256"):
        if not re.fullmatch(r"[0-9a-f]{64}", f.string(key, max_len=64)):
            raise f.where.fail(key, f.get(key), "64 lowercase hexadecimal digits (a SHA-256)")
    f.string("built_at", max_len=64)
    f.integer("device_memory_bytes", 0, 1 << 50)
    f.string("onnx_path", "", max_len=4096)
    f.string("dsl_deploy_version", "", max_len=64)


def rebuild_command(doc: Mapping[str, Any] | None, engine_path: str | Path) -> str:
    """The dsl-build command that rebuilds this engine here, every argument quoted for a POSIX shell."""
    onnx = "model.onnx"
    target = "<target>"
    if doc:
        onnx = str(doc.get("onnx_path") or onnx)
        build: Any = doc.get("build") if isinstance(doc.get("build"), dict) else {}
        target = str((build.get("target") or {}).get("name") or target) if isinstance(build.get("target"), dict) \
            else target
    quoted = [shlex.quote(printable(a)) for a in ("dsl-build", onnx, "--target", target, "-o", str(engine_path))]
    if target == "<target>":
        quoted[3] = target  # a placeholder for the user to fill in, not a file name
    return " ".join(quoted)


def check_engine_hash(doc: Mapping[str, Any], engine_path: str | Path) -> None:
    """The engine file must be the one the sidecar describes."""
    actual = sha256_file(engine_path)
    if actual != doc["engine_sha256"]:
        raise ArtifactError(f"{engine_path}: SHA-256 {actual[:12]}... does not match its sidecar "
                            f"({str(doc['engine_sha256'])[:12]}...); the engine was replaced or corrupted. "
                            f"Rebuild with: {rebuild_command(doc, engine_path)}")


def check_compatibility(doc: Mapping[str, Any], engine_path: str | Path, *, tensorrt_version: str,
                        gpu: GpuInfo) -> None:
    """Refuse an engine built for another GPU or TensorRT, unless it was built compatible with them."""
    flags = (doc.get("build") or {}).get("flags") or {}
    rebuild = rebuild_command(doc, engine_path)
    built_trt, here_trt = str(doc["tensorrt_version"]), str(tensorrt_version)
    if flags.get("version_compatible"):
        # Version-compatible plans run on the same or a later TensorRT (not an older one).
        ok = parse_version(here_trt) >= parse_version(built_trt)
    else:
        ok = parse_version(here_trt)[:3] == parse_version(built_trt)[:3]
    if not ok:
        raise ArtifactError(f"{engine_path}: built with TensorRT {built_trt}, but this machine has TensorRT "
                            f"{here_trt}; "
                            f"engines only load on the TensorRT that built them. Rebuild with: {rebuild}")
    built = doc["gpu"]
    level = flags.get("hardware_compatibility", "none")
    same_cc = str(built["compute_capability"]) == gpu.compute_capability
    if level == "ampere+":
        ok = parse_version(gpu.compute_capability) >= (8, 0)
        expected = "an Ampere or newer GPU (compute capability >= 8.0)"
    elif level == "same_compute_capability":
        ok, expected = same_cc, f"a GPU of compute capability {built['compute_capability']}"
    else:
        ok = same_cc and built["name"] == gpu.name
        expected = f"{built['name']} (compute capability {built['compute_capability']})"
    if not ok:
        raise ArtifactError(f"{engine_path}: built for {expected}, but this GPU is {gpu.name} (compute capability "
                            f"{gpu.compute_capability}); engines are specific to the GPU. Rebuild with: {rebuild}")
