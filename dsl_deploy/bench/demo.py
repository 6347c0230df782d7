"""The embedded models of `dsl-bench --demo`: the authors' network (or the light one), seeded, untrained, made once."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .. import __version__
from ..cache import cache_dir
from ..errors import BackendUnavailable
from ..spec import default_spec


def demo_artifacts(backbone: str = "resnet50", size: int = 641, seed: int = 0,
                   log: Callable[[str], None] = print, architecture: str = "deepsportlab") -> tuple[Path, Path]:
    """(checkpoint, onnx) of the seeded untrained model; built with torch on first use, then reused.

    The files are named after the network (e.g. deepsportlab-resnet50-641.onnx), so are the results.
    """
    spec = default_spec(backbone, size, architecture)
    name = f"{architecture}-{backbone}-{size}"
    folder = cache_dir("demo") / f"{name}-seed{seed}-v{__version__}"
    pth, onnx = folder / f"{name}.pth", folder / f"{name}.onnx"
    if pth.is_file() and onnx.is_file():
        log(f"demo model: reusing {folder}")
        return pth, onnx
    try:
        import torch
    except ImportError:
        raise BackendUnavailable("dsl-bench --demo builds its model with torch, which is not installed; "
                                 "install the train extra (pip install 'dsl_deploy[train]') or pass --onnx MODEL"
                                 ) from None
    from ..export import export_onnx
    from ..model import build_model
    from ..model.checkpoint import save_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = build_model(spec).eval()
    save_checkpoint(pth, model, spec, {"seed": seed, "note": "untrained demo model made by dsl-bench --demo"})
    log(f"demo model: built {architecture} {backbone} at {size}x{size} (seed {seed}, untrained) in "
        f"{time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    tmp = onnx.with_suffix(".onnx.partial")
    export_onnx(model, spec, tmp, log=log)  # checks ONNX Runtime against torch on the way
    tmp.replace(onnx)
    log(f"demo model: exported ONNX in {time.perf_counter() - t0:.1f} s -> {onnx}")
    return pth, onnx
