"""The one cache folder of dsl_deploy: demo models, TensorRT timing caches, ONNX Runtime's TensorRT engines."""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "DSL_CACHE_DIR"  # overrides the folder


def cache_dir(*parts: str) -> Path:
    """$DSL_CACHE_DIR, else $XDG_CACHE_HOME/dsl_deploy, else ~/.cache/dsl_deploy; `parts` name a subfolder."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "dsl_deploy")
    return Path(root).joinpath(*parts)
