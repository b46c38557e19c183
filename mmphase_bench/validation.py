"""Argument checks shared by every package: clear errors that name the argument and its range."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from mmphase_bench.errors import InputError, InputTypeError


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int, or raise ``ValueError``/``TypeError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputTypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_minimum: bool = False,
    strict_maximum: bool = False,
) -> float:
    """Return ``value`` as a finite float within the bounds, or raise naming ``name``."""
    if isinstance(value, bool):
        raise InputTypeError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputTypeError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(number):
        raise InputError(f"{name} must be finite, got {value!r}")
    if minimum is not None and (number <= minimum if strict_minimum else number < minimum):
        raise InputError(f"{name} must be {'>' if strict_minimum else '>='} {minimum}, got {number}")
    if maximum is not None and (number >= maximum if strict_maximum else number > maximum):
        raise InputError(f"{name} must be {'<' if strict_maximum else '<='} {maximum}, got {number}")
    return number


#: Names that become folder or file names (suites, submissions, cells): lowercase letters, digits,
#: '.', '_', '+' and '-', starting with a letter or digit; no path separators, no "..".
SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9._+-]*")
SAFE_NAME_MAX = 64
SAFE_NAME_RULE = (f"lowercase letters, digits, '.', '_', '+', '-', starting with a letter or digit, "
                  f"no '..', at most {SAFE_NAME_MAX} characters")


def safe_name_problem(value: Any) -> str | None:
    """Why ``value`` may not be used as a folder or file name (the one rule of the package), or None."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if len(value) > SAFE_NAME_MAX or not SAFE_NAME.fullmatch(value) or ".." in value:
        return f"{value[:80]!r} is not a safe name ({SAFE_NAME_RULE})"
    return None


def check_safe_name(name: str, value: Any) -> str:
    """Return ``value`` when it is a safe folder or file name, else raise :class:`InputError` naming ``name``."""
    problem = safe_name_problem(value)
    if problem:
        raise InputError(f"{name} {problem}")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_matrix(name: str, value: Any, *, min_rows: int = 1, allow_1d: bool = False) -> np.ndarray:
    """A finite float64 2-D array (a 1-D array becomes one column when ``allow_1d``)."""
    array = np.asarray(value)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)
    ):
        raise InputTypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise InputTypeError(f"{name} must be real-valued, got dtype {array.dtype}")
    if array.ndim == 1 and allow_1d:
        array = array[:, None]
    if array.ndim != 2:
        expected = "1-D or 2-D" if allow_1d else "2-D (n_samples, n_features)"
        raise InputError(f"{name} must be {expected}, got shape {array.shape}")
    if array.shape[0] < min_rows:
        raise InputError(f"{name} needs at least {min_rows} rows, got {array.shape[0]}")
    if array.shape[1] < 1:
        raise InputError(f"{name} needs at least 1 column, got shape {array.shape}")
    array = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise InputError(f"{name} contains {bad} NaN or infinite values")
    return array


def check_same_rows(**arrays: np.ndarray) -> int:
    """All arrays have the same number of rows; return it."""
    rows = {name: int(np.shape(array)[0]) for name, array in arrays.items()}
    if len(set(rows.values())) > 1:
        described = ", ".join(f"{name} has {count}" for name, count in rows.items())
        raise InputError(f"paired arrays must have the same number of rows: {described}")
    return next(iter(rows.values()))
