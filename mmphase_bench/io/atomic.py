"""Atomic file writes: write to a temporary file beside the target, then rename over it.

The temporary file is given the mode a plain ``open(path, "w")`` would give: an existing target keeps
its permission bits, a new one gets ``0o666 & ~umask`` (``tempfile.mkstemp`` alone creates 0600, which
made every rendered or published file private to its owner).
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux), else by the
    set-and-restore idiom under a lock."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _plain_write_mode(target: Path) -> int:
    """The permission bits ``open(target, "w")`` would leave: the existing file's, or 0o666 & ~umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~current_umask()


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
        os.chmod(temporary, _plain_write_mode(target))  # after writing: a read-only target stays read-only
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
