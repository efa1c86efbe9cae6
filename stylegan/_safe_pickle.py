"""A restricted unpickler for NVlabs network pickles that executes nothing from the file.

NVlabs pickles (stylegan2-ada-pytorch, stylegan3, and the ones DragGAN downloads)
store each network as `torch_utils.persistence._reconstruct_persistent_obj(meta)`
where `meta = dict(type='class', version=..., module_src=<python source>,
class_name=..., state=<the module's __dict__>)`; the official loader `exec`s
`module_src`. Legacy TensorFlow pickles store `dnnlib.tflib.network.Network`
objects whose state holds numpy variables and, again, source code.

`SafeUnpickler` resolves only an allowlist of globals:

* tensor and storage rebuild functions (`torch._utils._rebuild_tensor_v2`,
  `_rebuild_parameter[_with_state]`, `torch.storage._load_from_bytes`, whose
  bytes are a legacy `torch.save` of one storage and are read back with
  `torch.load(weights_only=True)`), `torch.Size`, torch dtypes;
* `collections.OrderedDict`, `builtins.set/frozenset/bytearray/slice/complex`,
  `_codecs.encode` limited to (str, 'latin1') (how protocol 2 stores bytes);
* numpy array, dtype and scalar reconstruction;
* `dnnlib.util.EasyDict` (mapped to a plain dict subclass of ours);
* the persistence hook, replaced by `_record_persistent_obj`, which keeps the
  class name, init args/kwargs and state and never looks at `module_src`;
* the TF `Network` class, replaced by `TFNetworkRecord`, which keeps the state.

Any other global (`os.system`, `builtins.eval`, `subprocess.Popen`, ...) raises
`UnsafePickleError` before anything is called, and persistent ids are refused.
"""

from __future__ import annotations

import collections
import io
import pickle
from typing import Any, BinaryIO

import numpy as np
import torch

try:  # numpy >= 2 moved the private module; pickles may name either.
    from numpy._core import multiarray as _np_multiarray
except ImportError:  # pragma: no cover - numpy < 2
    from numpy.core import multiarray as _np_multiarray


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references a global outside the allowlist (nothing was executed)."""

    def __init__(self, global_name: str):
        super().__init__(global_name)
        self.global_name = global_name


class EasyDict(dict):
    """Stand-in for `dnnlib.util.EasyDict`: a plain dict (attribute access not needed)."""


class PersistentRecord:
    """What `_reconstruct_persistent_obj(meta)` would have built, as inert data.

    Attributes:
        class_name: class name inside the pickled module, e.g. 'Generator'.
        version: persistence format version.
        state: the module's `__dict__` (`_parameters`, `_buffers`, `_modules`, ...).
        init_args: tuple of positional constructor arguments.
        init_kwargs: dict of keyword constructor arguments.
    """

    def __init__(self, class_name: str, version: Any, state: dict):
        self.class_name = class_name
        self.version = version
        self.state = state
        self.init_args = tuple(state.get("_init_args", ()) or ())
        self.init_kwargs = dict(state.get("_init_kwargs", {}) or {})

    def __repr__(self) -> str:
        return f"PersistentRecord({self.class_name!r})"


class TFNetworkRecord:
    """Stand-in for `dnnlib.tflib.network.Network` of legacy TensorFlow pickles.

    Only the state is kept: `name`, `static_kwargs`, `components` (dict of
    sub-networks) and `variables` (list of (name, numpy array)).
    """

    def __init__(self, *args, **kwargs):
        self.state: dict = {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("TensorFlow network state is not a dict")
        self.state = state

    def __repr__(self) -> str:
        return f"TFNetworkRecord({self.state.get('name')!r})"


def _record_persistent_obj(meta: Any) -> PersistentRecord:
    """Replacement for `torch_utils.persistence._reconstruct_persistent_obj`: records, never executes."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise pickle.UnpicklingError("persistent object metadata is not a {'type': 'class', ...} dict")
    state = meta.get("state")
    class_name = meta.get("class_name")
    if not isinstance(state, dict) or not isinstance(class_name, str):
        raise pickle.UnpicklingError("persistent object metadata lacks 'class_name' or 'state'")
    return PersistentRecord(class_name, meta.get("version"), state)


def _load_storage_from_bytes(data: Any):
    """Safe `torch.storage._load_from_bytes`: the bytes are a legacy torch.save of one storage."""
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("storage payload is not bytes")
    storage = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError(f"storage payload holds {type(storage).__name__}, not a storage")
    return storage


def _check_hooks(hooks: Any) -> None:
    if hooks:  # backward hooks would be callables, i.e. code
        raise pickle.UnpicklingError("tensor carries backward hooks")


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """Safe `torch._utils._rebuild_tensor_v2` (checks types, ignores grad flags and metadata)."""
    if not isinstance(storage, torch.TypedStorage):
        raise pickle.UnpicklingError("tensor storage is not a torch storage")
    _check_hooks(backward_hooks)
    t = torch.empty((0,), dtype=storage.dtype)
    return t.set_(
        storage._untyped_storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride)
    )


def _rebuild_tensor(storage, storage_offset, size, stride):
    """Safe `torch._utils._rebuild_tensor` (older pickles)."""
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    """Safe `torch._utils._rebuild_parameter[_with_state]`: returns the plain tensor."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("parameter data is not a tensor")
    _check_hooks(backward_hooks)
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    """Safe `torch._tensor._rebuild_from_type_v2`, limited to our rebuild functions and plain tensors."""
    if func not in (_rebuild_tensor_v2, _rebuild_tensor, _rebuild_parameter) or new_type not in (
        torch.Tensor,
        torch.nn.Parameter,
    ):
        raise pickle.UnpicklingError("unsupported tensor subclass reconstruction")
    return func(*args)


def _latin1_encode(text: Any, encoding: str = "utf-8") -> bytes:
    """Safe `_codecs.encode`: protocol-2 pickles store bytes as encode(str, 'latin1')."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("only _codecs.encode(str, 'latin1') is allowed")
    return text.encode("latin1")


def _torch_dtype(name: str):
    value = getattr(torch, name, None)
    return value if isinstance(value, torch.dtype) else None


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("_codecs", "encode"): _latin1_encode,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("torch", "Size"): torch.Size,
    ("torch", "Tensor"): torch.Tensor,
    ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _np_multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _np_multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _np_multiarray.scalar,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _record_persistent_obj,
    ("dnnlib.tflib.network", "Network"): TFNetworkRecord,
}

# numpy scalar types that numpy >= 1.25 pickles as globals (np.float64(...) etc.).
for _name in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool_"):
    if hasattr(np, _name):
        _ALLOWED[("numpy", _name)] = getattr(np, _name)


class SafeUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` that resolves only the allowlisted globals above."""

    def find_class(self, module: str, name: str) -> Any:
        value = _ALLOWED.get((module, name))
        if value is None and module == "torch":
            value = _torch_dtype(name)  # torch.float32 etc. pickle as globals
        if value is None:
            raise UnsafePickleError(f"{module}.{name}")
        return value

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed in a raw pickle")


def safe_load(f: BinaryIO) -> Any:
    """Unpickles one object from `f` with `SafeUnpickler`.

    Raises:
        UnsafePickleError: a global outside the allowlist was referenced.
        pickle.UnpicklingError, EOFError, ValueError, ...: the stream is corrupt.
    """
    return SafeUnpickler(f).load()
