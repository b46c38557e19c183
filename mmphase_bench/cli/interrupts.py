"""Ctrl-C for the ``mmphase`` command: the interrupt is raised at a safe point, never inside a callback.

Python's default SIGINT handler raises :class:`KeyboardInterrupt` in whatever Python code the main
thread runs when the signal arrives. For this command that was often the wrong place:

* during ``import torch`` (the first seconds of most commands) the interrupt landed in code called
  back from C++ and aborted the process (``terminate called after throwing an instance of
  'pybind11::error_already_set'``) or printed a traceback from deep inside torch;
* during a render it landed in a weakref callback (``WeakValueDictionary``'s ``remove``, run when a
  tensor or an HDF5 object was freed): Python prints "Exception ignored in ..." and goes on, so the
  render ran to the end and exited 0.

:class:`SafeInterrupts` replaces the handler while a command runs. When the signal arrives in this
package's own code (``mmphase_bench/...``) it raises at once, as Python would. Anywhere else (torch,
h5py, importlib, finalizers) it only records the interrupt and installs a profile hook on the main
thread; the hook raises :class:`KeyboardInterrupt` at the next call or return event in this
package's code, i.e. as soon as control is back in code that cleans up after itself (``with``
blocks, :func:`mmphase_bench.io.atomic.atomic_path`, the resumable ``.partial`` of a render). A
third Ctrl-C raises wherever the program is, for a program stuck outside the package.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

#: Exit code after Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2).
EXIT_INTERRUPTED = 130

#: Ctrl-C presses after which the interrupt is raised wherever the program is.
FORCE_AFTER = 3

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_THIS_FILE = os.path.abspath(__file__)


def in_package(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs this package's code (not this module's)."""
    if frame is None:
        return False
    filename = frame.f_code.co_filename
    return filename.startswith(_PACKAGE_DIR) and filename != _THIS_FILE


class SafeInterrupts:
    """A context manager: SIGINT raises :class:`KeyboardInterrupt` only at safe points (see the module).

    It does nothing outside the main thread or when SIGINT is ignored (``nohup``, a background job).
    On exit the previous handler and profile hook are restored; :attr:`pending` tells whether an
    interrupt arrived that was never raised (the command ended first).
    """

    def __init__(self) -> None:
        self.presses = 0
        self.pending = False
        self._active = False
        self._finished = False
        self._previous_handler = None
        self._previous_profile = None

    def __enter__(self) -> "SafeInterrupts":
        if threading.current_thread() is not threading.main_thread():
            return self
        current = signal.getsignal(signal.SIGINT)
        if current is signal.SIG_IGN:
            return self
        self._previous_handler = current
        self._previous_profile = sys.getprofile()
        signal.signal(signal.SIGINT, self._on_signal)
        self._active = True
        return self

    def __exit__(self, *exc_info) -> None:
        if self._active:
            self._active = False
            sys.setprofile(self._previous_profile)
            signal.signal(signal.SIGINT, self._previous_handler)

    def _raise(self) -> None:
        self.pending = False
        sys.setprofile(self._previous_profile)
        raise KeyboardInterrupt

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.presses += 1
        if self._finished:
            return
        if self.presses >= FORCE_AFTER or in_package(frame):
            self._raise()
        if not self.pending:
            self.pending = True
            sys.setprofile(self._profile)

    def _profile(self, frame: FrameType, event: str, arg) -> None:
        if self.pending and in_package(frame):
            self._raise()

    def finish(self) -> None:
        """The command is ending after an interrupt: later Ctrl-C presses are only counted, so the
        one-line report and the exit are not interrupted in turn."""
        self._finished = True
        self.pending = False
        sys.setprofile(self._previous_profile)

    def check(self) -> None:
        """Raise :class:`KeyboardInterrupt` now if an interrupt is pending (a safe point)."""
        if self.pending:
            self._raise()
