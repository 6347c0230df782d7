"""A restricted unpickler for checkpoints that pickle whole models (the authors' `torch.save({'model': ...})`).

Nothing named in the file is imported or called. A class that the file names is admitted only when it is on
the list below, and then becomes an inert `Record` (a namespace holding the pickled state) instead of the real
class; tensors are rebuilt by torch's own storage reader and a small rebuild function of ours; a few plain
containers are real. Any other name is refused with an error that names it.
"""
from __future__ import annotations

import _compat_pickle
import collections
import pickle
import types
from pathlib import Path
from typing import Any

import torch

# Classes of the authors' pickled model and of the modules it holds; each becomes an inert Record.
_OPENPIFPAF = {
    "openpifpaf.network.nets": ("Shell",),
    "openpifpaf.network.basenetworks": ("BaseNetworkWithSkips", "BaseNetwork"),
    "openpifpaf.network.heads": ("CompositeFieldFused", "PanopticDeeplabHead", "IntensityMeta",
                                 "PanopticDeeplabMeta", "CifPanBallCollector", "CifPanBallCentCollector",
                                 "CifPanCollector", "CifPanCentCollector"),
    "openpifpaf.panoptic_deeplab.decoder.panoptic_deeplab": ("SinglePanopticDeepLabDecoder",
                                                             "SinglePanopticDeepLabHead"),
    "openpifpaf.panoptic_deeplab.decoder.aspp": ("ASPP", "ASPPConv", "ASPPPooling"),
}
_TORCH_MODULES = {
    "torch.nn.modules.conv": ("Conv2d",),
    "torch.nn.modules.batchnorm": ("BatchNorm2d",),
    "torch.nn.modules.activation": ("ReLU",),
    "torch.nn.modules.container": ("Sequential", "ModuleList", "ModuleDict"),
    "torch.nn.modules.dropout": ("Dropout", "Dropout2d"),
    "torch.nn.modules.pixelshuffle": ("PixelShuffle",),
    "torch.nn.modules.pooling": ("AdaptiveAvgPool2d", "MaxPool2d"),
    "torchvision.models.resnet": ("Bottleneck", "BasicBlock"),
}
# Values of the training metadata (argparse namespace, devices, numpy arrays in the head metas): inert too.
_METADATA = {
    "argparse": ("Namespace",),
    "torch": ("device",),
    "numpy": ("ndarray", "dtype"),
    "numpy.core.multiarray": ("_reconstruct", "scalar"),
    "numpy._core.multiarray": ("_reconstruct", "scalar"),
}
ADMITTED: frozenset[str] = frozenset(f"{mod}.{name}" for table in (_OPENPIFPAF, _TORCH_MODULES, _METADATA)
                                     for mod, names in table.items() for name in names)


class Record:
    """An inert stand-in for an object of an admitted class: the pickled state as attributes, no behaviour."""

    qualified_name = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> "Record":
        obj = super().__new__(cls)
        obj.__dict__["_args"] = args
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        """Keep the state: a dict becomes attributes; (dict, slots) both; anything else is kept as `_state`."""
        if isinstance(state, tuple) and len(state) == 2 and all(s is None or isinstance(s, dict) for s in state):
            for part in state:
                self.__dict__.update({str(k): v for k, v in (part or {}).items()})
        elif isinstance(state, dict):
            self.__dict__.update({str(k): v for k, v in state.items()})
        else:
            self.__dict__["_state"] = state

    def __repr__(self) -> str:
        return f"<record of {self.qualified_name}>"


class ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle names something outside the admitted list; `name` is its module.qualname."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_ignored: Any) -> torch.Tensor:
    """A tensor over a storage from torch's reader; hooks and metadata in the pickle are ignored."""
    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError(f"tensor data is a {type(storage).__name__}, not a storage")
    if not (isinstance(offset, int) and _ints(size) and _ints(stride)):
        raise pickle.UnpicklingError("tensor geometry is not integers")
    return torch._utils._rebuild_tensor(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data: Any, *_ignored: Any) -> torch.Tensor:
    """A parameter's tensor (requires_grad, hooks and state in the pickle are ignored)."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError(f"parameter data is a {type(data).__name__}, not a tensor")
    return data


def _latin1(text: Any, encoding: str = "latin1") -> bytes:
    """Protocol-2 pickles store bytes as codecs.encode(text, 'latin1'); only that is allowed."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("codecs.encode is admitted for latin1 text only")
    return text.encode("latin1")


def _ints(values: Any) -> bool:
    return isinstance(values, (tuple, list)) and all(isinstance(v, int) for v in values)


_REAL: dict[str, Any] = {
    "collections.OrderedDict": collections.OrderedDict,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "_codecs.encode": _latin1,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
}


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose find_class admits only the names above (records or our own functions)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._records: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        """The admitted stand-in for module.name; ForbiddenGlobal for anything else."""
        if (module, name) in _compat_pickle.NAME_MAPPING:  # protocol-2 files name Python 2 modules
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        qualified = f"{module}.{name}"
        if qualified in _REAL:
            return _REAL[qualified]
        if qualified not in ADMITTED:
            raise ForbiddenGlobal(qualified)
        if qualified not in self._records:
            self._records[qualified] = type(name, (Record,), {"qualified_name": qualified})
        return self._records[qualified]


def _load(file: Any, **kwargs: Any) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


# What torch.load needs of a pickle module: Unpickler (subclassed by torch for its storages) and load.
PICKLE_MODULE = types.SimpleNamespace(__name__="dsl_deploy.restricted_pickle", Unpickler=RestrictedUnpickler,
                                      load=_load)


def restricted_load(path: str | Path) -> Any:
    """torch.load through the restricted unpickler (zip or legacy format), tensors on the CPU."""
    return torch.load(Path(path), map_location="cpu", pickle_module=PICKLE_MODULE, weights_only=False)

