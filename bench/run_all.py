"""Run every benchmark and print min/median/max per figure; ``make bench`` calls this.

Benchmarks 1-4 run ``--runs`` times (default 3) and the growth benchmark once, because it
repeats 1 and 4 at other sizes. ``--quick`` shrinks every size, scales sending time by 10 and
runs once, as a smoke run of a minute or two.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from types import ModuleType

from bench import chat_overhead, growth, join_burst, join_throughput, login_sync
from bench.common import Figure, spread

REPEATED: dict[str, ModuleType] = {
    "join_throughput": join_throughput,
    "chat_overhead": chat_overhead,
    "join_burst": join_burst,
    "login_sync": login_sync,
}
ONCE: dict[str, ModuleType] = {"growth": growth}


def machine() -> str:
    memory = ""
    try:
        memory = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout.split(
            "\n"
        )[1]
        memory = " ".join(memory.split()[:2])
    except (OSError, IndexError):
        pass
    return (
        f"Python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} cores, "
        f"memory {memory or 'unknown'}"
    )


def summarize(results: dict[str, list[Figure]]) -> list[str]:
    lines = []
    for name, figures in results.items():
        first = figures[0]
        low, middle, high = spread([f.value for f in figures])
        unit = f" {first.unit}" if first.unit else ""
        text = f"{name}: min {low:.3g} / median {middle:.3g} / max {high:.3g}{unit}"
        if first.target:
            met = sum(1 for f in figures if f.met)
            text += f"  [target {first.target}: met in {met} of {len(figures)} runs]"
        lines.append(text)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the repe-bot benchmarks.")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, one run, sending time scaled by 10"
    )
    parser.add_argument("--runs", type=int, default=None, help="runs of benchmarks 1-4 (default 3, quick 1)")
    parser.add_argument(
        "--only",
        action="append",
        choices=[*REPEATED, *ONCE],
        help="run only this benchmark; repeat the option for several",
    )
    arguments = parser.parse_args(argv)
    runs = arguments.runs or (1 if arguments.quick else 3)
    selected = set(arguments.only or [*REPEATED, *ONCE])

    print(machine(), flush=True)
    print(
        "command: "
        + " ".join([os.path.basename(sys.executable), "-m", "bench.run_all", *(argv or sys.argv[1:])]),
        flush=True,
    )
    started = time.monotonic()
    results: dict[str, list[Figure]] = {}

    def record(label: str, run: Callable[[bool], list[Figure]]) -> None:
        print(f"--- {label}", flush=True)
        for figure in run(arguments.quick):
            print(figure.line(), flush=True)
            results.setdefault(figure.name, []).append(figure)

    for index in range(runs):
        for name, module in REPEATED.items():
            if name in selected:
                record(f"{name} (run {index + 1} of {runs})", module.run)
    for name, module in ONCE.items():
        if name in selected:
            record(name, module.run)

    print(f"=== summary over {runs} run(s), {time.monotonic() - started:.0f} s in total", flush=True)
    for line in summarize(results):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
