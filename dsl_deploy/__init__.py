"""dsl_deploy: DeepSportLab in production (export, TensorRT, native decoder, capture runtime)."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import ArtifactError, BackendUnavailable, DataError, DslError, InputError, SpecError  # noqa: E402
from .spec import ModelSpec, default_spec  # noqa: E402

__all__ = [
    "__version__", "ModelSpec", "default_spec", "Pipeline", "FrameResult",
    "DslError", "SpecError", "ArtifactError", "InputError", "BackendUnavailable", "DataError",
]


def __getattr__(name: str):
    # Lazy so that `import dsl_deploy` stays light and never pulls torch or a backend.
    if name == "Pipeline":
        from .runtime.pipeline import Pipeline
        return Pipeline
    if name == "FrameResult":
        from .result import FrameResult
        return FrameResult
    raise AttributeError(f"module 'dsl_deploy' has no attribute {name!r}")
