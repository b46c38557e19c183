"""The package's input-error types: the one boundary between "the caller gave bad input" and a bug.

Library code raises :class:`InputError` (or one of its subclasses) when an argument is out of range,
a file is missing or malformed, or a submission does not follow the interface. The message is one
line that names the parameter or the file and says what is allowed. The command line reports exactly
these errors as one line with exit code 2; every other exception is a bug and keeps its traceback.

``InputError`` subclasses ``ValueError`` (and :class:`InputTypeError` also ``TypeError``,
:class:`MissingFileError` also ``FileNotFoundError``), so callers that catch the built-in types keep
working.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: an argument, a file or a submission that the caller can fix."""


class InputTypeError(InputError, TypeError):
    """An argument of the wrong type."""


class MissingFileError(InputError, FileNotFoundError):
    """A file or folder named by the caller does not exist."""


class FileFormatError(InputError):
    """A file exists but is not what it should be (truncated, wrong shapes, dtypes, keys or ranges,
    external storage or links). The message names the file."""
