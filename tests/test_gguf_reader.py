"""The bounded GGUF header reader: it agrees with gguf-py on real files, and refuses
hostile headers in one line before allocating anything."""

from __future__ import annotations

import os
import signal
import struct
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from advisor.profiles.gguf_file import (
    _TYPE_SIZES,
    GGML_TYPE_NAMES,
    LLAMA_FILE_TYPE_NAMES,
    MAX_HEADER_BYTES,
    GGUFDamagedError,
    GGUFError,
    GGUFNotAModelError,
    GGUFUnreadableError,
    read_gguf,
    read_gguf_header,
)
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from gguf_fuzz import (
    ARRAY,
    BOOL,
    F32,
    I32,
    I64,
    STRING,
    U32,
    U64,
    GGUFBuilder,
    _llama_like,
    seeds,
)


def write(path: Path, header: bytes, file_bytes: int | None = None) -> Path:
    with path.open("wb") as fh:
        fh.write(header)
        if file_bytes is not None:
            fh.truncate(file_bytes)  # sparse tensor data
    return path


def build(path: Path, builder: GGUFBuilder) -> Path:
    built = builder.build()
    return write(path, built.header, built.file_bytes)


def s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def head(n_tensors: int, n_kv: int, version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def kv_u32(key: str, value: int) -> bytes:
    return s(key) + struct.pack("<II", U32, value)


def tensor_info(name: str, dims: list[int], ggml_type: int = 0, offset: int = 0) -> bytes:
    return (
        s(name)
        + struct.pack("<I", len(dims))
        + b"".join(struct.pack("<Q", d) for d in dims)
        + struct.pack("<IQ", ggml_type, offset)
    )


@pytest.fixture()
def no_hang() -> Iterator[None]:
    """Fail instead of blocking forever (a FIFO opened for reading waits for a writer)."""

    def fail(*_: Any) -> None:
        raise TimeoutError("read_gguf blocked")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# -- agreement with gguf-py --------------------------------------------------------------


def reference_view(path: Path) -> tuple[dict[str, Any], list[tuple[Any, ...]], int, int]:
    """gguf.GGUFReader's view, in the shape read_gguf_header gives."""
    import gguf

    reader = gguf.GGUFReader(path, "r")
    meta: dict[str, Any] = {}
    for key, fld in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        main = fld.types[0]
        if main == gguf.GGUFValueType.STRING:
            meta[key] = bytes(fld.parts[fld.data[0]]).decode("utf-8", errors="replace")
        elif main == gguf.GGUFValueType.ARRAY and fld.types[-1] == gguf.GGUFValueType.STRING:
            meta[key] = len(fld.data)
        elif main == gguf.GGUFValueType.ARRAY:
            meta[key] = [fld.parts[i].tolist()[0] for i in fld.data]
        else:
            meta[key] = fld.parts[fld.data[0]].tolist()[0]
    tensors = [
        (
            t.name,
            t.tensor_type.name,
            int(t.n_elements),
            int(t.n_bytes),
            tuple(int(d) for d in t.shape),
            int(t.data_offset),
        )
        for t in reader.tensors
    ]
    return meta, tensors, int(reader.data_offset), int(reader.alignment)


def assert_agrees_with_gguf_py(path: Path) -> None:
    ours = read_gguf_header(path)
    meta, tensors, data_offset, alignment = reference_view(path)
    assert [
        (t.name, t.type_name, t.n_elements, t.n_bytes, t.shape, t.data_offset) for t in ours.tensors
    ] == tensors
    assert (ours.data_offset, ours.alignment) == (data_offset, alignment)
    assert ours.metadata.keys() == meta.keys()
    for key, value in meta.items():
        mine = ours.metadata[key]
        if isinstance(value, list) and not isinstance(mine, list):  # long arrays: length
            assert mine == len(value), key
        else:
            assert mine == value and type(mine) is type(value), key


def test_agrees_with_gguf_py_on_smollm2(smollm2_gguf: Path) -> None:
    assert_agrees_with_gguf_py(smollm2_gguf)
    info = read_gguf(smollm2_gguf)
    assert (info.n_params, info.file_type, info.architecture) == (134_515_008, "Q4_1", "llama")
    assert info.arch_int("block_count") == 30 and info.arch_int("attention.head_count_kv") == 3
    assert info.metadata["tokenizer.ggml.tokens"] == 49152  # token lists: their length


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["Q8_0", "Q4_K_M", "IQ4_XS", "F16"])
def test_agrees_with_gguf_py_on_ladder_rungs(smollm2_gguf: Path, fmt: str) -> None:
    from advisor.measure.ladder import make_rung

    rung = make_rung(smollm2_gguf, fmt)
    assert_agrees_with_gguf_py(rung.path)
    assert read_gguf(rung.path).file_type == fmt


def test_agrees_with_gguf_py_on_a_file_written_by_gguf_writer(tmp_path: Path) -> None:
    import gguf
    import numpy as np

    path = tmp_path / "written.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_embedding_length(64)
    writer.add_head_count(4)
    writer.add_head_count_kv([2, 1])  # per-layer array
    writer.add_context_length(512)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_token_list([b"a", b"b", b"\xc3\xa9"])
    writer.add_token_scores([0.5, -1.0, 2.25])
    writer.add_add_bos_token(False)
    writer.add_custom_alignment(64)
    writer.add_key_value("x.u64", 2**40, gguf.GGUFValueType.UINT64)
    writer.add_key_value("x.i8s", [-1, 2, -3], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT8)
    writer.add_key_value("x.f64", 1e-300, gguf.GGUFValueType.FLOAT64)
    writer.add_tensor("token_embd.weight", np.ones((3, 64), dtype=np.float16))
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(64, dtype=np.float32))
    writer.add_tensor("blk.0.ffn.weight", np.zeros((2, 3, 64), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert_agrees_with_gguf_py(path)
    info = read_gguf(path)
    assert info.alignment == 64 and info.file_type == "F16"
    assert info.arch_int("attention.head_count_kv") == 2
    assert info.tensors[2].shape == (64, 3, 2) and info.n_params == 3 * 64 + 64 + 384


def test_type_tables_match_gguf_py() -> None:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

    assert {t.value: t.name for t in GGMLQuantizationType} == GGML_TYPE_NAMES
    for t in GGMLQuantizationType:
        assert _TYPE_SIZES[t.name] == GGML_QUANT_SIZES[t], t.name
    assert {t.value: t.name.removeprefix("MOSTLY_") for t in LlamaFileType} == LLAMA_FILE_TYPE_NAMES


def test_byte_swapped_file_reads_like_the_native_one(tmp_path: Path) -> None:
    little = read_gguf(build(tmp_path / "le.gguf", _llama_like(GGUFBuilder())))
    big = read_gguf(build(tmp_path / "be.gguf", _llama_like(GGUFBuilder(order=">"))))
    assert big.metadata == little.metadata and big.tensors == little.tensors


def test_every_fuzz_seed_is_a_valid_file(tmp_path: Path) -> None:
    for name, seed in seeds().items():
        info = read_gguf(write(tmp_path / f"{name}.gguf", seed.header, seed.file_bytes))
        assert info.n_params > 0 and info.bits_per_weight > 0, name


# -- hostile headers ------------------------------------------------------------------------

ATTN_Q = "blk.0.attn_q.weight"
HOSTILE: dict[str, tuple[bytes, int | None, str]] = {
    # name: (file bytes, sparse size or None, expected fragment of the one-line error)
    "array of 2^40 elements": (
        head(0, 1) + s("tokenizer.ggml.scores") + struct.pack("<IIQ", ARRAY, F32, 2**40),
        None,
        "claims 1099511627776 values of 4 bytes, more than the 0 bytes left",
    ),
    "array of 2^40 strings": (
        head(0, 1) + s("tokenizer.ggml.tokens") + struct.pack("<IIQ", ARRAY, STRING, 2**40),
        None,
        "claims 1099511627776 strings",
    ),
    "string longer than the file": (
        head(0, 1) + s("general.name") + struct.pack("<IQ", STRING, 2**62) + b"abc",
        None,
        "claims 4611686018427387904 bytes, more than the 3 left",
    ),
    "string longer than the cap": (
        head(0, 1) + s("general.name") + struct.pack("<IQ", STRING, 17 * 2**20),
        20 * 2**20,
        "is 17825792 bytes long (at most 16777216)",
    ),
    "key longer than the cap": (head(0, 1) + struct.pack("<Q", 5000), 10_000, "at most 1024"),
    "nine dimensions": (
        head(1, 0) + tensor_info(ATTN_Q, [1] * 9),
        None,
        f"tensor '{ATTN_Q}' has 9 dimensions (at most 4)",
    ),
    "tensor count beyond the header": (
        head(2**40, 0) + b"\0" * 64,
        None,
        "claims 1099511627776 tensors, more than its",
    ),
    "kv count beyond the header": (head(0, 2**63) + b"\0" * 64, None, "key-value pairs"),
    "unknown value type": (
        head(0, 1) + s("x") + struct.pack("<I", 13) + b"\0" * 8,
        None,
        "key 'x' has unknown value type 13",
    ),
    "unknown array element type": (
        head(0, 1) + s("x") + struct.pack("<IIQ", ARRAY, 99, 1) + b"\0" * 8,
        None,
        "unknown element type 99",
    ),
    "array of arrays": (
        head(0, 1) + s("x") + struct.pack("<IIQ", ARRAY, ARRAY, 1) + b"\0" * 16,
        None,
        "an array of arrays",
    ),
    "unknown GGML type": (head(1, 0) + tensor_info("w", [32], 77), 4096, "unknown GGML type 77"),
    "removed GGML type 4": (head(1, 0) + tensor_info("w", [32], 4), 4096, "unknown GGML type 4"),
    "offset past EOF": (
        head(1, 0) + tensor_info("w", [1024], 0, 0),
        200,
        "tensor 'w' ends at byte 4160, past the end of the file (200 bytes): truncated",
    ),
    "gap between tensors": (
        head(2, 0) + tensor_info("a", [8]) + tensor_info("b", [8], 0, 4096),
        10_000,
        "tensor 'b' starts at data offset 4096, expected 32",
    ),
    "overflowing element count": (
        head(1, 0) + tensor_info("w", [2**32, 2**32]),
        None,
        "has 18446744073709551616 elements, more than GGML can count",
    ),
    "negative dimension": (head(1, 0) + tensor_info("w", [2**64 - 30]), None, "negative"),
    "rows not whole blocks": (
        head(1, 0) + tensor_info("w", [100, 2], 12),
        10_000,
        "rows of 100 weights are not whole Q4_K blocks of 256",
    ),
    "duplicate key": (head(0, 2) + kv_u32("a", 1) + kv_u32("a", 2), None, "'a' appears twice"),
    "duplicate tensor": (
        head(2, 0) + tensor_info("w", [8]) + tensor_info("w", [8], 0, 32),
        10_000,
        "tensor 'w' appears twice",
    ),
    "empty key": (head(0, 1) + s("") + struct.pack("<IB", 0, 1) + b"\0" * 8, None, "is empty"),
    "key not UTF-8": (head(0, 1) + s(b"\xff\xfe") + struct.pack("<IB", 0, 1), None, "UTF-8"),
    "tensor name too long": (head(1, 0) + tensor_info("w" * 64, [8]), 4096, "at most 63"),
    "alignment zero": (head(0, 1) + kv_u32("general.alignment", 0), None, "not a power of two"),
    "alignment three": (head(0, 1) + kv_u32("general.alignment", 3), None, "not a power of two"),
    "alignment 2^30": (head(0, 1) + kv_u32("general.alignment", 2**30), None, "power of two"),
    "alignment as a string": (
        head(0, 1) + s("general.alignment") + struct.pack("<I", STRING) + s("32"),
        None,
        "general.alignment should be a u32",
    ),
    "version 1": (head(0, 0, version=1), None, "GGUF version 1 is not supported"),
    "version 4": (head(0, 0, version=4), None, "GGUF version 4 is not supported"),
    "truncated in the counts": (b"GGUF" + struct.pack("<IQ", 3, 1), None, "truncated"),
    "truncated in a key": (
        head(0, 1) + s("general.architecture")[:20],
        None,
        "key 0 claims 20 bytes, more than the 12 left in the file",
    ),
    "too many kv pairs for the bytes": (head(0, 1) + b"\0" * 12, None, "more than its 36 bytes"),
    "truncated in the tensor infos": (head(1, 0) + tensor_info("w", [8])[:-3], None, "truncated"),
    "header over the cap": (
        head(0, 2) + kv_u32("a", 1) + s("b") + struct.pack("<IIQ", ARRAY, 0, 2**27),
        MAX_HEADER_BYTES + 2**27,
        "the header is larger than 64 MiB",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_header_is_refused_in_one_line_without_allocating(
    tmp_path: Path, case: str
) -> None:
    data, size, fragment = HOSTILE[case]
    path = write(tmp_path / "x.gguf", data, size)
    tracemalloc.start()
    try:
        with pytest.raises(GGUFDamagedError) as info:
            read_gguf(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "\n" not in message and fragment in message, message
    assert message.startswith(str(path)), message
    assert peak < 4 * 2**20, f"{case}: {peak} bytes allocated before refusing"


def test_the_example_message(tmp_path: Path) -> None:
    path = write(tmp_path / "X.gguf", HOSTILE["nine dimensions"][0])
    with pytest.raises(GGUFDamagedError) as info:
        read_gguf(Path(os.path.relpath(path)))
    assert str(info.value).endswith(
        "X.gguf: damaged GGUF header: tensor 'blk.0.attn_q.weight' has 9 dimensions (at most 4)"
    )


def llama_with(tmp_path: Path, key: str, vtype: int, value: Any) -> Path:
    builder = _llama_like(GGUFBuilder())
    builder.kvs = [kv for kv in builder.kvs if kv[0] != key] + [(key, vtype, value)]
    return build(tmp_path / "m.gguf", builder)


@pytest.mark.parametrize(
    "key,vtype,value,fragment",
    [
        (
            "llama.block_count",
            STRING,
            "thirty",
            "llama.block_count should be an integer, got a str",
        ),
        ("llama.block_count", I32, -30, "llama.block_count is -30 (it must be between 0 and"),
        ("llama.block_count", U64, 2**40, "llama.block_count is 1099511627776"),
        ("llama.block_count", F32, 30.0, "should be an integer, got a f32"),
        ("llama.block_count", BOOL, True, "should be an integer, got a bool"),
        ("llama.embedding_length", I64, -1, "llama.embedding_length is -1"),
        ("llama.attention.head_count", ARRAY, (I32, [4, -4]), "head_count is -4"),
        ("llama.attention.head_count_kv", U32, 3, "head_count 4 is not a multiple of"),
        ("llama.context_length", ARRAY, (U32, [0] * 70_000), "array of 70000 values"),
        ("general.architecture", U32, 7, "general.architecture should be a string"),
        ("general.file_type", STRING, "Q4_K_M", "general.file_type should be an integer"),
    ],
)
def test_bad_values_for_the_memory_model_are_refused(
    tmp_path: Path, key: str, vtype: int, value: Any, fragment: str
) -> None:
    with pytest.raises(GGUFDamagedError, match="damaged GGUF header") as info:
        read_gguf(llama_with(tmp_path, key, vtype, value))
    assert fragment in str(info.value)


def test_zero_heads_read_but_the_memory_model_says_what_is_missing(tmp_path: Path) -> None:
    from advisor.errors import AdvisorError
    from advisor.memory import gguf_footprint

    path = llama_with(tmp_path, "llama.attention.head_count", U32, 0)
    assert read_gguf(path).arch_int("attention.head_count") == 0  # an SSM may have none
    with pytest.raises(AdvisorError, match="head"):
        gguf_footprint(path)


def test_missing_counts_are_a_clear_error(tmp_path: Path) -> None:
    from advisor.errors import AdvisorError
    from advisor.memory import gguf_footprint

    builder = _llama_like(GGUFBuilder())
    builder.kvs = [kv for kv in builder.kvs if kv[0] != "llama.block_count"]
    info = read_gguf(build(tmp_path / "m.gguf", builder))
    assert info.arch_int("block_count") is None
    with pytest.raises(GGUFDamagedError, match=r"lacks llama\.block_count"):
        info.require_arch_int("block_count")
    with pytest.raises(AdvisorError):
        gguf_footprint(info.path)


def test_a_valid_small_model_sizes_exactly(tmp_path: Path) -> None:
    from advisor.memory import gguf_footprint

    path = build(tmp_path / "m.gguf", _llama_like(GGUFBuilder()))
    info = read_gguf(path)
    fp = gguf_footprint(path, context_tokens=128)
    assert fp.weight_bytes == info.tensor_bytes > 0
    assert info.file_type == "Q4_K_M" and info.type_counts["Q4_K"] == 2
    assert info.metadata["tokenizer.ggml.add_bos_token"] is True


@pytest.mark.parametrize("tensors", [0, 1])
def test_no_weights_is_not_a_model(tmp_path: Path, tensors: int) -> None:
    data = head(tensors, 0) + (tensor_info("w", [0, 4]) if tensors else b"")
    path = write(tmp_path / "vocab.gguf", data, 4096)
    assert len(read_gguf_header(path).tensors) == tensors  # well-formed
    with pytest.raises(GGUFNotAModelError, match="vocabulary-only") as info:
        read_gguf(path)
    assert info.value.status == "not a model"


def test_not_gguf_and_empty(tmp_path: Path) -> None:
    with pytest.raises(GGUFDamagedError, match="does not start with 'GGUF'"):
        read_gguf(write(tmp_path / "a.gguf", b"hello"))
    with pytest.raises(GGUFDamagedError, match="it is empty"):
        read_gguf(write(tmp_path / "b.gguf", b""))


# -- not regular files --------------------------------------------------------------------


def test_fifo_is_refused_without_blocking(tmp_path: Path, no_hang: None) -> None:
    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    with pytest.raises(GGUFUnreadableError, match="is a FIFO"):
        read_gguf(fifo)


def test_devices_folders_and_links(tmp_path: Path, no_hang: None) -> None:
    with pytest.raises(GGUFUnreadableError, match="character device"):
        read_gguf("/dev/zero")  # would read zeros forever
    with pytest.raises(GGUFUnreadableError, match="is a folder"):
        read_gguf(tmp_path)
    loop_a, loop_b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    with pytest.raises(GGUFUnreadableError, match="symbolic link loop"):
        read_gguf(loop_a)
    dangling = tmp_path / "d.gguf"
    dangling.symlink_to(tmp_path / "gone.gguf")
    with pytest.raises(GGUFUnreadableError, match="no such file"):
        read_gguf(dangling)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(tmp_path: Path) -> None:
    path = build(tmp_path / "m.gguf", _llama_like(GGUFBuilder()))
    path.chmod(0)
    with pytest.raises(GGUFUnreadableError, match="permission denied"):
        read_gguf(path)


def test_errors_are_advisor_errors() -> None:
    from advisor.errors import AdvisorError

    assert issubclass(GGUFError, AdvisorError)
    assert GGUFUnreadableError.status == "unreadable" and GGUFDamagedError.status == "damaged"
