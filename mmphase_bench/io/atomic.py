"""Atomic file writes: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces ``path`` atomically,
    on error it is removed, so readers never see a half-written file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix + ".tmp", dir=target.parent
    )
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def save_figure_atomic(figure, path: str | os.PathLike, **kwargs) -> None:
    """``figure.savefig`` to ``path`` atomically; the format follows the suffix of ``path``."""
    target = Path(path)
    fmt = target.suffix.lstrip(".").lower() or "png"
    with atomic_path(target, suffix="." + fmt) as temporary:
        figure.savefig(temporary, format=fmt, **kwargs)
