"""Static types of the TensorRT API this package calls, checked against NVIDIA's stubs where they are installed.

The glue takes the `tensorrt` module as a parameter (so the tests can hand it stand-ins of 8.6, 10.x and 11.x),
which mypy alone cannot type: `TrtModule` lists every module-level name the glue reads, typed with the stubs'
classes, and `_STUBS_MATCH` asks mypy to check that the real module has them. With the stubs on MYPYPATH
(`python .ci/trt_stubs.py`, as CI does) a misspelt or removed name, or a wrong method on a builder, config,
network, engine or context, fails `mypy`; without them every type here is Any and nothing is checked.

Names that exist only in some versions (the 8.x binding API, the FP16/INT8 builder flags and calibrators that
11 removed, IProgressMonitor from 10.0) are reached through `getattr` or `legacy()` in compat.py, each beside
the version test that guards it, so they are deliberately outside this check.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import tensorrt

    class TrtNames(Protocol):
        """The module-level names of `tensorrt` the glue reads without a guard."""

        Builder: type[tensorrt.Builder]
        BuilderFlag: type[tensorrt.BuilderFlag]
        DeviceType: type[tensorrt.DeviceType]
        Logger: type[tensorrt.Logger]
        MemoryPoolType: type[tensorrt.MemoryPoolType]
        NetworkDefinitionCreationFlag: type[tensorrt.NetworkDefinitionCreationFlag]
        OnnxParser: type[tensorrt.OnnxParser]
        Runtime: type[tensorrt.Runtime]
        TensorIOMode: type[tensorrt.TensorIOMode]
        float16: tensorrt.DataType
        float32: tensorrt.DataType

        def nptype(self, trt_type: tensorrt.DataType) -> Any:
            """The numpy type of a TensorRT data type."""

    class TrtModule(TrtNames, Protocol):
        """TrtNames and the version string (which the stubs of 10.13 leave out)."""

        __version__: str

    _STUBS_MATCH: TrtNames = tensorrt  # mypy: the real module provides every name above, with these types

    Builder = tensorrt.Builder
    BuilderConfig = tensorrt.IBuilderConfig
    Network = tensorrt.INetworkDefinition
    Layer = tensorrt.ILayer
    Engine = tensorrt.ICudaEngine
    Context = tensorrt.IExecutionContext
    RuntimeT = tensorrt.Runtime
    Parser = tensorrt.OnnxParser
    Logger = tensorrt.ILogger
else:
    TrtModule = Builder = BuilderConfig = Network = Layer = Engine = Context = RuntimeT = Parser = Logger = Any


def legacy(obj: Any) -> Any:
    """`obj` untyped, for an API of another TensorRT version than the stubs' (the 8.x bindings, say)."""
    return obj
