"""Lazy public names for package ``__init__`` files (PEP 562).

A package lists ``public name -> defining module`` and gets a module ``__getattr__`` that imports the
module on first use (then caches the name in the package's namespace, so later look-ups are plain
attribute reads) and a ``__dir__`` that lists the names. ``import mmphase_bench`` and the command's
``--help`` then do not pay for torch, h5py or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Callable, Mapping


def lazy_exports(package: str, namespace: dict, exports: Mapping[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package`` whose globals are ``namespace``."""

    def __getattr__(name: str):
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted([*namespace, *exports])

    return __getattr__, __dir__
