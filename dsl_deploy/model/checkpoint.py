"""Checkpoints (`model.pth`): a plain dict with the spec, the weights and training state (docs/architecture.md)."""
from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..errors import ArtifactError, SpecError, first_line
from ..runtime.outputs import atomic_file
from ..spec import ModelSpec
from .network import build_model
from .statedict import state_dict_diff

CHECKPOINT_FORMAT = "dsl_deploy.checkpoint"
CHECKPOINT_FORMAT_VERSION = 1


class ForeignCheckpoint(ArtifactError):
    """The file is not a dsl_deploy checkpoint (it may still be one of the authors'; see load_any_checkpoint)."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the network (weights in place), its spec, training info, format version.

    `version` 0 marks an authors' checkpoint (model/authors.py); `train` then holds what their file recorded.
    """

    model: nn.Module
    spec: ModelSpec
    train: dict[str, Any] = field(default_factory=dict)
    version: int = CHECKPOINT_FORMAT_VERSION
    dsl_deploy_version: str = ""


def save_checkpoint(path: str | Path, model: nn.Module, spec: ModelSpec, train: dict | None = None) -> None:
    """Write `model.pth` atomically (a new file in the same folder renamed into place: `outputs.atomic_file`)."""
    path = Path(path)
    spec.validate()
    data = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "dsl_deploy_version": __version__,
        "spec": spec.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train": _plain(dict(train or {}), "train"),
    }
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ArtifactError(f"{path}: the output folder {folder} does not exist")
    with atomic_file(path) as f:
        torch.save(data, f)


def _plain(value: Any, where: str) -> Any:
    """`value` as the plain types torch.load(weights_only=True) accepts; numpy values are converted.

    Refusing anything else here, at save time, beats a checkpoint that can only be read unsafely.
    """
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    if isinstance(value, dict):
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    raise ArtifactError(f"checkpoint {where}: a {type(value).__name__} cannot be stored; use numbers, strings, "
                        "lists, dicts or tensors")


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw checkpoint dict, validated (format, version, spec readable); weights not yet matched."""
    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"{p}: no such checkpoint file")
    expected = "expected a model.pth written by dsl-train or save_checkpoint"
    if not zipfile.is_zipfile(p):
        raise ForeignCheckpoint(f"{p}: not a dsl_deploy checkpoint (not a torch zip archive; truncated or another "
                            f"kind of file?); {expected}")
    try:
        data = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise ForeignCheckpoint(f"{p}: not a dsl_deploy checkpoint (it holds Python objects other than tensors and "
                            f"plain values); {expected}") from None
    except (zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError, AttributeError, TypeError,
            ImportError, KeyError) as exc:
        raise ArtifactError(f"{p}: not a readable checkpoint (torch.load failed: {first_line(exc)}); "
                            f"{expected}") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        found = f"a dict with keys {sorted(map(str, data))[:5]}" if isinstance(data, dict) else type(data).__name__
        raise ForeignCheckpoint(f"{p}: not a dsl_deploy checkpoint (found {found}; expected format "
                            f"'{CHECKPOINT_FORMAT}'); a bare state_dict must be wrapped with save_checkpoint")
    version = data.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ArtifactError(f"{p}: checkpoint has no valid format_version (found {version!r}; "
                            f"expected {CHECKPOINT_FORMAT_VERSION})")
    if version > CHECKPOINT_FORMAT_VERSION:
        raise ArtifactError(f"{p}: checkpoint format_version {version} is newer than this dsl_deploy reads "
                            f"({CHECKPOINT_FORMAT_VERSION}; file written by dsl_deploy "
                            f"{data.get('dsl_deploy_version', '?')}); upgrade dsl_deploy")
    if not isinstance(data.get("state_dict"), dict):
        raise ArtifactError(f"{p}: checkpoint has no state_dict")
    if "spec" not in data:
        raise SpecError(f"{p}: checkpoint has no model spec")
    ModelSpec.from_dict(data["spec"], source=f"{p} spec")
    if not isinstance(data.get("train", {}), dict):
        raise ArtifactError(f"{p}: checkpoint 'train' entry is {type(data['train']).__name__}; expected a dict")
    return data


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read, validate and rebuild the network of a checkpoint, weights loaded, in eval mode."""
    data = read_checkpoint(path, map_location)
    spec = ModelSpec.from_dict(data["spec"], source=f"{path} spec")
    model = build_model(spec)
    diff = state_dict_diff(model.state_dict(), data["state_dict"])
    if diff:
        raise ArtifactError(f"{path}: the weights do not match the spec's network ({spec.architecture} "
                            f"{spec.backbone}): {diff}")
    model.load_state_dict(data["state_dict"])
    model.eval()
    return Checkpoint(model=model, spec=spec, train=dict(data.get("train") or {}),
                      version=int(data["format_version"]), dsl_deploy_version=str(data.get("dsl_deploy_version", "")))


def load_any_checkpoint(path: str | Path, size: int | None = None) -> Checkpoint:
    """A dsl_deploy checkpoint, else the authors' (whole-model .pkl or state dict, read without running it).

    `size` is the input size for an authors' checkpoint whose file does not record it (default 641).
    """
    try:
        return load_checkpoint(path)
    except ForeignCheckpoint as ours:
        from .authors import NotAuthorsCheckpoint, load_authors_checkpoint
        try:
            return load_authors_checkpoint(path, size)
        except NotAuthorsCheckpoint as theirs:
            raise ArtifactError(f"{ours}; nor is it the authors' ({theirs.why})") from None
