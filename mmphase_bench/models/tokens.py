"""Token views: a view whose samples are caption token ids, not pixels or features.

The image-text experiment of Kamai et al. 2026 pairs an image view x (``ViewSpec`` of kind "image")
with a caption view y: ``max_length`` word ids per sample, int64, in ``[0, vocab_size)``, padded
with ``pad_id`` after the caption's end. :class:`TokenSpec` describes such a view; a batch of it is
an int64 tensor of shape (batch, max_length). A caption ends at its first ``pad_id``: whatever
follows is padding (the text encoder masks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmphase_bench.errors import InputError, InputTypeError
from mmphase_bench.models.interface import ViewSpec


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class TokenSpec(ViewSpec):
    """A view of token ids: ``shape`` = (max_length,), dtype "int64", kind "tokens", ids in
    ``[0, vocab_size)`` with ``pad_id`` (default 0) after the end of each sequence.

    ``TokenSpec((32,), vocab_size=200)``; :meth:`for_tokenizer` builds one from a tokenizer's
    ``max_length``, ``vocab_size`` and ``pad_id``. Validated on construction (one line naming the
    field); it does not call :class:`ViewSpec`'s validation, which knows images and vectors only.
    """

    dtype: str = "int64"
    kind: str = "tokens"
    vocab_size: int = 0
    pad_id: int = 0

    def __post_init__(self) -> None:
        if self.kind != "tokens":
            raise InputError(f"a TokenSpec has kind 'tokens', got {self.kind!r}")
        if self.dtype != "int64":
            raise InputError(f"a TokenSpec has dtype 'int64', got {self.dtype!r}")
        if not isinstance(self.shape, tuple) or len(self.shape) != 1 or not _is_int(self.shape[0]) or self.shape[0] < 1:
            raise InputError(f"a token view needs shape (max_length,) with max_length >= 1, got {self.shape!r}")
        if not _is_int(self.vocab_size):
            raise InputTypeError(f"vocab_size must be an integer, got {self.vocab_size!r}")
        if self.vocab_size < 2:
            raise InputError(f"vocab_size must be >= 2 (the padding id and at least one word), got {self.vocab_size}")
        if not _is_int(self.pad_id):
            raise InputTypeError(f"pad_id must be an integer, got {self.pad_id!r}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise InputError(f"pad_id must be in [0, vocab_size) = [0, {self.vocab_size}), got {self.pad_id}")

    @property
    def max_length(self) -> int:
        """Token positions per sample (``shape[0]``)."""
        return self.shape[0]

    @classmethod
    def for_tokenizer(cls, tokenizer: Any) -> "TokenSpec":
        """The view of what ``tokenizer.encode_batch`` returns (anything with ``max_length``,
        ``vocab_size`` and ``pad_id``, e.g. :class:`mmphase_bench.data.tokenizer.WordTokenizer`)."""
        return cls((int(tokenizer.max_length),), vocab_size=int(tokenizer.vocab_size), pad_id=int(tokenizer.pad_id))


def is_token_view(spec: ViewSpec) -> bool:
    """Whether ``spec`` describes token ids (a :class:`TokenSpec`) rather than images or vectors."""
    return isinstance(spec, TokenSpec)


__all__ = ["TokenSpec", "is_token_view"]
