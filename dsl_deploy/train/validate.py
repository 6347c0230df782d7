"""Validation: mean losses over a validation set and, where the modules exist, decoded quality measures."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from torch import nn

from ..data.annotations import Annotation
from ..errors import DslError
from ..spec import ModelSpec
from .losses import LOSS_NAMES, LossConfig, compute_losses

if TYPE_CHECKING:
    from ..decode import Decoder
    from ..metrics.evaluator import Evaluator

# Measures of metrics.Evaluator.summary() that the training log records (percent): the coco protocol's under
# these names, the paper protocol's (the authors' rules, dsl-eval's default) prefixed with "paper_".
METRIC_KEYS = ("pSQ", "pDQ", "AP", "bDQ")
PAPER_KEYS = tuple(f"paper_{k}" for k in METRIC_KEYS)


def metrics_available() -> str | None:
    """None when decoding and metrics can run, else the reason why not (a note for the log)."""
    for module, name in (("dsl_deploy.decode", "decode"), ("dsl_deploy.metrics.evaluator", "Evaluator"),
                         ("dsl_deploy.export.ready", "ready_fields")):
        try:
            if not hasattr(importlib.import_module(module), name):
                return f"{module}.{name} is missing"
        except ImportError as exc:
            return f"{module} does not import ({exc})"
    return None


@torch.no_grad()
def validate(model: nn.Module, samples: Sequence[tuple[np.ndarray, dict[str, np.ndarray], Annotation]],
             spec: ModelSpec, device: torch.device, loss_config: LossConfig, *, batch_size: int = 4,
             with_metrics: bool = True) -> dict[str, Any]:
    """Mean sub-losses (`val_<name>`) and, when `with_metrics`, pSQ/pDQ/AP/bDQ of the decoded outputs by the
    coco protocol, and the same by the paper protocol as `paper_<name>`.

    `samples` are (normalised image [3,H,W], targets, annotation at the network input size). The model
    is put in eval mode and restored to its previous mode afterwards.
    """
    was_training = model.training
    model.eval()
    sums = {name: 0.0 for name in LOSS_NAMES + ("total",)}
    evaluator: Evaluator | None = None
    decoder: Decoder | None = None
    if with_metrics:
        from ..decode import Decoder
        from ..export.ready import ready_fields
        from ..metrics.evaluator import Evaluator
        evaluator, decoder = Evaluator(spec=spec, protocol="coco"), Decoder(spec)
    n = 0
    try:
        for start in range(0, len(samples), batch_size):
            chunk = samples[start:start + batch_size]
            image = torch.from_numpy(np.stack([s[0] for s in chunk])).to(device)
            targets = {k: torch.from_numpy(np.stack([s[1][k] for s in chunk])).to(device) for k in chunk[0][1]}
            raw = model(image)
            losses = compute_losses(raw, targets, loss_config)
            for name in sums:
                sums[name] += float(losses[name]) * len(chunk)
            n += len(chunk)
            if evaluator is not None and decoder is not None:
                ready = {k: v.float().cpu().numpy() for k, v in ready_fields(raw, spec.pif_stride).items()}
                for i, (_img, _tgt, ann) in enumerate(chunk):
                    try:
                        result = decoder({k: v[i] for k, v in ready.items()})
                    except DslError as exc:  # e.g. non-finite fields of a diverging network
                        evaluator.add_failure(ann.image_id or str(start + i), str(exc))
                        continue
                    evaluator.add(result, ann)
    finally:
        model.train(was_training)
    out: dict[str, Any] = {f"val_{k}": v / max(n, 1) for k, v in sums.items()}
    out["val_images"] = n
    if evaluator is not None:
        summary = evaluator.summary()
        out.update({k: summary.get(k) for k in METRIC_KEYS})
        paper = summary.get("protocols", {}).get("paper", {})
        out.update({f"paper_{k}": paper.get(k) for k in METRIC_KEYS})
        out["val_failed"] = summary.get("failed", 0)
    return out
