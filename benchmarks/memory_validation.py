"""Check the memory model against published GPU memory measurements.

Rows: Qwen2.5-Instruct speed benchmark (torch.cuda.max_memory_allocated, GiB; batch 1,
prompt of 1/6144/14336/30720 tokens + 2048 generated) and Qwen (1.0) chat (generating 2048
tokens). Prints the error of each row and the median/worst, against a baseline measured in
the same run: "weights only at nominal bits" (params × bits / 8), the estimate of tools that
count weights alone.

    python benchmarks/memory_validation.py [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass

from advisor import profiles
from advisor.memory import footprint
from advisor.profiles.formats import get_format

# Published format name -> our format. Qwen-1's Int8/Int4 are GPTQ (Qwen README, "Quantization").
FORMATS = {"BF16": "bf16", "GPTQ-Int8": "GPTQ-Int8", "GPTQ-Int4": "GPTQ-Int4", "AWQ": "AWQ",
           "Int8": "GPTQ-Int8", "Int4": "GPTQ-Int4"}  # fmt: skip
GiB = 2**30


@dataclass(frozen=True)
class Row:
    id: str
    model: str
    format: str
    prompt_tokens: int
    generated_tokens: int
    measured_bytes: float
    predicted_bytes: int
    baseline_bytes: float

    @property
    def error(self) -> float:
        return (self.predicted_bytes - self.measured_bytes) / self.measured_bytes

    @property
    def baseline_error(self) -> float:
        return (self.baseline_bytes - self.measured_bytes) / self.measured_bytes


def validation_rows() -> list[Row]:
    rows = []
    archs = profiles.architectures()
    for p in profiles.published():
        if p.task != "memory" or not p.arch_id or p.format not in FORMATS:
            continue
        arch = archs[p.arch_id]
        fmt = get_format(FORMATS[p.format])
        generated = p.generated_tokens or 2048
        prompt = p.context_tokens or 1
        # Both tables report memory with the model's weights sharded over GPUs where needed;
        # a multi-GPU row counts the sum, as the single-GPU formula does.
        fp = footprint(
            arch, fmt, context_tokens=prompt + generated, device="cuda",
            backend="torch-allocated", prompt_tokens=prompt,
        )  # fmt: skip
        unit = GiB if p.unit == "GiB" else 10**9
        rows.append(
            Row(
                id=p.id,
                model=p.model,
                format=p.format,
                prompt_tokens=prompt,
                generated_tokens=generated,
                measured_bytes=p.value * unit,
                predicted_bytes=fp.total_bytes,
                baseline_bytes=arch.params_total * fmt.nominal_bits / 8,
            )
        )
    return rows


def summary(rows: list[Row]) -> dict[str, float]:
    errors = [abs(r.error) for r in rows]
    base = [abs(r.baseline_error) for r in rows]
    return {
        "rows": len(rows),
        "median_abs_error": statistics.median(errors),
        "worst_abs_error": max(errors),
        "baseline_median_abs_error": statistics.median(base),
        "ratio_baseline_over_ours": statistics.median(base) / statistics.median(errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = validation_rows()
    if args.json:
        print(
            json.dumps(
                {"summary": summary(rows), "rows": [r.__dict__ | {"error": r.error} for r in rows]},
                indent=2,
            )
        )
        return 0
    print(
        f"{'model':<24}{'format':<10}{'prompt':>7}{'measured':>10}{'ours':>9}{'err':>8}{'weights-only':>14}"
    )
    for r in rows:
        print(
            f"{r.model:<24}{r.format:<10}{r.prompt_tokens:>7}{r.measured_bytes / GiB:>9.2f}G"
            f"{r.predicted_bytes / GiB:>8.2f}G{r.error:>+8.1%}{r.baseline_error:>+13.1%}"
        )
    s = summary(rows)
    print(
        f"\n{s['rows']} rows (GiB = 2^30 bytes): median |error| {s['median_abs_error']:.1%}, "
        f"worst {s['worst_abs_error']:.1%}; weights-only baseline median "
        f"{s['baseline_median_abs_error']:.1%} (ratio baseline/ours "
        f"{s['ratio_baseline_over_ours']:.1f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
