"""Training state as JSON plus named tensors: no pickle unless asked for, and then only loaded safely.

``encode`` walks a state tree (dicts, lists, tuples, numbers, strings, tensors)
and returns a JSON value and the tensors found in it, each replaced by a
reference to its name (its key path). ``decode`` is the inverse. The markers:

- ``{"__tensor__": NAME}``: a tensor stored under NAME (in ``state.safetensors``);
- ``{"__tuple__": [...]}``: a tuple;
- ``{"__dict__": [[KEY, VALUE], ...]}``: a dict whose keys are not all strings
  (or that uses a marker name as a key);
- ``{"__float__": "nan" | "inf" | "-inf"}``: a float JSON cannot hold;
- ``{"__int__": "DIGITS"}``: an integer beyond 64 bits;
- ``{"__bytes__": BASE64}``: bytes;
- ``{"__pickle__": BASE64}``: an object stored with ``torch.save`` because the
  user allowed it; loaded only with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import base64
import io
import math
import sys
from typing import Any, Mapping

import numpy as np

from ._safetensors import is_tensor
from .errors import EXIT_CORRUPT, EXIT_USAGE, ResumableError

__all__ = ["encode", "decode", "MARKERS"]

MARKERS = frozenset({"__tensor__", "__tuple__", "__dict__", "__float__", "__int__", "__bytes__", "__pickle__"})
_MAX_DEPTH = 60  # the store's manifests hold 64 levels; state.json is kept to the same spirit


def _float(value: float) -> Any:
    if math.isnan(value):
        return {"__float__": "nan"}
    if math.isinf(value):
        return {"__float__": "inf" if value > 0 else "-inf"}
    return value


class _Encoder:
    def __init__(self, allow_pickle: bool) -> None:
        self.allow_pickle = allow_pickle
        self.tensors: dict[str, Any] = {}

    def name_for(self, path: str) -> str:
        name = path or "tensor"
        if name in self.tensors:
            n = 2
            while f"{name}#{n}" in self.tensors:
                n += 1
            name = f"{name}#{n}"
        return name

    def encode(self, value: Any, path: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise ResumableError(EXIT_USAGE, f"state at {path or 'the top'} is nested more than {_MAX_DEPTH} levels deep")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return value if -(2**63) <= value < 2**64 else {"__int__": str(value)}
        if isinstance(value, float):
            return _float(value)
        if is_tensor(value):
            name = self.name_for(path)
            self.tensors[name] = value
            return {"__tensor__": name}
        if isinstance(value, np.generic):
            return self.encode(value.item(), path, depth)
        if isinstance(value, (bytes, bytearray)):
            return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
        if isinstance(value, Mapping):
            keys = list(value.keys())
            if all(isinstance(k, str) for k in keys) and not any(k in MARKERS for k in keys):
                return {k: self.encode(value[k], f"{path}.{k}" if path else k, depth + 1) for k in keys}
            pairs = []
            for k in keys:
                child = f"{path}.{k}" if path else str(k)
                pairs.append([self.encode(k, child + ".key", depth + 2), self.encode(value[k], child, depth + 2)])
            return {"__dict__": pairs}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{path}.{i}" if path else str(i), depth + 2)
                                  for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{path}.{i}" if path else str(i), depth + 1) for i, v in enumerate(value)]
        if self.allow_pickle:
            import torch
            buffer = io.BytesIO()
            torch.save(value, buffer)
            return {"__pickle__": base64.b64encode(buffer.getvalue()).decode("ascii")}
        raise TypeError(
            f"state key {path or '(top level)'!r} holds a {type(value).__module__}.{type(value).__qualname__}, "
            "which JSON cannot hold and which is not a tensor: convert it to numbers, strings, lists, dicts or "
            "tensors, leave it out, or allow storing it pickled (allow_pickle=True; it is then loaded only with "
            "torch.load(weights_only=True))")


def encode(state: Any, *, allow_pickle: bool = False) -> tuple[Any, dict[str, Any]]:
    """Encodes ``state`` as a JSON value and the tensors found in it (by key path).

    Raises:
        TypeError: naming the key of a value that is neither JSON nor a tensor
            (unless ``allow_pickle``).
    """
    encoder = _Encoder(allow_pickle)
    return encoder.encode(state, "", 0), encoder.tensors


def _bad(what: str) -> ResumableError:
    return ResumableError(EXIT_CORRUPT, f"state.json: {what}")


def decode(value: Any, tensors: Mapping[str, Any], *, allow_pickle: bool = False, _depth: int = 0) -> Any:
    """Rebuilds the state ``encode`` encoded, taking tensors from ``tensors``.

    Raises:
        ResumableError: 65 for a reference to a missing tensor or a malformed
            marker; 64 for a pickled object when ``allow_pickle`` is false.
    """
    if _depth > 2 * _MAX_DEPTH + 8:
        raise _bad("nested too deeply")
    if isinstance(value, list):
        return [decode(v, tensors, allow_pickle=allow_pickle, _depth=_depth + 1) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, inner), = value.items()
        if key == "__tensor__":
            if not isinstance(inner, str) or inner not in tensors:
                raise _bad(f"refers to tensor {inner!r}, which state.safetensors does not hold")
            return tensors[inner]
        if key == "__tuple__":
            if not isinstance(inner, list):
                raise _bad("a __tuple__ that is not a list")
            return tuple(decode(v, tensors, allow_pickle=allow_pickle, _depth=_depth + 1) for v in inner)
        if key == "__dict__":
            if not isinstance(inner, list) or not all(isinstance(p, list) and len(p) == 2 for p in inner):
                raise _bad("a __dict__ that is not a list of pairs")
            result = {}
            for k, v in inner:
                k = decode(k, tensors, allow_pickle=allow_pickle, _depth=_depth + 1)
                try:
                    result[k] = decode(v, tensors, allow_pickle=allow_pickle, _depth=_depth + 1)
                except TypeError:
                    raise _bad(f"a __dict__ key {k!r} that cannot be a key") from None
            return result
        if key == "__float__":
            if inner not in ("nan", "inf", "-inf"):
                raise _bad(f"a __float__ of {inner!r}")
            return float(inner)
        if key == "__int__":
            if not isinstance(inner, str) or not inner.lstrip("-").isdigit() or len(inner) > 4300:
                raise _bad(f"an __int__ of {inner!r}")
            return int(inner)
        if key == "__bytes__":
            try:
                return base64.b64decode(inner, validate=True)
            except (ValueError, TypeError):
                raise _bad("a __bytes__ that is not base64") from None
        if key == "__pickle__":
            if not allow_pickle:
                raise ResumableError(
                    EXIT_USAGE, "state.json holds a pickled object; it is loaded only when allowed "
                    "(allow_pickle=True), and then only with torch.load(weights_only=True)")
            return _load_pickled(inner)
    return {k: decode(v, tensors, allow_pickle=allow_pickle, _depth=_depth + 1) for k, v in value.items()}


def _load_pickled(encoded: Any) -> Any:
    """An object stored with ``torch.save``, loaded with ``weights_only=True`` (never a full unpickler)."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, TypeError):
        raise _bad("a __pickle__ that is not base64") from None
    torch = sys.modules.get("torch")
    if torch is None:
        import torch
    try:
        return torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except Exception as error:  # torch's UnpicklingError and friends: the object is refused, never run
        raise ResumableError(
            EXIT_CORRUPT, f"state.json: a pickled object was refused by torch.load(weights_only=True): "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
