"""ModelSpec: everything the stages must agree on, defined once and carried in every artifact."""
from __future__ import annotations

import functools
import json
import math
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from .errors import SpecError
from .schema import Where, describe, parse_json

SPEC_VERSION = 2  # 2: the authors' decoding rules (DecoderSpec) and network variants

# The 19 keypoint types in their fixed order: 17 COCO body parts, then ball, then player centre.
BODY_PARTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
KEYPOINT_TYPES: tuple[str, ...] = BODY_PARTS + ("ball", "player_center")
NUM_BODY_PARTS = 17
NUM_TYPES = 19
BALL = 17
CENTER = 18

# COCO per-keypoint sigmas (OKS); ball and centre carry the relative sizes used by the target encoder.
COCO_SIGMAS: tuple[float, ...] = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)
TYPE_SIGMAS: tuple[float, ...] = COCO_SIGMAS + (0.5, 0.1)

# Left/right pairs, for horizontal flips.
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))

SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)

BACKBONES = ("resnet18", "resnet34", "resnet50")
# Network variants (docs/architecture.md "Network"): the authors' network (default) and the lighter one.
ARCHITECTURES = ("deepsportlab", "light")
# Numeric precision of an artifact's network (dsl-export --precision, target profiles): the one vocabulary.
PRECISIONS = ("fp32", "fp16", "int8")


def flip_permutation() -> list[int]:
    """Index permutation over the 19 types that swaps left and right."""
    perm = list(range(NUM_TYPES))
    for a, b in FLIP_PAIRS:
        perm[a], perm[b] = b, a
    return perm


@dataclass(frozen=True)
class InputSpec:
    """Network input: size, channel order and normalisation."""

    width: int = 641
    height: int = 641
    channels: str = "RGB"  # order fed to the network; frames arrive BGR and preprocess converts
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    pad_value: int = 0  # letterbox fill, in uint8 before normalisation
    name: str = "image"


# Choices of the decoder's rules (docs/architecture.md, "Decoding"); the first of each is the authors' rule.
SUPPORTS = ("disc", "square")
GAUSSIANS = ("approx", "exp")
KEYPOINT_ASSIGNMENTS = ("nearest-centre", "own-mask")


@dataclass(frozen=True)
class DecoderSpec:
    """Decoder parameters (Sec. 3.4); the defaults are the rules of the authors' decoder (DESIGN.md)."""

    seed_threshold: float = 0.1  # PIF cells at or below this confidence do not splat
    keypoint_threshold: float = 0.1  # fused maxima at or below this are discarded
    player_threshold: float = 0.5  # a pixel is a player when its probability is above this
    strict_thresholds: bool = True  # the three thresholds compare with '>' (the authors); False: '>='
    nms_window: int = 13  # local-maximum window, odd, in full-resolution pixels
    support: str = "disc"  # pixels a seed splats onto: 'disc' of radius truncate*sigma, or the 'square' around it
    truncate: float = 1.0  # Gaussian support in sigmas (OpenPifPaf convention)
    sigma_min: float = 1.0  # sigma floor in pixels
    weight_divisor: float = 16.0  # each seed splats confidence / 16 (16 neighbouring cells per keypoint)
    gaussian: str = "approx"  # 'approx': exp(x) as (1 + x/8)^8 on [-2, 2], 0 outside; 'exp': the true exp
    clamp: float | None = 1.0  # every fused map is clamped at this value; None: no clamp
    keypoint_assignment: str = "nearest-centre"  # body-part maxima join the centre nearest to pixel + offset,
    #                                             or only the player whose mask they lie on ('own-mask')
    discard_mask_pixels: int = 100  # players with at most this many mask pixels are dropped
    min_keypoints: int = 5  # players with fewer keypoints found (the centre counted) are dropped
    exact: bool = False  # True: the untruncated sum of Eq. 3 (true exp, no clamp, weight 1)
    max_players: int = 256  # centres kept, by score, per frame (a resource bound; the authors keep all)


@dataclass(frozen=True)
class ModelSpec:
    """What every stage must agree on; serialised in checkpoints, ONNX metadata and engine sidecars."""

    spec_version: int = SPEC_VERSION
    backbone: str = "resnet50"
    architecture: str = "deepsportlab"  # the authors' network; "light": max-pool, dilated layer4, stride-4 decoder
    input: InputSpec = field(default_factory=InputSpec)
    pif_stride: int = 8
    seg_stride: int = 1  # 1: player/offset at input resolution (paper); 4: the decoder upsamples
    backbone_stride: int = 16  # largest feature stride; input sizes fit when (size - 1) % this == 0
    keypoints: tuple[str, ...] = KEYPOINT_TYPES
    sigmas: tuple[float, ...] = TYPE_SIGMAS
    decoder: DecoderSpec = field(default_factory=DecoderSpec)
    outputs: tuple[str, ...] = ("player", "offset", "pif")
    pif_channels: tuple[str, ...] = ("confidence", "x", "y", "b", "sigma")
    precision: str = "fp32"  # the network's arithmetic in the artifact: fp32, fp16 (I/O and heads FP32), int8 (Q/DQ)

    # ---- derived geometry -------------------------------------------------
    @property
    def pif_size(self) -> tuple[int, int]:
        """(Hp, Wp) of the PIF grid for this input size."""
        return ((self.input.height - 1) // self.pif_stride + 1, (self.input.width - 1) // self.pif_stride + 1)

    @property
    def seg_size(self) -> tuple[int, int]:
        """(Hs, Ws) of the player/offset grid for this input size."""
        if self.seg_stride == 1:
            return (self.input.height, self.input.width)
        return ((self.input.height - 1) // self.seg_stride + 1, (self.input.width - 1) // self.seg_stride + 1)

    def output_shapes(self, batch: int | str = "B") -> dict[str, tuple]:
        """Shapes of the network outputs, keyed by output name."""
        hs, ws = self.seg_size
        hp, wp = self.pif_size
        return {
            "player": (batch, 1, hs, ws),
            "offset": (batch, 2, hs, ws),
            "pif": (batch, NUM_TYPES, len(self.pif_channels), hp, wp),
        }

    def fits_strides(self) -> bool:
        """True when the input size aligns with the network's largest stride."""
        s = self.backbone_stride
        return (self.input.width - 1) % s == 0 and (self.input.height - 1) % s == 0

    def with_input_size(self, width: int, height: int | None = None) -> "ModelSpec":
        """A copy of this spec for another input size."""
        return replace(self, input=replace(self.input, width=int(width), height=int(height or width)))

    def with_decoder(self, overrides: Mapping[str, Any] | None = None, **kwargs: Any) -> "ModelSpec":
        """A copy with some decoder parameters replaced (names of DecoderSpec fields); validated."""
        changes = {**(overrides or {}), **kwargs}
        if not changes:
            return self
        names = {f.name for f in fields(DecoderSpec)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise SpecError(f"decoder parameter(s) {unknown} unknown; expected some of {', '.join(sorted(names))}")
        spec = replace(self, decoder=replace(self.decoder, **changes))
        validate_decoder(spec.decoder, source="decoder override")
        return spec

    # ---- serialisation ----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)

    def to_json(self) -> str:
        """Compact, key-sorted JSON."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "spec") -> "ModelSpec":
        """Build and validate a spec; refuse newer or malformed ones with a message naming the problem."""
        if not isinstance(data, Mapping):
            raise SpecError(f"{source}: expected a JSON object for the model spec, found {type(data).__name__}")
        version = data.get("spec_version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise SpecError(f"{source}: the model spec has no integer 'spec_version' (found {describe(version)}); "
                            f"expected spec_version {SPEC_VERSION}")
        if version > SPEC_VERSION:
            raise SpecError(f"{source}: the model spec's spec_version is {describe(version)}, newer than this "
                            f"dsl_deploy understands (expected <= {SPEC_VERSION}); upgrade dsl_deploy or re-export "
                            "with this version")
        if version < 1:
            raise SpecError(f"{source}: the model spec's spec_version is {describe(version)}; expected "
                            f"1..{SPEC_VERSION}")
        if version == 1:
            data = _migrate_v1(data, source)
            data = _migrate_v1_architecture(data)
        try:
            kwargs = _known(cls, data, source)
            kwargs["input"] = InputSpec(**_tuples(_known(InputSpec, data.get("input", {}), source + ".input")))
            kwargs["decoder"] = DecoderSpec(**_known(DecoderSpec, data.get("decoder", {}), source + ".decoder"))
            for name in ("keypoints", "sigmas", "outputs", "pif_channels"):
                if name in kwargs:
                    kwargs[name] = tuple(kwargs[name])
            spec = cls(**kwargs)
        except SpecError:
            raise
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{source}: malformed model spec: {exc}") from None
        spec.validate(source=source)
        return spec

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "spec") -> "ModelSpec":
        """Parse a spec from JSON text."""
        data = parse_json(text, source=source, error=SpecError, what="model spec", max_bytes=MAX_SPEC_BYTES)
        return cls.from_dict(data, source=source)

    def validate(self, *, source: str = "spec") -> None:
        """Check values and internal consistency; raise SpecError naming the field."""
        where = Where(source, SpecError)
        _validate_model_fields(self, where)
        _validate_input(self.input, where)

        def bad(name: str, why: str) -> SpecError:
            return SpecError(f"{source}: field '{name}' {why}")

        if self.architecture == "deepsportlab" and self.seg_stride != 1:
            raise bad("seg_stride", f"is {self.seg_stride}; the deepsportlab network gives its segmentation at "
                                    "input resolution (seg_stride 1); seg_stride 4 is the light network's option")
        if tuple(self.keypoints) != KEYPOINT_TYPES:
            raise bad("keypoints", f"has {len(self.keypoints)} types in another order; expected the 19 of "
                                   "DESIGN.md (17 COCO parts, ball, player_center)")
        if tuple(self.outputs) != ("player", "offset", "pif"):
            raise bad("outputs", f"is {list(self.outputs)}; expected ['player', 'offset', 'pif']")
        if tuple(self.pif_channels) != ("confidence", "x", "y", "b", "sigma"):
            raise bad("pif_channels", f"is {list(self.pif_channels)}; expected confidence, x, y, b, sigma")
        validate_decoder(self.decoder, source=source)


MAX_INPUT_SIDE = 8192  # the decoders' largest side (docs/architecture.md, "Decoding")
MAX_SPEC_BYTES = 1 << 20  # a model spec is about 2 kB of JSON


def _validate_model_fields(spec: "ModelSpec", where: Where) -> None:
    """Types and ranges of the ModelSpec fields other than input and decoder."""
    where.integer(spec.spec_version, "spec_version", 1, SPEC_VERSION)
    where.string(spec.architecture, "architecture", choices=ARCHITECTURES)
    where.string(spec.backbone, "backbone", choices=BACKBONES)
    where.integer(spec.pif_stride, "pif_stride", 8, 8)
    if where.integer(spec.seg_stride, "seg_stride", 1, 4) not in (1, 4):
        raise where.fail("seg_stride", spec.seg_stride, "1 or 4")
    if where.integer(spec.backbone_stride, "backbone_stride", 1, 64) not in (8, 16, 32):
        raise where.fail("backbone_stride", spec.backbone_stride, "8, 16 or 32")
    where.strings(spec.keypoints, "keypoints")
    where.numbers(spec.sigmas, "sigmas", 1e-4, 10.0, count=NUM_TYPES)
    where.strings(spec.outputs, "outputs")
    where.strings(spec.pif_channels, "pif_channels")
    where.string(spec.precision, "precision", choices=PRECISIONS)
    if not isinstance(spec.input, InputSpec):
        raise where.fail("input", spec.input, "an object")
    if not isinstance(spec.decoder, DecoderSpec):
        raise where.fail("decoder", spec.decoder, "an object")


def _validate_input(inp: InputSpec, where: Where) -> None:
    """Types and ranges of every InputSpec field: sizes as integers, finite normalisation, std positive."""
    where.integer(inp.width, "input.width", 33, MAX_INPUT_SIDE)
    where.integer(inp.height, "input.height", 33, MAX_INPUT_SIDE)
    where.string(inp.channels, "input.channels", choices=("RGB", "BGR"))
    where.numbers(inp.mean, "input.mean", -1e3, 1e3, count=3)
    where.numbers(inp.std, "input.std", 1e-6, 1e3, count=3)  # 1 / (255 std) stays a float32
    where.integer(inp.pad_value, "input.pad_value", 0, 255)
    where.string(inp.name, "input.name", max_len=128)


_UNIT = (0.0, 1.0)


def validate_decoder(d: DecoderSpec, *, source: str = "spec") -> None:
    """Check every DecoderSpec field's type and range; raise SpecError naming the field."""
    def bad(name: str, why: str) -> SpecError:
        return SpecError(f"{source}: field 'decoder.{name}' is {getattr(d, name)!r}; expected {why}")

    def number(name: str, lo: float, hi: float, *, open_lo: bool = False) -> None:
        v = getattr(d, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or not (lo < v if open_lo else lo <= v) or v > hi:
            raise bad(name, f"a finite number in {'(' if open_lo else '['}{lo:g}, {hi:g}]")

    def integer(name: str, lo: int, hi: int) -> None:
        v = getattr(d, name)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise bad(name, f"an integer in [{lo}, {hi}]")

    def choice(name: str, options: tuple) -> None:
        if getattr(d, name) not in options:
            raise bad(name, "one of " + ", ".join(repr(o) for o in options))

    number("seed_threshold", *_UNIT)
    number("keypoint_threshold", *_UNIT)
    number("player_threshold", *_UNIT, open_lo=True)
    choice("strict_thresholds", (True, False))
    integer("nms_window", 1, 255)
    if d.nms_window % 2 == 0:
        raise bad("nms_window", "an odd integer in [1, 255]")
    choice("support", SUPPORTS)
    number("truncate", 0.0, 16.0, open_lo=True)
    number("sigma_min", 0.0, 1024.0, open_lo=True)
    number("weight_divisor", 1e-3, 1e6)
    choice("gaussian", GAUSSIANS)
    if d.clamp is not None:
        number("clamp", 0.0, 1e30, open_lo=True)
    choice("keypoint_assignment", KEYPOINT_ASSIGNMENTS)
    integer("discard_mask_pixels", 0, 1 << 26)
    integer("min_keypoints", 0, NUM_TYPES)
    choice("exact", (True, False))
    integer("max_players", 1, 65535)


# DecoderSpec as spec_version 1 wrote it; a v1 value that differs from these was chosen, the rest were defaults.
_V1_DECODER_DEFAULTS: dict[str, Any] = {
    "seed_threshold": 0.1, "keypoint_threshold": 0.1, "player_threshold": 0.5, "nms_window": 3, "truncate": 1.0,
    "sigma_min": 1.0, "weight_divisor": 16.0, "exact": False, "max_players": 64,
}


def _migrate_v1(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A v1 spec as v2: its decoder defaults become the authors' rules, values it chose are kept; say so once."""
    out = dict(data)
    out["spec_version"] = SPEC_VERSION
    old = data.get("decoder", {})
    if not isinstance(old, Mapping):
        return out  # from_dict names the malformed field
    chosen = {k: v for k, v in old.items() if k not in _V1_DECODER_DEFAULTS or v != _V1_DECODER_DEFAULTS[k]}
    out["decoder"] = chosen
    try:
        _notice_v1(source, tuple(sorted(chosen.items(), key=lambda kv: kv[0])))
    except (TypeError, ValueError):  # a malformed value (a list, an unknown key): from_dict names the field
        pass
    return out


@functools.lru_cache(maxsize=64)
def _notice_v1(source: str, chosen: tuple) -> None:
    applied = DecoderSpec(**dict(chosen)) if chosen else DecoderSpec()
    kept = f"; kept from the file: {', '.join(f'{k}={v!r}' for k, v in chosen)}" if chosen else ""
    warnings.warn(f"{source}: model spec version 1 (written before dsl_deploy decoded with the authors' rules): "
                  f"decoding with {describe_decoder(applied)}{kept}. Override with --decoder-set KEY=VALUE, or "
                  f"re-export the model to record them", SpecUpgradeWarning, stacklevel=2)


def _migrate_v1_architecture(data: Mapping[str, Any]) -> dict[str, Any]:
    """Version-1 artifacts were all made with today's "light" network (the field did not exist yet)."""
    out = dict(data)
    out.setdefault("architecture", "light")
    return out


class SpecUpgradeWarning(UserWarning):
    """An artifact written with an older spec version was read with today's rules (the message says which)."""


def describe_decoder(d: DecoderSpec) -> str:
    """The decoder parameters in effect, as 'key=value' pairs on one line."""
    return ", ".join(f"{f.name}={getattr(d, f.name)!r}" for f in fields(d))


def _known(cls: type, data: Any, source: str) -> dict[str, Any]:
    """The keys of `data` that are fields of `cls`; unknown keys are an error (a newer writer added them)."""
    if not isinstance(data, Mapping):
        raise SpecError(f"{source}: expected an object, found {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise SpecError(f"{source}: unknown field(s) {unknown} in the model spec; it was probably written by a "
                        f"newer dsl_deploy (this one reads spec_version {SPEC_VERSION})")
    return {k: v for k, v in data.items() if k in names}


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def default_spec(backbone: str = "resnet50", size: int = 641, architecture: str = "deepsportlab") -> ModelSpec:
    """The paper's configuration, with another backbone, input size or network variant when asked."""
    spec = ModelSpec(backbone=backbone, architecture=architecture).with_input_size(size)
    spec.validate()
    return spec
