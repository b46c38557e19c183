"""Start-up time of the ``mmphase`` command against bare Python and ``import torch``.

Run: ``python benchmarks/bench_cli.py`` (``--quick`` for fewer repetitions).

In one run on the same machine, each a fresh process, timed wall-clock from start to exit:

* the baselines: ``python -c pass`` (the interpreter alone) and ``python -c "import torch"`` (what
  every command paid before the heavy imports moved into the command handlers);
* ``mmphase --help``, ``mmphase --version``, ``mmphase data render --help`` and an argument error
  (``mmphase run --suite nope ...``, exit 2), each run as ``python -m mmphase_bench``.

Each is repeated and the median is kept (the first call of each also warms the file cache). Reported:
seconds, the time above bare Python, and the ratio to ``import torch``. Target: every command answers
in well under a second, a small fraction of ``import torch``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
    "mmphase --help": [sys.executable, "-m", "mmphase_bench", "--help"],
    "mmphase --version": [sys.executable, "-m", "mmphase_bench", "--version"],
    "mmphase data render --help": [sys.executable, "-m", "mmphase_bench", "data", "render", "--help"],
    "mmphase run --suite nope (exit 2)": [sys.executable, "-m", "mmphase_bench", "run", "--model", "vicreg", "--suite", "nope"],
}
EXPECTED_EXIT = {"mmphase run --suite nope (exit 2)": 2}


def wall_time(command: list[str], expected: int) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != expected:
        raise SystemExit(f"{command} exited {result.returncode}, expected {expected}:\n{result.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions instead of 9")
    args = parser.parse_args()
    repeats = 3 if args.quick else 9
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for name, command in COMMANDS.items():  # warm-up: the file cache, .pyc files
        wall_time(command, EXPECTED_EXIT.get(name, 0))
    for _ in range(repeats):  # interleaved, so that a busy moment of the machine hits all alike
        for name, command in COMMANDS.items():
            times[name].append(wall_time(command, EXPECTED_EXIT.get(name, 0)))
    median = {name: statistics.median(values) for name, values in times.items()}
    bare, torch_import = median["python -c pass"], median['python -c "import torch"']
    print(f"Python {sys.version.split()[0]}; median of {repeats} fresh processes each\n")
    print(f"{'command':<36}{'seconds':>9}{'above bare python':>20}{'/ import torch':>16}")
    for name, seconds in median.items():
        print(f"{name:<36}{seconds:>9.3f}{seconds - bare:>18.3f} s{seconds / torch_import:>15.2f}x")
    slowest = max(seconds for name, seconds in median.items() if name.startswith("mmphase"))
    print(f"\nslowest command: {slowest:.3f} s = {slowest / torch_import:.2f}x `import torch` (target: well under 1 s)")


if __name__ == "__main__":
    main()
