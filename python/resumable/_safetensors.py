"""The safetensors format in pure Python: a writer, and a validating, memory-mapping reader.

Files written here open unchanged with the ``safetensors`` package and in the
``resumable`` store; the reader checks what the store's reader checks (header
size, known dtypes, shapes against byte lengths with overflow checks, offsets
contiguous and inside the file) before it maps a byte.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import stat
import struct
import sys
from typing import Any, Mapping

import numpy as np

from .errors import EXIT_CORRUPT, EXIT_NOT_FOUND, EXIT_USAGE, ResumableError

__all__ = ["write_file", "read_file", "is_tensor", "DTYPE_NAMES"]

MAX_HEADER_BYTES = 100_000_000

#: safetensors dtype → bytes per element.
DTYPE_SIZES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1,
    "U64": 8, "U32": 4, "U16": 2, "U8": 1,
    "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "C64": 8,
}
DTYPE_NAMES = tuple(DTYPE_SIZES)

_NUMPY = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"), "C64": np.dtype("<c8"),
}
_ML_DTYPES = {"BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}


def _numpy_dtype(name: str, tensor: str, path: str) -> np.dtype[Any]:
    if name in _NUMPY:
        return _NUMPY[name]
    try:
        import ml_dtypes  # type: ignore[import-not-found]
    except ImportError:
        raise ResumableError(
            EXIT_USAGE, f"{path}: tensor {tensor!r} is {name}, which NumPy holds only with the ml_dtypes package: "
            f"pip install ml_dtypes, or load with framework='pt'") from None
    return np.dtype(getattr(ml_dtypes, _ML_DTYPES[name]))


def _torch_dtypes() -> dict[str, Any]:
    import torch
    table = {
        "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
        "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
        "BOOL": torch.bool, "C64": torch.complex64,
    }
    for name, attr in (("U16", "uint16"), ("U32", "uint32"), ("U64", "uint64"),
                       ("F8_E4M3", "float8_e4m3fn"), ("F8_E5M2", "float8_e5m2")):
        if hasattr(torch, attr):
            table[name] = getattr(torch, attr)
    return table


def is_tensor(value: Any) -> bool:
    """Whether ``value`` is a NumPy array (of a numeric dtype) or a torch tensor."""
    if isinstance(value, np.ndarray):
        return value.dtype.kind != "O"
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _dtype_name_of_numpy(array: np.ndarray[Any, Any], tensor: str) -> str:
    for name, dtype in _NUMPY.items():
        if array.dtype == dtype or array.dtype == dtype.newbyteorder("="):
            return name
    for name, attr in _ML_DTYPES.items():
        if array.dtype.name == attr:
            return name
    raise ResumableError(
        EXIT_USAGE, f"tensor {tensor!r} has dtype {array.dtype}, which safetensors cannot hold "
        f"(it holds {', '.join(DTYPE_NAMES)}); convert it first")


def _as_bytes(value: Any, tensor: str) -> tuple[str, list[int], memoryview]:
    """The dtype name, the shape and a little-endian byte view of a tensor (copied only when needed)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        t = value.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.is_sparse or t.layout != torch.strided:
            raise ResumableError(EXIT_USAGE, f"tensor {tensor!r} is {t.layout}; only dense tensors can be saved (call .to_dense())")
        names = {v: k for k, v in _torch_dtypes().items()}
        if t.dtype not in names:
            raise ResumableError(
                EXIT_USAGE, f"tensor {tensor!r} has dtype {t.dtype}, which safetensors cannot hold "
                f"(it holds {', '.join(DTYPE_NAMES)}); convert it first")
        shape = list(t.shape)
        t = t.contiguous()
        if t.numel() == 0:
            return names[t.dtype], shape, memoryview(b"")
        raw = t.reshape(-1).view(torch.uint8).numpy()
        return names[t.dtype], shape, memoryview(raw).cast("B")
    if isinstance(value, np.ndarray) or np.isscalar(value):
        array = np.asarray(value)
        name = _dtype_name_of_numpy(array, tensor)
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        shape = list(array.shape)  # before ascontiguousarray, which makes a 0-d array 1-d
        array = np.ascontiguousarray(array)
        return name, shape, memoryview(array.reshape(-1).view(np.uint8))
    raise ResumableError(EXIT_USAGE, f"tensor {tensor!r} is a {type(value).__name__}, not a NumPy array or torch tensor")


def write_file(path: str | os.PathLike[str], tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None,
               *, dir_fd: int | None = None) -> int:
    """Writes ``tensors`` to a new safetensors file at ``path`` and returns its size.

    The file must not exist (it is created exclusively, never through a
    symbolic link). Tensors are laid out in name order; the header is padded
    to 8 bytes. Nothing is fsynced here: ``resumable commit`` makes the file
    durable when it commits it.
    """
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    views: list[memoryview] = []
    offset = 0
    for name in sorted(tensors):
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ResumableError(EXIT_USAGE, f"tensor name {name!r} is not allowed: names are non-empty strings "
                                             "other than '__metadata__'")
        dtype, shape, view = _as_bytes(tensors[name], name)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + view.nbytes]}
        offset += view.nbytes
        views.append(view)
    encoded = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o644, dir_fd=dir_fd)
    with os.fdopen(fd, "wb", buffering=0) as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded)
        for view in views:
            written = 0
            while written < view.nbytes:
                written += f.write(view[written:written + (1 << 30)])
    return 8 + len(encoded) + offset


def open_regular(path: str, *, dir_fd: int | None = None) -> int:
    """Opens a regular file for reading, never through a symbolic link and never blocking on a FIFO."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        raise ResumableError(EXIT_NOT_FOUND, f"{path}: the file is missing") from None
    except OSError as error:
        if error.errno == 40:  # ELOOP: a symbolic link
            raise ResumableError(EXIT_CORRUPT, f"{path} is a symbolic link; checkpoint files must be regular files") from None
        raise ResumableError(EXIT_CORRUPT, f"{path}: cannot open it ({error.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ResumableError(EXIT_CORRUPT, f"{path} is not a regular file; checkpoint files must be regular files")
    os.set_blocking(fd, True)
    return fd


def _corrupt(path: str, what: str) -> ResumableError:
    return ResumableError(EXIT_CORRUPT, f"{path}: not a valid safetensors file: {what}; "
                                        "`resumable verify` on its checkpoint says more")


def read_file(path: str, *, framework: str = "np", device: str = "cpu") -> dict[str, Any]:
    """The tensors of a safetensors file, validated, then memory-mapped (copy-on-write, so writable).

    ``framework="np"`` gives NumPy arrays (BF16 and FP8 through ``ml_dtypes``),
    ``"pt"`` torch tensors on ``device`` (zero-copy on the CPU).

    Raises:
        ResumableError: 65 for a damaged or hostile file, 66 when it is missing.
    """
    if framework not in ("np", "pt"):
        raise ResumableError(EXIT_USAGE, f"framework must be 'np' or 'pt', not {framework!r}")
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size < 8:
            raise _corrupt(path, f"it is {size} bytes long, shorter than its 8-byte header length")
        header_length = struct.unpack("<Q", os.pread(fd, 8, 0))[0]
        if header_length > MAX_HEADER_BYTES:
            raise _corrupt(path, f"its header claims {header_length} bytes, more than the {MAX_HEADER_BYTES} allowed")
        if 8 + header_length > size:
            raise _corrupt(path, f"its header claims {header_length} bytes but the file has {size - 8} after the length")
        raw = os.pread(fd, header_length, 8)
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise _corrupt(path, f"its header is not JSON ({error})") from None
        if not isinstance(header, dict):
            raise _corrupt(path, "its header is not a JSON object")
        data_start = 8 + header_length
        data_size = size - data_start
        entries = []
        for name, info in header.items():
            if name == "__metadata__":
                continue
            entries.append(_validated_entry(path, name, info, data_size))
        entries.sort(key=lambda e: e[3])
        position = 0
        for name, _, _, begin, end in entries:
            if begin != position:
                raise _corrupt(path, f"tensor {name!r} starts at byte {begin} of the data, expected {position} "
                                     "(tensors must be contiguous and must not overlap)")
            position = end
        if position != data_size:
            raise _corrupt(path, f"the tensors end at byte {position} of the data but the file holds {data_size}")
        mapped = mmap.mmap(fd, 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE) if size > data_start else None
    finally:
        os.close(fd)
    if framework == "np":
        result: dict[str, Any] = {}
        for name, dtype_name, shape, begin, end in entries:
            dtype = _numpy_dtype(dtype_name, name, path)
            if end == begin or mapped is None:
                result[name] = np.zeros(shape, dtype)
            else:
                result[name] = np.frombuffer(mapped, dtype=dtype, count=(end - begin) // dtype.itemsize,
                                             offset=data_start + begin).reshape(shape)
        return result
    import torch
    table = _torch_dtypes()
    tensors: dict[str, Any] = {}
    for name, dtype_name, shape, begin, end in entries:
        if dtype_name not in table:
            raise ResumableError(EXIT_USAGE, f"{path}: tensor {name!r} is {dtype_name}, which this torch "
                                             f"({torch.__version__}) has no dtype for; load with framework='np'")
        dtype = table[dtype_name]
        if end == begin or mapped is None:
            t = torch.zeros(shape, dtype=dtype)
        else:
            t = torch.frombuffer(mapped, dtype=dtype, count=(end - begin) // DTYPE_SIZES[dtype_name],
                                 offset=data_start + begin).reshape(shape)
        tensors[name] = t if device == "cpu" else t.to(device)
    return tensors


def _validated_entry(path: str, name: str, info: Any, data_size: int) -> tuple[str, str, list[int], int, int]:
    if not isinstance(info, dict):
        raise _corrupt(path, f"the entry of tensor {name!r} is not an object")
    dtype = info.get("dtype")
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise _corrupt(path, f"tensor {name!r} has an unknown dtype {dtype!r}")
    shape = info.get("shape")
    if not isinstance(shape, list) or len(shape) > 64 or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**62 for d in shape):
        raise _corrupt(path, f"tensor {name!r} has an invalid shape {shape!r}")
    offsets = info.get("data_offsets")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
        raise _corrupt(path, f"tensor {name!r} has invalid data_offsets {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        raise _corrupt(path, f"tensor {name!r} lies at bytes {begin}..{end}, outside the {data_size} bytes of data")
    count = math.prod(shape)
    if count * DTYPE_SIZES[dtype] != end - begin:
        raise _corrupt(path, f"tensor {name!r} is {dtype} of shape {shape} ({count * DTYPE_SIZES[dtype]} bytes) "
                             f"but holds {end - begin} bytes")
    return name, dtype, shape, begin, end
