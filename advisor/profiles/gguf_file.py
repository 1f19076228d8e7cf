"""Read what a GGUF file holds without loading its weights: tensor types and sizes,
whole-file bits/weight, and the architecture facts the memory model needs.

The header is parsed by our own bounded reader (``struct`` over ``os.pread``), never by
mapping the file: every count and length is checked against the bytes the file really
has and against fixed caps *before* anything is read or allocated, so a hostile header
(an array claiming 2^40 elements, a string longer than the file, a FIFO named
``x.gguf``) is refused in one line instead of exhausting memory or blocking. The checks
follow llama.cpp's own loader (``ggml/src/gguf.cpp``: dimension, type, block and
offset rules), so a file this reader accepts is one llama.cpp would accept too.

Layout (GGUF v2/v3, little-endian; a byte-swapped file is read like gguf-py does)::

    magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
    kv_count x   (key: string, value_type u32, value)
    tensor_count x (name: string, n_dims u32, dims u64[n_dims], ggml_type u32, offset u64)
    padding to ``general.alignment`` | tensor data

A string is a u64 byte length and that many UTF-8 bytes; an array value is an element
type u32, a u64 count and the elements.
"""

from __future__ import annotations

import errno
import math
import os
import stat
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.profiles.formats import GGML_TYPE_SIZES

__all__ = [
    "GGML_TYPE_NAMES",
    "GGUF_MAGIC",
    "LLAMA_FILE_TYPE_NAMES",
    "GGUFDamagedError",
    "GGUFError",
    "GGUFHeader",
    "GGUFInfo",
    "GGUFNotAModelError",
    "GGUFTensor",
    "GGUFUnreadableError",
    "read_gguf",
    "read_gguf_header",
]

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)  # v1 used 32-bit counts; llama.cpp dropped it too

# Caps, each far above any real file (largest real headers, e.g. Gemma's 262k-token
# vocabulary with its merges, are ~16 MB) and low enough that the worst case stays small.
MAX_HEADER_BYTES = 64 * 2**20  # everything before the tensor data
MAX_STRING_BYTES = 16 * 2**20  # one string (chat templates are ~10 KB)
MAX_RETAINED_STRING_BYTES = 32 * 2**20  # all scalar strings kept in ``metadata``
MAX_KEY_BYTES = 1024  # metadata keys are short dotted names
MAX_KV_COUNT = 65_536  # real files carry ~30-60
MAX_TENSOR_COUNT = 262_144  # an unfused 256-expert MoE has ~50k
MAX_TENSOR_NAME_BYTES = 63  # GGML_MAX_NAME is 64 with the terminating NUL
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_ALIGNMENT = 2**20  # llama.cpp refuses larger alignments (padding as a memory bomb)
DEFAULT_ALIGNMENT = 32
# Numeric arrays up to this length are kept as lists (per-layer values); longer ones
# (token scores and types) are kept as their length, like arrays of strings, so the
# Python objects made for one header stay bounded (~40 MB worst case).
MAX_LISTED_ARRAY = 65_536
MAX_LISTED_ELEMENTS = 2**20
INT64_LIMIT = 2**63  # ggml counts elements in int64_t

# GGML tensor types by their on-disk id (ggml.h ``enum ggml_type``; ids 4, 5 and 31-33
# were removed upstream and are refused). Sizes come from formats.GGML_TYPE_SIZES,
# plus the plain integer / f64 types and the newest block types it does not list.
GGML_TYPE_NAMES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K",
    16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S",
    22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
    29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4", 40: "NVFP4", 41: "Q1_0",
}  # fmt: skip
_EXTRA_TYPE_SIZES: dict[str, tuple[int, int]] = {
    "I8": (1, 1),
    "I16": (1, 2),
    "I32": (1, 4),
    "I64": (1, 8),
    "F64": (1, 8),
    "NVFP4": (64, 4 + 32),  # 64 FP4 weights + 4 FP8 scales per block
    "Q1_0": (128, 2 + 16),
}
_TYPE_SIZES: dict[str, tuple[int, int]] = {**_EXTRA_TYPE_SIZES, **GGML_TYPE_SIZES}

# llama.cpp file types (llama.h ``enum llama_ftype``, without the MOSTLY_ prefix).
LLAMA_FILE_TYPE_NAMES: dict[int, str] = {
    0: "ALL_F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
    16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
    22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
    28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 1024: "GUESSED",
}  # fmt: skip

# GGUF metadata value types: id -> (name, struct code, bytes); 8 string, 9 array.
_STRING, _ARRAY, _BOOL = 8, 9, 7
_SCALARS: dict[int, tuple[str, str, int]] = {
    0: ("u8", "B", 1),
    1: ("i8", "b", 1),
    2: ("u16", "H", 2),
    3: ("i16", "h", 2),
    4: ("u32", "I", 4),
    5: ("i32", "i", 4),
    6: ("f32", "f", 4),
    7: ("bool", "B", 1),
    10: ("u64", "Q", 8),
    11: ("i64", "q", 8),
    12: ("f64", "d", 8),
}
_INTEGER_TYPES = {"u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64"}
# Smallest encoding of one KV pair (8-byte key length, 1-byte key, type, 1-byte value)
# and of one tensor info (name length, n_dims, type, offset): bounds on the counts.
_MIN_KV_BYTES = 8 + 1 + 4 + 1
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8
_CHUNK = 1 << 20

# Architecture integers the memory model reads, with the largest sane value. They are
# checked whenever present (a non-negative integer, or a short array of them), so a
# header saying ``block_count = -30`` or ``"thirty"`` is damaged, not a negative cache.
# Zero is allowed: a pure state-space model has no attention heads.
ARCH_INT_LIMITS: dict[str, int] = {
    "block_count": 65_536,
    "embedding_length": 2**20,
    "feed_forward_length": 2**22,
    "attention.head_count": 65_536,
    "attention.head_count_kv": 65_536,
    "attention.key_length": 65_536,
    "attention.value_length": 65_536,
    "attention.sliding_window": 2**31,
    "context_length": 2**31,
    "expert_count": 65_536,
    "expert_used_count": 65_536,
}


class GGUFError(AdvisorError):
    """The path is missing, not a GGUF file, or a damaged one (one-line message)."""

    status = "damaged"


class GGUFUnreadableError(GGUFError):
    """The path cannot be read as a file: missing, a folder, a FIFO or device,
    permission denied, a symlink loop, an I/O error."""

    status = "unreadable"


class GGUFDamagedError(GGUFError):
    """The file is not a GGUF file, or its header breaks the format or a sane bound."""

    status = "damaged"


class GGUFNotAModelError(GGUFDamagedError):
    """A well-formed GGUF file without weights (llama.cpp's vocabulary-only files)."""

    status = "not a model"


@dataclass(frozen=True)
class GGUFTensor:
    name: str
    type_name: str
    n_elements: int
    n_bytes: int
    shape: tuple[int, ...] = ()  # GGML order: shape[0] is the row length
    data_offset: int = 0  # absolute byte offset of the tensor's data in the file


@dataclass(frozen=True)
class GGUFHeader:
    """Everything the header says, checked against the format and the file size."""

    file_bytes: int
    version: int
    byte_order: str  # "<" little-endian (the norm) or ">" byte-swapped
    alignment: int
    data_offset: int  # where tensor data starts
    metadata: dict[str, Any]
    value_types: dict[str, str]  # key -> "u32", "str", "arr[i32]", ...
    tensors: tuple[GGUFTensor, ...]


@dataclass(frozen=True)
class GGUFInfo:
    """Header facts of one GGUF file.

    ``metadata`` maps each key to a scalar (int, float, bool, str) or, for an array, a
    list of numbers when it has at most ``MAX_LISTED_ARRAY`` elements; longer numeric
    arrays and every array of strings (token lists) are given as their length.
    """

    path: Path
    file_bytes: int
    architecture: str
    name: str
    file_type: str | None
    tensors: tuple[GGUFTensor, ...]
    metadata: dict[str, Any] = field(repr=False)
    version: int = 3
    alignment: int = DEFAULT_ALIGNMENT
    data_offset: int = 0
    value_types: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def tensor_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    @property
    def bits_per_weight(self) -> float:
        """Whole-file bits per weight, from the tensors actually stored."""
        n_params = self.n_params
        if n_params <= 0:  # read_gguf refuses such files; a hand-made GGUFInfo may not
            raise GGUFDamagedError(f"{self.path}: holds no weights, so no bits per weight")
        return self.tensor_bytes * 8 / n_params

    @property
    def type_counts(self) -> dict[str, int]:
        """How many tensors of each GGML type the file holds."""
        return dict(Counter(t.type_name for t in self.tensors))

    def arch_int(self, key: str) -> int | None:
        """An integer architecture field, e.g. ``block_count``; None when absent.

        Values of the keys in :data:`ARCH_INT_LIMITS` were checked on reading (a
        non-negative integer in range); a per-layer array gives its largest value.
        """
        value = self.metadata.get(f"{self.architecture}.{key}")
        kind = self.value_types.get(f"{self.architecture}.{key}", "")
        if kind.startswith("arr["):
            if not isinstance(value, list):  # a long array kept as its length
                raise GGUFDamagedError(
                    f"{self.path}: damaged GGUF header: {self.architecture}.{key} is an "
                    f"array of {value} values, not one number"
                )
            return int(max(value)) if value else None
        if isinstance(value, list):  # hand-made GGUFInfo without value_types
            return int(max(value)) if value else None
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise GGUFDamagedError(
                f"{self.path}: damaged GGUF header: {self.architecture}.{key} should be an "
                f"integer, got {value!r}"
            )
        return value

    def require_arch_int(self, key: str) -> int:
        """Like :meth:`arch_int`, but a missing or zero value is a one-line error."""
        value = self.arch_int(key)
        if not value:
            what = "lacks" if value is None else "has a zero"
            raise GGUFDamagedError(
                f"{self.path}: GGUF header {what} {self.architecture}.{key}, which the "
                "memory model needs"
            )
        return value


# -- opening: regular files only, never blocking ---------------------------------------


def _describe_mode(mode: int) -> str | None:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return (exc.strerror or type(exc).__name__).lower()


def _open_regular(path: Path) -> tuple[int, int]:
    """An fd open for reading and the file's size; refuses anything but a regular file
    before opening it (a FIFO would block ``open``), and again after (a swapped path)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise GGUFUnreadableError(f"no such file: {path}") from None
    except OSError as exc:
        raise GGUFUnreadableError(f"{path}: cannot read it ({_os_reason(exc)})") from None
    kind = _describe_mode(st.st_mode)
    if kind is not None:
        raise GGUFUnreadableError(f"{path} is {kind}, not a GGUF file")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise GGUFUnreadableError(f"no such file: {path}") from None
    except OSError as exc:
        raise GGUFUnreadableError(f"{path}: cannot read it ({_os_reason(exc)})") from None
    try:
        st = os.fstat(fd)
        kind = _describe_mode(st.st_mode)
        if kind is not None:
            raise GGUFUnreadableError(f"{path} is {kind}, not a GGUF file")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


# -- the bounded reader -------------------------------------------------------------------


class _Damaged(Exception):
    """Raised inside the parser; read_gguf turns it into a GGUFDamagedError with the path."""


class _Reader:
    """Sequential reads of the header through a window of at most ~1 MiB (or one
    checked string), each length checked against the file and the caps first."""

    def __init__(self, fd: int, file_bytes: int) -> None:
        self.fd = fd
        self.file_bytes = file_bytes
        self.limit = min(file_bytes, MAX_HEADER_BYTES)
        self.buf = b""
        self.buf_start = 0  # file offset of buf[0]
        self.pos = 0  # file offset of the next unread byte
        self.order = "<"

    def remaining(self) -> int:
        return self.file_bytes - self.pos

    def _fill(self, n: int, what: str) -> int:
        """Make ``n`` bytes from ``pos`` available; return their index in ``buf``."""
        if n > self.limit - self.pos:
            if self.pos + n > self.file_bytes:
                raise _Damaged(
                    f"the file ends inside {what} (at byte {self.file_bytes}): truncated"
                )
            raise _Damaged(f"the header is larger than {MAX_HEADER_BYTES // 2**20} MiB")
        start = self.pos - self.buf_start
        if start + n <= len(self.buf):
            return start
        want = min(max(n, _CHUNK), self.limit - self.pos)
        parts: list[bytes] = []
        got = 0
        while got < want:
            try:
                piece = os.pread(self.fd, want - got, self.pos + got)
            except OSError as exc:
                raise _Damaged(f"cannot read the header ({_os_reason(exc)})") from None
            if not piece:
                raise _Damaged(f"the file ends inside {what}: truncated while reading")
            parts.append(piece)
            got += len(piece)
        self.buf = b"".join(parts)
        self.buf_start = self.pos
        return 0

    def take(self, n: int, what: str) -> bytes:
        at = self._fill(n, what)
        self.pos += n
        return self.buf[at : at + n]

    def skip(self, n: int, what: str) -> None:
        """Step over ``n`` bytes without reading them."""
        if n > self.limit - self.pos:
            self._fill(n, what)  # raises the right error: truncated or header too large
        self.pos += n

    def unpack(self, code: str, size: int, what: str) -> Any:
        at = self._fill(size, what)
        self.pos += size
        return struct.unpack_from(self.order + code, self.buf, at)[0]

    def u32(self, what: str) -> int:
        return int(self.unpack("I", 4, what))

    def u64(self, what: str) -> int:
        return int(self.unpack("Q", 8, what))

    def string_length(self, what: str, cap: int) -> int:
        n = self.u64(f"the length of {what}")
        if n > self.remaining():
            raise _Damaged(
                f"{what} claims {n} bytes, more than the {self.remaining()} left in the file"
            )
        if n > cap:
            raise _Damaged(f"{what} is {n} bytes long (at most {cap})")
        return n

    def text(self, what: str, cap: int, strict: bool) -> str:
        raw = self.take(self.string_length(what, cap), what)
        try:
            return raw.decode("utf-8", errors="strict" if strict else "replace")
        except UnicodeDecodeError:
            raise _Damaged(f"{what} is not UTF-8 text") from None

    def skip_strings(self, count: int, what: str) -> None:
        """Walk ``count`` strings without keeping them (token lists, merges)."""
        order_q = struct.Struct(self.order + "Q")
        for i in range(count):
            at = self._fill(8, what)
            n = order_q.unpack_from(self.buf, at)[0]
            self.pos += 8
            if n > self.remaining():
                raise _Damaged(
                    f"{what}: element {i} claims {n} bytes, more than the "
                    f"{self.remaining()} left in the file"
                )
            if n > MAX_STRING_BYTES:
                raise _Damaged(
                    f"{what}: element {i} is {n} bytes long (at most {MAX_STRING_BYTES})"
                )
            self._fill(n, what)
            self.pos += n


def _align(offset: int, alignment: int) -> int:
    return offset + (-offset % alignment)


class _Budget:
    """What one header may keep in Python objects."""

    def __init__(self) -> None:
        self.listed_elements = 0
        self.string_bytes = 0


def _read_value(r: _Reader, vtype: int, key: str, budget: _Budget) -> tuple[Any, str]:
    """One metadata value and its type name."""
    if vtype in _SCALARS:
        name, code, size = _SCALARS[vtype]
        value = r.unpack(code, size, f"the value of {key!r}")
        return (value != 0 if vtype == _BOOL else value), name
    if vtype == _STRING:
        text = r.text(f"the value of {key!r}", MAX_STRING_BYTES, strict=False)
        budget.string_bytes += len(text)
        if budget.string_bytes > MAX_RETAINED_STRING_BYTES:
            raise _Damaged(
                f"its metadata strings total more than {MAX_RETAINED_STRING_BYTES // 2**20} MiB"
            )
        return text, "str"
    if vtype == _ARRAY:
        etype = r.u32(f"the element type of {key!r}")
        count = r.u64(f"the length of {key!r}")
        if etype == _STRING:
            if count * 8 > r.remaining():
                raise _Damaged(
                    f"key {key!r} claims {count} strings, more than the "
                    f"{r.remaining()} bytes left in the file can hold"
                )
            r.skip_strings(count, f"array {key!r}")
            return count, "arr[str]"
        if etype not in _SCALARS:
            kind = "an array of arrays" if etype == _ARRAY else f"unknown element type {etype}"
            raise _Damaged(f"key {key!r} has {kind}")
        name, code, size = _SCALARS[etype]
        if count * size > r.remaining():
            raise _Damaged(
                f"key {key!r} claims {count} values of {size} bytes, more than the "
                f"{r.remaining()} bytes left in the file"
            )
        if count > MAX_LISTED_ARRAY or budget.listed_elements + count > MAX_LISTED_ELEMENTS:
            r.skip(count * size, f"array {key!r}")  # kept as its length
            return count, f"arr[{name}]"
        budget.listed_elements += count
        raw = r.take(count * size, f"array {key!r}")
        values = list(struct.unpack(f"{r.order}{count}{code}", raw))
        if etype == _BOOL:
            values = [v != 0 for v in values]
        return values, f"arr[{name}]"
    raise _Damaged(f"key {key!r} has unknown value type {vtype}")


def _read_tensor_info(
    r: _Reader, index: int, seen: set[str]
) -> tuple[str, tuple[int, ...], str, int]:
    name = r.text(f"the name of tensor {index}", MAX_TENSOR_NAME_BYTES, strict=True)
    if name in seen:
        raise _Damaged(f"tensor {name!r} appears twice")
    seen.add(name)
    n_dims = r.u32(f"tensor {name!r}")
    if n_dims > MAX_DIMS:
        raise _Damaged(f"tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS})")
    shape = tuple(r.u64(f"tensor {name!r}") for _ in range(n_dims))
    for j, dim in enumerate(shape):
        if dim >= INT64_LIMIT:
            raise _Damaged(f"tensor {name!r} dimension {j} is negative or too large ({dim})")
    n_elements = math.prod(shape)
    if n_elements >= INT64_LIMIT:
        raise _Damaged(f"tensor {name!r} has {n_elements} elements, more than GGML can count")
    type_id = r.u32(f"tensor {name!r}")
    type_name = GGML_TYPE_NAMES.get(type_id)
    if type_name is None:
        raise _Damaged(f"tensor {name!r} has unknown GGML type {type_id}")
    block, _ = _TYPE_SIZES[type_name]
    row = shape[0] if shape else 1
    if row % block:
        raise _Damaged(
            f"tensor {name!r} rows of {row} weights are not whole {type_name} blocks of {block}"
        )
    offset = r.u64(f"tensor {name!r}")
    return name, shape, type_name, offset


def _parse_header(fd: int, file_bytes: int) -> GGUFHeader:
    r = _Reader(fd, file_bytes)
    r.pos = len(GGUF_MAGIC)  # checked by the caller; offsets stay absolute
    version = r.u32("the version")
    if version & 0xFFFF == 0 and version:  # written on a machine of the other byte order
        r.order = ">"
        version = struct.unpack(">I", struct.pack("<I", version))[0]
    if version not in SUPPORTED_VERSIONS:
        raise _Damaged(
            f"GGUF version {version} is not supported (this reader reads versions 2 and 3)"
        )
    n_tensors = r.u64("the tensor count")
    n_kv = r.u64("the key-value count")
    if n_kv > MAX_KV_COUNT or n_kv * _MIN_KV_BYTES > r.remaining():
        raise _Damaged(
            f"it claims {n_kv} key-value pairs, more than its {file_bytes} bytes can hold"
            if n_kv * _MIN_KV_BYTES > r.remaining()
            else f"it claims {n_kv} key-value pairs (at most {MAX_KV_COUNT})"
        )
    if n_tensors > MAX_TENSOR_COUNT or n_tensors * _MIN_TENSOR_INFO_BYTES > r.remaining():
        raise _Damaged(
            f"it claims {n_tensors} tensors, more than its {file_bytes} bytes can hold"
            if n_tensors * _MIN_TENSOR_INFO_BYTES > r.remaining()
            else f"it claims {n_tensors} tensors (at most {MAX_TENSOR_COUNT})"
        )
    metadata: dict[str, Any] = {}
    value_types: dict[str, str] = {}
    budget = _Budget()
    for i in range(n_kv):
        key = r.text(f"key {i}", MAX_KEY_BYTES, strict=True)
        if not key:
            raise _Damaged(f"key {i} is empty")
        if key in metadata:
            raise _Damaged(f"key {key!r} appears twice")
        vtype = r.u32(f"the type of {key!r}")
        metadata[key], value_types[key] = _read_value(r, vtype, key, budget)
    alignment = DEFAULT_ALIGNMENT
    if "general.alignment" in metadata:
        alignment = metadata["general.alignment"]
        if value_types["general.alignment"] != "u32":
            raise _Damaged("general.alignment should be a u32")
        if alignment <= 0 or alignment & (alignment - 1) or alignment > MAX_ALIGNMENT:
            raise _Damaged(
                f"general.alignment {alignment} is not a power of two up to {MAX_ALIGNMENT}"
            )
    infos = []
    seen: set[str] = set()
    for i in range(n_tensors):
        infos.append(_read_tensor_info(r, i, seen))
    data_offset = _align(r.pos, alignment)
    tensors: list[GGUFTensor] = []
    expected = 0  # llama.cpp wants tensors back to back, each padded to the alignment
    for name, shape, type_name, offset in infos:
        if offset != expected:
            raise _Damaged(f"tensor {name!r} starts at data offset {offset}, expected {expected}")
        block, type_size = _TYPE_SIZES[type_name]
        n_elements = math.prod(shape)
        n_bytes = n_elements // block * type_size
        start = data_offset + offset
        if start + n_bytes > file_bytes:
            raise _Damaged(
                f"tensor {name!r} ends at byte {start + n_bytes}, past the end of the "
                f"file ({file_bytes} bytes): truncated"
            )
        expected = _align(offset + n_bytes, alignment)
        tensors.append(GGUFTensor(name, type_name, n_elements, n_bytes, shape, start))
    return GGUFHeader(
        file_bytes=file_bytes,
        version=version,
        byte_order=r.order,
        alignment=alignment,
        data_offset=data_offset,
        metadata=metadata,
        value_types=value_types,
        tensors=tuple(tensors),
    )


def _as_path(path: str | os.PathLike[str]) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if not str(path).strip():  # Path("") would mean the current folder
        raise GGUFUnreadableError("an empty path: give the path of a .gguf file")
    return Path(path).expanduser()


def read_gguf_header(path: str | os.PathLike[str]) -> GGUFHeader:
    """Parse a GGUF header with every bound checked; no model semantics (a vocabulary-only
    file with no tensors is fine here). Raises :class:`GGUFError` in one line."""
    p = _as_path(path)
    fd, file_bytes = _open_regular(p)
    try:
        try:
            magic = os.pread(fd, 4, 0)
        except OSError as exc:
            raise GGUFUnreadableError(f"{p}: cannot read it ({_os_reason(exc)})") from None
        if magic != GGUF_MAGIC:
            why = "it is empty" if not magic else "it does not start with 'GGUF'"
            raise GGUFDamagedError(f"{p} is not a GGUF file ({why})")
        try:
            return _parse_header(fd, file_bytes)
        except _Damaged as exc:
            raise GGUFDamagedError(f"{p}: damaged GGUF header: {exc}") from None
    finally:
        os.close(fd)


def _semantic_checks(header: GGUFHeader) -> None:
    """What the memory model and the listings rely on, beyond the format itself."""
    meta, types = header.metadata, header.value_types
    for key in ("general.architecture", "general.name"):
        if key in meta and types[key] != "str":
            raise _Damaged(f"{key} should be a string, got a {types[key]}")
    if "general.file_type" in meta and types["general.file_type"] not in _INTEGER_TYPES:
        raise _Damaged(
            f"general.file_type should be an integer, got a {types['general.file_type']}"
        )
    arch = meta.get("general.architecture", "unknown")
    for suffix, limit in ARCH_INT_LIMITS.items():
        key = f"{arch}.{suffix}"
        if key not in meta:
            continue
        kind, value = types[key], meta[key]
        element = kind[4:-1] if kind.startswith("arr[") else kind
        if element not in _INTEGER_TYPES:
            raise _Damaged(f"{key} should be an integer, got a {kind}")
        if kind.startswith("arr[") and not isinstance(value, list):
            raise _Damaged(f"{key} is an array of {value} values (at most {MAX_LISTED_ARRAY})")
        for v in value if isinstance(value, list) else [value]:
            if not 0 <= v <= limit:
                raise _Damaged(f"{key} is {v} (it must be between 0 and {limit})")
    heads = meta.get(f"{arch}.attention.head_count")
    kv_heads = meta.get(f"{arch}.attention.head_count_kv")
    scalars = isinstance(heads, int) and isinstance(kv_heads, int)
    if scalars and heads and kv_heads and heads % kv_heads:
        raise _Damaged(
            f"{arch}.attention.head_count {heads} is not a multiple of head_count_kv {kv_heads}"
        )


def read_gguf(path: str | os.PathLike[str]) -> GGUFInfo:
    """Read a GGUF model's header. Raises :class:`GGUFError` with a one-line reason on bad
    input: :class:`GGUFUnreadableError` (missing, not a regular file, no permission) or
    :class:`GGUFDamagedError` (not GGUF, damaged, truncated, no tensors, bad values)."""
    p = _as_path(path)
    header = read_gguf_header(p)
    if sum(t.n_elements for t in header.tensors) == 0:
        what = "no tensors" if not header.tensors else "only empty tensors"
        raise GGUFNotAModelError(
            f"{p} holds {what} (a vocabulary-only GGUF?): not a model, nothing to size"
        )
    try:
        _semantic_checks(header)
    except _Damaged as exc:
        raise GGUFDamagedError(f"{p}: damaged GGUF header: {exc}") from None
    meta = header.metadata
    ftype_value = meta.get("general.file_type")
    file_type = None
    if ftype_value is not None:
        file_type = LLAMA_FILE_TYPE_NAMES.get(ftype_value, str(ftype_value))
    return GGUFInfo(
        path=p,
        file_bytes=header.file_bytes,
        architecture=str(meta.get("general.architecture", "unknown")),
        name=str(meta.get("general.name", p.stem)),
        file_type=file_type,
        tensors=header.tensors,
        metadata=meta,
        version=header.version,
        alignment=header.alignment,
        data_offset=header.data_offset,
        value_types=header.value_types,
    )
