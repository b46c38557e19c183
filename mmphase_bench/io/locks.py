"""Advisory per-file locks, so that concurrent processes writing one results folder share the work.

``exclusive_lock(path)`` takes an exclusive ``flock`` on a hidden lock file beside ``path``
(``.<name>.lock``). Two ``mmphase run`` processes on the same ``out`` folder each take the lock of a
result before training it: the second finds it held, moves on to other cells and comes back to it
at the end, when it waits for the lock and then reuses the finished result. The operating system
releases a lock when its process ends, however it ends, so a killed run never leaves a stale lock.
The lock files stay behind (empty); deleting them while another process may be waiting on one would
let two processes hold "the" lock at once.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file that guards ``path``."""
    target = Path(path)
    return target.with_name(f".{target.name}.lock")


@contextmanager
def exclusive_lock(path: str | os.PathLike, *, blocking: bool = True) -> Iterator[bool]:
    """Hold the lock of ``path`` for the ``with`` block; yields whether it was acquired.

    ``blocking=False`` yields ``False`` at once when another process holds it (the block then must
    not write ``path``); ``blocking=True`` waits and always yields ``True``.
    """
    guard = lock_path(path)
    guard.parent.mkdir(parents=True, exist_ok=True)
    with open(guard, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


__all__ = ["exclusive_lock", "lock_path"]
