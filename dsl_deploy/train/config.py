"""Training configuration: one table of every option with its default, read from TOML plus overrides.

The defaults are the paper's (Sec. 4): ResNet-50 at 641x641, SGD with lr 3e-4, momentum 0.95, weight
decay 1e-5, batch 4, loss weights 10 / 0.1 / 20 / 10 / 10. A TOML file sets any of them by section
(`[model]`, `[data]`, `[optim]`, `[loss]`, `[run]`); `--set section.key=value` and the explicit
dsl-train flags override the file. Unknown keys and wrong types are refused with one line naming them.
"""
from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError
from ..spec import ARCHITECTURES, BACKBONES
from .losses import LossConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class ModelConfig:
    """Network to train."""

    backbone: str = "resnet50"  # resnet18 | resnet34 | resnet50
    architecture: str = "deepsportlab"  # deepsportlab (the authors' network) | light (2.6x fewer FLOPs)
    size: int = 641  # square input size; (size - 1) % 16 == 0 fits the strides
    backbone_weights: str = ""  # local torchvision ResNet weights (.pth); "" = random init, nothing downloaded


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from (sources: synthetic:N | coco:PATH | deepsport:PATH)."""

    train: str = "synthetic:256"  # training source
    train2: str = ""  # second training source; batches then take an equal share of each (Sec. 4)
    val: str = "synthetic:16"  # validation source; "" = no validation
    val_seed: int = 1000  # seed of synthetic validation scenes (distinct from the training scenes)
    augment: bool = True  # random flip, scale, rotation and crop on training images (Sec. 4)
    workers: int = 0  # DataLoader worker processes (0..2 on small machines)


@dataclass(frozen=True)
class OptimConfig:
    """SGD settings (Sec. 4)."""

    lr: float = 3e-4
    momentum: float = 0.95
    weight_decay: float = 1e-5
    batch_size: int = 4
    warmup_steps: int = 0  # linear learning-rate warmup from lr/100 (0 = constant lr, as the paper)
    grad_clip: float = 0.0  # clip the gradient norm to this (0 = off)


@dataclass(frozen=True)
class RunConfig:
    """Length, device, seed and output of a run."""

    epochs: int = 1
    steps_per_epoch: int = 0  # optimizer steps per epoch; 0 = one pass over the training source
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch CPU threads (torch.set_num_threads); 0 = torch's default (one per core)
    out_dir: str = "runs/train"
    val_metrics: bool = True  # decode the validation images and score them (pSQ, pDQ, AP, bDQ)
    log_every: int = 1  # write a CSV row every this many steps


@dataclass(frozen=True)
class TrainConfig:
    """Every training option, by section."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Nested plain dict (section -> key -> value)."""
        return asdict(self)

    def to_toml(self) -> str:
        """The configuration as a TOML file that `load_config` reads back."""
        lines = ["# dsl-train configuration (every option; see dsl-train --help)"]
        for section, values in self.to_dict().items():
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
        return "\n".join(lines) + "\n"


SECTIONS = {f.name: f.default_factory for f in fields(TrainConfig)}  # type: ignore[misc]


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _coerce(name: str, value: Any, default: Any, source: str) -> Any:
    """`value` converted to the type of `default`, or InputError naming the key; strings are parsed."""
    kind = type(default)
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return text.lower() in ("true", "1", "yes")
            return kind(text)
        except ValueError:
            raise InputError(f"{source}: '{name}' expected {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:
        raise InputError(f"{source}: '{name}' expected {kind.__name__}, got {value!r} ({type(value).__name__})")
    return value


def apply(config: TrainConfig, values: Mapping[str, Any], source: str) -> TrainConfig:
    """A copy of `config` with `values` (nested {section: {key: value}} or flat {"section.key": value})."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            if key not in SECTIONS:
                raise InputError(f"{source}: unknown section [{key}]; expected one of {', '.join(SECTIONS)}")
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    sections = {name: getattr(config, name) for name in SECTIONS}
    for key, value in flat.items():
        section, _, name = key.partition(".")
        if section not in SECTIONS or not name:
            raise InputError(f"{source}: unknown key '{key}'; keys are section.name with section one of "
                             f"{', '.join(SECTIONS)}")
        known = {f.name: f for f in fields(sections[section])}
        if name not in known:
            raise InputError(f"{source}: unknown key '{key}'; [{section}] has {', '.join(known)}")
        default = getattr(SECTIONS[section](), name)  # type: ignore[operator]  # default_factory, set for all
        sections[section] = replace(sections[section], **{name: _coerce(key, value, default, source)})
    out = TrainConfig(**sections)
    validate(out, source)
    return out


def validate(config: TrainConfig, source: str = "config") -> None:
    """Range checks; raise InputError naming the key."""
    def bad(key: str, why: str) -> InputError:
        return InputError(f"{source}: '{key}' {why}")

    m, d, o, r = config.model, config.data, config.optim, config.run
    if m.architecture not in ARCHITECTURES:
        raise bad("model.architecture", f"is {m.architecture!r}; expected one of {', '.join(ARCHITECTURES)}")
    if m.backbone not in BACKBONES:
        raise bad("model.backbone", f"is {m.backbone!r}; expected one of {', '.join(BACKBONES)}")
    if m.size < 33:
        raise bad("model.size", f"is {m.size}; expected at least 33")
    if not 0 <= d.workers <= 16:
        raise bad("data.workers", f"is {d.workers}; expected 0..16")
    if not d.train:
        raise bad("data.train", "is empty; expected synthetic:N, coco:PATH or deepsport:PATH")
    if o.lr <= 0 or o.momentum < 0 or o.weight_decay < 0 or o.grad_clip < 0:
        raise bad("optim", "lr must be positive; momentum, weight_decay and grad_clip non-negative")
    if o.batch_size < 1 or o.warmup_steps < 0:
        raise bad("optim.batch_size/warmup_steps", "must be >= 1 and >= 0")
    if d.train2 and o.batch_size % 2:
        raise bad("optim.batch_size", f"is {o.batch_size}; an equal share of two sources needs an even batch")
    if r.threads < 0:
        raise bad("run.threads", f"is {r.threads}; expected 0 (torch's default) or a positive count")
    if r.epochs < 1 or r.steps_per_epoch < 0 or r.log_every < 1:
        raise bad("run.epochs/steps_per_epoch/log_every", "must be >= 1, >= 0 and >= 1")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                base: TrainConfig | None = None) -> TrainConfig:
    """Defaults (or `base`), then the TOML file at `path`, then `section.key=value` overrides."""
    config = base or TrainConfig()
    if path:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"--config: {p}: no such file")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{p}: not valid TOML ({exc})") from None
        config = apply(config, data, str(p))
    for item in overrides or []:
        key, eq, value = item.partition("=")
        if not eq:
            raise InputError(f"--set: expected section.key=value, got {item!r}")
        config = apply(config, {key.strip(): value}, "--set")
    return config


# A loss section saved before the loss forms existed was trained with these (today's Eq. 2 forms and targets).
EQ2_LOSS = {"sem_form": "eq2", "off_form": "eq2", "cnf_form": "eq2", "sig_form": "eq2", "targets": "eq2",
            "loc_form": "gaussian"}


def from_dict(data: Mapping[str, Any], source: str = "checkpoint config") -> TrainConfig:
    """Rebuild a configuration saved with `TrainConfig.to_dict` (e.g. in a checkpoint)."""
    loss = data.get("loss")
    if isinstance(loss, Mapping) and "sem_form" not in loss:
        data = {**data, "loss": {**EQ2_LOSS, **loss}}
    return apply(TrainConfig(), data, source)
