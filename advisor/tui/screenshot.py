"""Export an SVG screenshot of the real app (real profiles and ranking, fixed hardware),
for the README: ``python -m advisor.tui.screenshot docs/tui.svg``."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from advisor.profiles.detect import GPU, Hardware
from advisor.tui import create_app

# A common card, so the picture does not depend on the machine that makes it.
README_HARDWARE = Hardware(
    cpu="AMD Ryzen 9 7950X",
    cores=32,
    ram_total_bytes=64 * 10**9,
    ram_available_bytes=48 * 10**9,
    gpus=(GPU(0, "NVIDIA GeForce RTX 4090", 24 * 2**30, 23 * 2**30),),
)


async def export(path: Path, size: tuple[int, int], keys: list[str]) -> None:
    app = create_app(hardware=README_HARDWARE, theme="textual-dark", show_timings=False)
    async with app.run_test(size=size) as pilot:
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        if keys:
            await pilot.press(*keys)
            await app.workers.wait_for_complete()
            await pilot.pause()
        app.save_screenshot(filename=path.name, path=str(path.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, nargs="?", default=Path("docs/tui.svg"))
    parser.add_argument("--size", default="120x40", help="columns x rows (default 120x40)")
    parser.add_argument("--keys", default="down,down", help="keys to press first, comma-separated")
    args = parser.parse_args()
    cols, rows = (int(n) for n in args.size.lower().split("x"))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    keys = [k for k in args.keys.split(",") if k]
    asyncio.run(export(args.output, (cols, rows), keys))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
