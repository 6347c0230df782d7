"""What a runtime concludes from an exported .onnx file's metadata and graph input, whichever runtime reads them.

ONNX Runtime and OpenVINO read the file through their own APIs; these functions take what each API gives (the
metadata as a mapping, names, the input's element type and shape with unknown dimensions as None or names) and
refuse a file with the same words for both backends. Never imports torch or a runtime.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from ..errors import ArtifactError, InputError
from ..export.metadata import (
    INPUT_FLOAT,
    INPUT_FORMATS,
    INPUT_UINT8,
    META_FORMAT_VERSION,
    META_INPUT_FORMAT,
    META_SPEC,
    ONNX_FORMAT_VERSION,
)
from ..schema import describe
from ..spec import ModelSpec


def spec_from_metadata(meta: Mapping[str, str], path: Path) -> ModelSpec:
    """The ModelSpec in an exported file's metadata; ArtifactError naming what is missing, newer or unreadable."""
    if META_SPEC not in meta:
        raise ArtifactError(f"{path}: the ONNX file has no '{META_SPEC}' metadata, so its model spec is "
                            "unknown; export it with dsl-export")
    version = meta.get(META_FORMAT_VERSION, "")
    if not (version.isascii() and version.isdigit() and len(version) <= 9):
        raise ArtifactError(f"{path}: metadata '{META_FORMAT_VERSION}' is {describe(version)}; expected "
                            f"an integer (this dsl_deploy reads 1..{ONNX_FORMAT_VERSION})")
    if int(version) > ONNX_FORMAT_VERSION:
        raise ArtifactError(f"{path}: ONNX format_version {version} is newer than this dsl_deploy reads "
                            f"({ONNX_FORMAT_VERSION}); upgrade dsl_deploy")
    input_format_from_metadata(meta, path)
    return ModelSpec.from_json(meta[META_SPEC], source=f"{path} metadata")


def input_format_from_metadata(meta: Mapping[str, str], path: Path) -> str:
    """'float-nchw' (no entry: every file before dsl-export --uint8-input) or 'uint8-nhwc-bgr'."""
    fmt = meta.get(META_INPUT_FORMAT, INPUT_FLOAT)
    if fmt not in INPUT_FORMATS:
        raise ArtifactError(f"{path}: metadata '{META_INPUT_FORMAT}' is {describe(fmt)}; expected one of "
                            f"{', '.join(INPUT_FORMATS)} (a newer dsl_deploy made this file?)")
    return fmt


def check_io(path: Path, spec: ModelSpec, inputs: Sequence[str], outputs: Sequence[str]) -> None:
    """The graph's input and output names must be the spec's."""
    if list(inputs) != [spec.input.name] or sorted(outputs) != sorted(spec.outputs):
        raise ArtifactError(f"{path}: graph inputs {list(inputs)} / outputs {list(outputs)}; expected "
                            f"[{spec.input.name}] / {list(spec.outputs)}")


def check_input(path: Path, spec: ModelSpec, input_format: str, shape: Sequence[object], element: str,
                expected: str) -> int | None:
    """The graph's input must be what the metadata says: its element type (`element`, in the runtime's words, must be
    `expected`) and the spec's size where the graph fixes it (else the first frame fails). Returns the graph's fixed
    batch size, None when it is dynamic."""
    h, w = spec.input.height, spec.input.width
    uint8 = input_format == INPUT_UINT8
    if uint8:
        names, want, layout = ("height", "width", "channels"), [h, w, 3], f"[batch, {h}, {w}, 3]"
    else:
        names, want, layout = ("channels", "height", "width"), [3, h, w], f"[batch, 3, {h}, {w}]"
    if element != expected:
        said = (f"letterboxed uint8 frames ({META_INPUT_FORMAT} {INPUT_UINT8})" if uint8 else
                f"normalised float32 (no {META_INPUT_FORMAT})")
        raise ArtifactError(f"{path}: graph input '{spec.input.name}' is {element} but the metadata says "
                            f"{said}; the metadata does not belong to this graph: re-export it with dsl-export")
    if len(shape) != 4:
        raise ArtifactError(f"{path}: graph input '{spec.input.name}' has shape {list(shape)}; expected {layout}")
    fixed = [(name, d) for name, d, x in zip(names, shape[1:], want) if isinstance(d, int) and d > 0 and d != x]
    if fixed:
        said = ", ".join(f"{name} {d}" for name, d in fixed)
        raise ArtifactError(f"{path}: the graph's input is [batch, {shape[1]}, {shape[2]}, {shape[3]}] "
                            f"({said}) but the spec in its metadata says {' x '.join(str(d) for d in want)} "
                            "(input.height x input.width); the metadata does not belong to this graph: "
                            "re-export the model with dsl-export")
    batch = shape[0]
    return batch if isinstance(batch, int) else None


def check_runnable(path: Path, is_open: bool, fixed_batch: int | None, batch: int) -> None:
    """InputError for a call on a closed backend, or for a batch size the graph fixes otherwise."""
    if not is_open:
        raise InputError(f"{path.name}: this backend was closed; open a new one")
    if fixed_batch is not None and batch != fixed_batch:
        raise InputError(f"input: {path.name} was exported with a fixed batch of {fixed_batch}, got {batch}; "
                         "re-export with a dynamic batch")
