"""Read what a GGUF file holds without loading its weights: tensor types and sizes,
whole-file bits/weight, and the architecture facts the memory model needs."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError

GGUF_MAGIC = b"GGUF"


class GGUFError(AdvisorError):
    """The path is missing, not a GGUF file, or a truncated one."""


@dataclass(frozen=True)
class GGUFTensor:
    name: str
    type_name: str
    n_elements: int
    n_bytes: int


@dataclass(frozen=True)
class GGUFInfo:
    """Header facts of one GGUF file."""

    path: Path
    file_bytes: int
    architecture: str
    name: str
    file_type: str | None
    tensors: tuple[GGUFTensor, ...]
    metadata: dict[str, Any] = field(repr=False)

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def tensor_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    @property
    def bits_per_weight(self) -> float:
        """Whole-file bits per weight, from the tensors actually stored."""
        return self.tensor_bytes * 8 / self.n_params

    @property
    def type_counts(self) -> dict[str, int]:
        """How many tensors of each GGML type the file holds."""
        return dict(Counter(t.type_name for t in self.tensors))

    def arch_int(self, key: str) -> int | None:
        """An integer architecture field, e.g. ``block_count``; None when absent."""
        value = self.metadata.get(f"{self.architecture}.{key}")
        if isinstance(value, list):  # per-layer arrays (e.g. head_count_kv on some models)
            return int(max(value)) if value else None
        return None if value is None else int(value)


def _field_value(reader: Any, key: str) -> Any:
    import gguf

    fld = reader.fields[key]
    if not fld.types:
        return None
    if fld.types[0] == gguf.GGUFValueType.STRING:
        return bytes(fld.parts[fld.data[0]]).decode("utf-8", errors="replace")
    if fld.types[0] == gguf.GGUFValueType.ARRAY:
        if len(fld.types) > 1 and fld.types[1] == gguf.GGUFValueType.STRING:
            return len(fld.data)  # token lists: only their length matters here
        return [fld.parts[i].tolist()[0] for i in fld.data]
    return fld.parts[fld.data[0]].tolist()[0]


def read_gguf(path: str | os.PathLike[str]) -> GGUFInfo:
    """Read a GGUF header. Raises :class:`GGUFError` with a one-line reason on bad input."""
    p = Path(path).expanduser()
    if not p.exists():
        raise GGUFError(f"no such file: {p}")
    if p.is_dir():
        raise GGUFError(f"{p} is a folder, not a GGUF file")
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise GGUFError(f"{p} is not a GGUF file (it does not start with 'GGUF')")
    import gguf

    try:
        reader = gguf.GGUFReader(p, "r")
    except Exception as exc:  # the reader raises ValueError/IndexError/... on torn files
        raise GGUFError(f"{p} is a damaged or truncated GGUF file ({exc})") from exc
    file_bytes = p.stat().st_size
    tensors: list[GGUFTensor] = []
    for t in reader.tensors:
        end = int(t.data_offset) + int(t.n_bytes)
        if end > file_bytes:
            raise GGUFError(f"{p} is truncated: tensor {t.name} ends past the end of the file")
        tensors.append(GGUFTensor(t.name, t.tensor_type.name, int(t.n_elements), int(t.n_bytes)))
    metadata = {
        key: _field_value(reader, key)
        for key in reader.fields
        if not key.startswith("tokenizer.ggml.merges")
    }
    arch = str(metadata.get("general.architecture", "unknown"))
    ftype_value = metadata.get("general.file_type")
    file_type = None
    if ftype_value is not None:
        try:
            file_type = gguf.LlamaFileType(int(ftype_value)).name.removeprefix("MOSTLY_")
        except ValueError:
            file_type = str(ftype_value)
    return GGUFInfo(
        path=p,
        file_bytes=file_bytes,
        architecture=arch,
        name=str(metadata.get("general.name", p.stem)),
        file_type=file_type,
        tensors=tuple(tensors),
        metadata=metadata,
    )
