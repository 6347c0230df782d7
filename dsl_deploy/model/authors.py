"""The authors' checkpoints (ispgroupucl/DeepSportLab) as our deepsportlab network, without their code.

Their trainer writes `torch.save({'model': <the whole pickled model>, 'epoch': ..., 'meta': {'args': ...}})`;
their factory also reads `{'model_state_dict': ...}`; a bare state dict is read too. Whole-model pickles go
through `restricted_pickle` (nothing in the file is run); the parameters keep their names, which are ours.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import ArtifactError, first_line
from ..spec import default_spec
from .checkpoint import Checkpoint
from .deepsportlab import BALL_FIELDS, CIF_FIELDS, SEMANTIC_CLASSES
from .network import build_model
from .restricted_pickle import ForbiddenGlobal, Record, restricted_load
from .statedict import state_dict_diff

PAPER_HEADS = ("cifcent", "pan", "ball")
DEFAULT_EDGE = 641
_EXPECTED = ("the authors' DeepSportLab checkpoint (resnet + cifcent, pan, ball heads: their .pkl, "
             "a {'model_state_dict': ...} dict or a bare state dict)")


class NotAuthorsCheckpoint(ArtifactError):
    """The file is no checkpoint of the authors' either; `why` says what was found."""

    def __init__(self, message: str, why: str):
        super().__init__(message)
        self.why = why


def load_authors_checkpoint(path: str | Path, size: int | None = None) -> Checkpoint:
    """Read an authors' checkpoint into a DeepSportLabNet (eval mode) and its spec; refuse anything else."""
    p = Path(path)
    try:
        data = restricted_load(p)
    except ForbiddenGlobal as exc:
        raise ArtifactError(f"{p}: refused: the file names {exc.name}, which is not part of a DeepSportLab "
                            "checkpoint; nothing from the file was run") from None
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError, TypeError,
            AttributeError, KeyError, IndexError, AssertionError, ImportError) as exc:
        why = f"{type(exc).__name__}: {first_line(exc)}"
        raise NotAuthorsCheckpoint(f"{p}: not a readable checkpoint ({why}); expected {_EXPECTED}", why) from None
    state, info = authors_state_dict(data, str(p))
    backbone = infer_backbone(state, str(p))
    check_heads(state, str(p))
    edge = size or info.get("square_edge") or DEFAULT_EDGE
    spec = default_spec(backbone, int(edge))
    model = build_model(spec)
    own = model.state_dict()
    for key, value in own.items():  # files from older torch have no batch-norm counters
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value.clone()
    diff = state_dict_diff(own, state)
    if diff:
        raise ArtifactError(f"{p}: the weights do not match the authors' {backbone} network with heads "
                            f"{' + '.join(PAPER_HEADS)}: {diff}")
    model.load_state_dict(state)
    model.eval()
    info["backbone"] = backbone
    return Checkpoint(model=model, spec=spec, train=info, version=0, dsl_deploy_version="")


def authors_state_dict(data: Any, source: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, plain info) from what the file held: a whole-model dict, a model_state_dict or a state dict."""
    if isinstance(data, Mapping) and isinstance(data.get("model"), Record):
        shell = data["model"]
        state: dict[str, torch.Tensor] = {}
        _collect(shell, "", state, source)
        info = _plain_info(data)
        names = _head_names(shell)
        if names is not None and tuple(names) != PAPER_HEADS:
            raise ArtifactError(f"{source}: the network has heads {' + '.join(map(str, names))}; dsl_deploy "
                                f"deploys the paper's configuration {' + '.join(PAPER_HEADS)}")
        return state, info
    if isinstance(data, Mapping) and isinstance(data.get("model_state_dict"), Mapping):
        info = _plain_info(data)
        data = data["model_state_dict"]
    else:
        info = {"source": "authors' state dict"}
    if isinstance(data, Mapping) and data and all(isinstance(v, torch.Tensor) for v in data.values()):
        keys = [str(k) for k in data]
        if any(k.startswith("base_net.net.") for k in keys) and any(k.startswith("head_nets.") for k in keys):
            return dict(zip(keys, data.values())), info
        raise NotAuthorsCheckpoint(f"{source}: a state dict without the authors' parameter names (base_net.net.*, "
                                   f"head_nets.*; found {keys[:3]}); expected {_EXPECTED}",
                                   f"a state dict with keys {keys[:3]}")
    found = f"a dict with keys {sorted(map(str, data))[:5]}" if isinstance(data, Mapping) else type(data).__name__
    raise NotAuthorsCheckpoint(f"{source}: not a DeepSportLab checkpoint (found {found}); expected {_EXPECTED}",
                               f"found {found}")


def _collect(module: Any, prefix: str, out: dict[str, torch.Tensor], source: str) -> None:
    """The state dict of a pickled module tree: parameters and persistent buffers, by dotted name."""
    if not isinstance(module, Record):
        raise ArtifactError(f"{source}: {prefix.rstrip('.') or 'model'} is a {type(module).__name__}, "
                            "not a module")
    attrs = module.__dict__
    skip = attrs.get("_non_persistent_buffers_set") or set()
    for table, kind in ((attrs.get("_parameters"), "parameter"), (attrs.get("_buffers"), "buffer")):
        for name, value in dict(table or {}).items():
            if value is None or name in skip:
                continue
            if not isinstance(value, torch.Tensor):
                raise ArtifactError(f"{source}: {kind} {prefix}{name} is a {type(value).__name__}, not a tensor")
            out[prefix + str(name)] = value
    for name, child in dict(attrs.get("_modules") or {}).items():
        if child is not None:
            _collect(child, f"{prefix}{name}.", out, source)


def _head_names(shell: Record) -> list[str] | None:
    """The head names their metas carry ('cifcent', 'pan', 'ball'), or None when the pickle lacks them."""
    heads = (getattr(shell, "_modules", None) or {}).get("head_nets")
    if not isinstance(heads, Record):
        return None
    names = []
    for head in dict(getattr(heads, "_modules", None) or {}).values():
        name = getattr(getattr(head, "meta", None), "name", None)
        if not isinstance(name, str):
            return None
        names.append(name)
    return names


def _plain_info(data: Mapping[str, Any]) -> dict[str, Any]:
    """Epoch, versions and the training input size, as plain values (for the export log and metadata)."""
    info: dict[str, Any] = {"source": "authors' checkpoint"}
    if isinstance(data.get("epoch"), int):
        info["epoch"] = data["epoch"]
    meta = data.get("meta")
    if isinstance(meta, Mapping):
        if isinstance(meta.get("version"), str):
            info["openpifpaf_version"] = meta["version"]
        args = meta.get("args")
        if isinstance(args, Mapping):
            edge = args.get("square_edge")
            if isinstance(edge, int) and not isinstance(edge, bool) and edge >= 33:
                info["square_edge"] = edge
            for key in ("basenet", "headnets"):
                value = args.get(key)
                if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                    info[key] = value if isinstance(value, str) else " ".join(value)
    return info


def infer_backbone(state: Mapping[str, torch.Tensor], source: str) -> str:
    """resnet18/34/50 from the blocks of the state dict (bottleneck or basic, blocks in layer3)."""
    blocks = {k.split(".")[3] for k in state if k.startswith("base_net.net.3.")}
    bottleneck = "base_net.net.1.0.conv3.weight" in state
    name = {(True, 6): "resnet50", (False, 2): "resnet18", (False, 6): "resnet34"}.get((bottleneck, len(blocks)))
    if name is None:
        raise ArtifactError(f"{source}: the backbone is not one dsl_deploy builds (found {len(blocks)} blocks in "
                            f"base_net.net.3, {'bottleneck' if bottleneck else 'basic'} blocks; expected resnet18, "
                            "resnet34 or resnet50)")
    return name


def check_heads(state: Mapping[str, torch.Tensor], source: str) -> None:
    """The paper's heads: cifcent (18 fields), pan (3 semantic classes), ball (1 field); else one clear line."""
    def out_channels(key: str) -> int | None:
        t = state.get(key)
        return int(t.shape[0]) if isinstance(t, torch.Tensor) and t.dim() >= 1 else None

    found = {"head_nets.0 (cifcent)": out_channels("head_nets.0.conv.weight"),
             "head_nets.1 (pan semantic)": out_channels("head_nets.1.head.classifier.semantic.1.weight"),
             "head_nets.2 (ball)": out_channels("head_nets.2.conv.weight")}
    expected = {"head_nets.0 (cifcent)": 5 * 4 * CIF_FIELDS, "head_nets.1 (pan semantic)": len(SEMANTIC_CLASSES),
                "head_nets.2 (ball)": 5 * 4 * BALL_FIELDS}
    wrong = [f"{k}: {found[k] if found[k] is not None else 'missing'} outputs, expected {v}"
             for k, v in expected.items() if found[k] != v]
    if wrong:
        raise ArtifactError(f"{source}: not the paper's heads {' + '.join(PAPER_HEADS)} ({'; '.join(wrong)})")
