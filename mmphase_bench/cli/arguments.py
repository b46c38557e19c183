"""Argument types and the parser class of the ``mmphase`` command.

Types and choices are checked while parsing, so a bad flag is argparse's usage error (exit 2, one
line naming the flag) before anything heavy is imported. Ranges that the library checks itself
(``jitter >= 0``, ...) are left to it: its :class:`~mmphase_bench.errors.InputError` names the
parameter and the command reports it as one line with exit code 2, too.

This module imports nothing beyond the standard library: it is loaded for ``mmphase --help``.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from mmphase_bench.errors import InputError

if TYPE_CHECKING:
    from mmphase_bench.distributed.ray_launcher import RayOptions

#: Names also defined by the library; tests/cli check that the two agree (importing them here would
#: import torch for ``--help``).
SUITE_NAMES = ("spiked", "stereo-dsprites", "stereo-shapes3d", "captioned-scenes", "coco", "stars")
PRESET_NAMES = ("both", "ca_only", "cp_only", "neither")
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


class CommandError(InputError):
    """Bad input found by the command line itself; reported as one line with exit code 2."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line: ``PROG: error: MESSAGE (see PROG --help)``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An ``int`` type for argparse, within ``[minimum, maximum]``."""
    if minimum is not None and maximum is not None:
        expected = f"an integer from {minimum} to {maximum}"
    elif minimum == 0:
        expected = "a non-negative integer"
    elif minimum == 1:
        expected = "a positive integer"
    elif minimum is not None:
        expected = f"an integer >= {minimum}"
    else:
        expected = "an integer"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def number(minimum: float | None = None, maximum: float | None = None, *, strict: bool = False) -> Callable[[str], float]:
    """A finite ``float`` type for argparse, within the bounds (``strict``: both bounds excluded)."""
    low, high = (">", "<") if strict else (">=", "<=")
    bounds = [f"{low} {minimum:g}" if minimum is not None else "", f"{high} {maximum:g}" if maximum is not None else ""]
    expected = "a finite number" + (" " + " and ".join(b for b in bounds if b) if any(bounds) else "")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        outside = (minimum is not None and (value <= minimum if strict else value < minimum)) or (
            maximum is not None and (value >= maximum if strict else value > maximum))
        if not math.isfinite(value) or outside:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def seed_list(text: str) -> tuple[int, ...]:
    """``0,1,2``: comma-separated non-negative integers, at least one."""
    try:
        seeds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        seeds = ()
    if not seeds or any(seed < 0 for seed in seeds):
        raise argparse.ArgumentTypeError(f"expected comma-separated non-negative integers, got {text!r}")
    return seeds


def name_list(text: str) -> tuple[str, ...]:
    """``a,b``: comma-separated names, at least one."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def choice_list(choices: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    """Comma-separated names, each one of ``choices``."""

    def parse(text: str) -> tuple[str, ...]:
        names = name_list(text)
        unknown = [name for name in names if name not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated subset of {','.join(choices)}; {','.join(unknown)} is not one")
        return names

    parse.__name__ = "choice_list"
    return parse


def figure_path(text: str) -> Path:
    """A figure file: the suffix (``.png``, ``.svg`` or ``.pdf``) chooses the format."""
    path = Path(text)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise argparse.ArgumentTypeError(f"a figure path must end in .png, .svg or .pdf, got {text!r}")
    return path


_DEVICE = re.compile(r"(cpu|mps|cuda(:\d+)?)\Z")


def device_name(*, auto: bool) -> Callable[[str], str]:
    """A torch device name: ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (and ``auto`` if allowed).
    Whether the device is present is checked when it is used."""
    names = "auto, cpu, cuda[:N] or mps" if auto else "cpu, cuda[:N] or mps"

    def parse(text: str) -> str:
        if (auto and text == "auto") or _DEVICE.match(text):
            return text
        raise argparse.ArgumentTypeError(f"expected {names}, got {text!r}")

    parse.__name__ = "device"
    return parse


def positive_seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def add_launcher_arguments(parser: argparse.ArgumentParser, launchers: tuple[str, ...] = ("local", "ray")) -> None:
    """``--launcher`` and the Ray launcher's options, for every command that trains runs."""
    text = {"local": "local: one run after the other in this process (default)",
            "ray": "ray: one Ray task per run, on a cluster or a local one (see --address)",
            "torchrun": "torchrun: each run trained with DDP over --nproc-per-node processes"}
    parser.add_argument("--launcher", choices=launchers, default="local",
                        help="; ".join(text[name] for name in launchers))
    parser.add_argument("--address", default=None,
                        help="with --launcher ray: auto (the running cluster of `ray start`), local:N (a cluster of N "
                             "CPUs started here) or HOST:PORT (default local:<CPU count>)")
    parser.add_argument("--cpus-per-run", type=number(0, strict=True), default=None, metavar="C",
                        help="with --launcher ray: CPUs each run reserves, also its torch threads (default 1)")
    parser.add_argument("--gpus-per-run", type=number(0), default=None, metavar="G",
                        help="with --launcher ray: GPUs each run reserves, a fraction shares one (default 0: CPU runs)")


def ray_options(args: argparse.Namespace) -> RayOptions | None:
    """The :class:`~mmphase_bench.distributed.ray_launcher.RayOptions` of ``--launcher ray``, else None.
    A missing Ray, a bad ``--address`` or a Ray option without ``--launcher ray`` is one line naming the flag."""
    given = [flag for flag, value in (("--address", args.address), ("--cpus-per-run", args.cpus_per_run),
                                      ("--gpus-per-run", args.gpus_per_run)) if value is not None]
    if args.launcher != "ray":
        if given:
            raise CommandError(f"{given[0]} goes with --launcher ray")
        return None
    from mmphase_bench.distributed.ray_launcher import RayOptions, require_ray

    try:
        options = RayOptions(address=args.address, cpus_per_run=1 if args.cpus_per_run is None else args.cpus_per_run,
                             gpus_per_run=0 if args.gpus_per_run is None else args.gpus_per_run)
        require_ray()
        return options
    except InputError as error:  # "launcher ray needs Ray: ...", "address: expected ...": the flag's name
        raise CommandError(f"--{error}") from None
