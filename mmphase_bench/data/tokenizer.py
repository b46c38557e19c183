"""A word-level tokenizer fitted on training captions (the text view of the image-text experiment).

Kamai et al. 2026 train a small transformer text encoder from scratch on the captions, so the text
view needs a vocabulary built from the training captions only. :class:`WordTokenizer` is that
vocabulary::

    words(text)  = the lower-cased runs of letters and digits (inner apostrophes kept: "don't"),
                   punctuation dropped
    vocabulary   = <pad>, <unk>, <bos>, <eos> (ids 0..3), then the words seen at least
                   ``min_frequency`` times, most frequent first (ties: alphabetical)
    encode(text) = [<bos>, id(w_1), ..., id(w_k), <eos>], k <= max_length - 2 (longer texts are
                   truncated; unknown words map to <unk>)

It is saved as JSON next to the results (atomic write) and reloaded with validation; its
:attr:`WordTokenizer.fingerprint` (SHA-256 of the canonical JSON) is part of the dataset fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from mmphase_bench.errors import FileFormatError, InputError, InputTypeError, MissingFileError
from mmphase_bench.validation import check_int

#: The ``format`` field of a saved tokenizer.
FORMAT = "mmphase-bench/word-tokenizer"
#: The ``version`` field of a saved tokenizer (bumped if the file layout or :meth:`words` changes).
VERSION = 1
#: A saved tokenizer larger than this is refused before it is parsed.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: The longest ``max_length`` accepted.
MAX_LENGTH_LIMIT = 4096

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})


class WordTokenizer:
    """Word ids of captions: ``encode`` (one text), ``encode_batch`` (a padded int64 tensor), ``decode``.

    ``vocabulary`` lists every token once, the four specials first (``<pad>``, ``<unk>``, ``<bos>``,
    ``<eos>``, ids 0..3); every other entry must be a word :meth:`words` can produce. ``max_length``
    (>= 3) counts ``<bos>`` and ``<eos>``.
    """

    PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
    SPECIALS = (PAD, UNK, BOS, EOS)
    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    def __init__(self, vocabulary: Sequence[str], max_length: int = 32):
        self.max_length = check_int("max_length", max_length, minimum=3, maximum=MAX_LENGTH_LIMIT)
        problem = _vocabulary_problem(vocabulary)
        if problem:
            raise InputError(f"vocabulary {problem}")
        self._vocabulary: tuple[str, ...] = tuple(vocabulary)
        self._ids = {word: i for i, word in enumerate(self._vocabulary)}
        self._fingerprint: str | None = None

    # ----------------------------------------------------------------- building
    @classmethod
    def fit(
        cls,
        captions: Iterable[str],
        *,
        min_frequency: int = 2,
        max_length: int = 32,
        max_size: int | None = None,
        include: Iterable[str] = (),
    ) -> "WordTokenizer":
        """The vocabulary of ``captions``: words seen >= ``min_frequency`` times, most frequent first.

        ``max_size`` caps :attr:`vocab_size` (the four specials included; the least frequent words are
        dropped). ``include`` lists text whose words are always kept, whatever their frequency (e.g. the
        style descriptions, so a style prefix never becomes ``<unk>``); they follow the specials.
        """
        min_frequency = check_int("min_frequency", min_frequency, minimum=1)
        max_length = check_int("max_length", max_length, minimum=3, maximum=MAX_LENGTH_LIMIT)
        if max_size is not None:
            max_size = check_int("max_size", max_size, minimum=len(cls.SPECIALS))
        if isinstance(captions, (str, bytes)):
            raise InputTypeError("captions must be an iterable of strings, not a single string")
        counts: Counter[str] = Counter()
        for position, caption in enumerate(captions):
            if not isinstance(caption, str):
                raise InputTypeError(f"captions[{position}] must be a string, got {type(caption).__name__}")
            counts.update(cls.words(caption))
        if isinstance(include, (str, bytes)):
            include = (include,)
        forced: list[str] = []
        for position, text in enumerate(include):
            if not isinstance(text, str):
                raise InputTypeError(f"include[{position}] must be a string, got {type(text).__name__}")
            forced.extend(word for word in cls.words(text) if word not in forced)
        forced.sort()
        chosen = set(forced)
        frequent = sorted(
            (word for word, count in counts.items() if count >= min_frequency and word not in chosen),
            key=lambda word: (-counts[word], word),
        )
        vocabulary = [*cls.SPECIALS, *forced, *frequent]
        if max_size is not None:
            if len(cls.SPECIALS) + len(forced) > max_size:
                raise InputError(
                    f"max_size={max_size} is smaller than the 4 specials plus the {len(forced)} words of include"
                )
            vocabulary = vocabulary[:max_size]
        return cls(vocabulary, max_length=max_length)

    @staticmethod
    def words(text: str) -> list[str]:
        """Lower-case words of ``text``: runs of letters/digits with inner apostrophes; punctuation dropped."""
        if not isinstance(text, str):
            raise InputTypeError(f"text must be a string, got {type(text).__name__}")
        return _WORD.findall(text.translate(_APOSTROPHES).lower())

    # ----------------------------------------------------------------- use
    @property
    def vocabulary(self) -> tuple[str, ...]:
        return self._vocabulary

    @property
    def vocab_size(self) -> int:
        return len(self._vocabulary)

    def __len__(self) -> int:
        return len(self._vocabulary)

    def __contains__(self, word: object) -> bool:
        return word in self._ids

    def id_of(self, word: str) -> int:
        """The id of one token (``<unk>``'s id when it is not in the vocabulary)."""
        return self._ids.get(word, self.unk_id)

    def encode(self, text: str) -> list[int]:
        """``[<bos>, ids of the first max_length - 2 words, <eos>]``, unknown words as ``<unk>``; no padding."""
        ids = self._ids
        body = [ids.get(word, self.unk_id) for word in self.words(text)[: self.max_length - 2]]
        return [self.bos_id, *body, self.eos_id]

    def encode_batch(self, texts: Sequence[str]) -> torch.Tensor:
        """int64 (len(texts), max_length): each row :meth:`encode` of one text, padded with ``<pad>`` (0)."""
        if isinstance(texts, (str, bytes)):
            raise InputTypeError("texts must be a sequence of strings, not a single string")
        out = np.full((len(texts), self.max_length), self.pad_id, dtype=np.int64)
        for row, text in enumerate(texts):
            ids = self.encode(text)
            out[row, : len(ids)] = ids
        return torch.from_numpy(out)

    def decode(self, ids) -> str:
        """The words of ``ids`` joined by spaces: ``<pad>`` and ``<bos>`` skipped, stops at ``<eos>``.

        Unknown ids raise; ``<unk>`` is written as ``<unk>``. ``decode(encode(t)) == " ".join(words(t))``
        when every word of ``t`` is in the vocabulary and ``t`` is not truncated.
        """
        if isinstance(ids, torch.Tensor):
            ids = ids.detach().cpu().numpy()
        array = np.asarray(ids)
        if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
            raise InputTypeError(f"ids must be a 1-D sequence of integers, got shape {array.shape}, dtype {array.dtype}")
        words = []
        for token in array.tolist():
            if not 0 <= token < self.vocab_size:
                raise InputError(f"ids contains {token}, outside the vocabulary of {self.vocab_size} tokens")
            if token == self.eos_id:
                break
            if token in (self.pad_id, self.bos_id):
                continue
            words.append(self._vocabulary[token])
        return " ".join(words)

    # ----------------------------------------------------------------- files
    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "max_length": self.max_length, "vocabulary": list(self._vocabulary)}

    def canonical_json(self) -> str:
        """The JSON the fingerprint is taken of (sorted keys, no spaces, UTF-8)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of :meth:`canonical_json`: changes with the vocabulary or ``max_length``."""
        if self._fingerprint is None:
            self._fingerprint = hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()
        return self._fingerprint

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer as JSON, atomically (readers never see a half-written file)."""
        from mmphase_bench.io.atomic import write_text_atomic

        write_text_atomic(path, json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "WordTokenizer":
        """Read a tokenizer written by :meth:`save`; every key, type and the specials are checked."""
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"tokenizer file {path} does not exist")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise FileFormatError(f"tokenizer file {path} is larger than {MAX_FILE_BYTES} bytes")
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise FileFormatError(f"tokenizer file {path} is not valid UTF-8 JSON: {error}") from None
        if not isinstance(payload, dict):
            raise FileFormatError(f"tokenizer file {path} must hold a JSON object, got {type(payload).__name__}")
        expected = {"format", "version", "max_length", "vocabulary"}
        if set(payload) != expected:
            missing, extra = sorted(expected - set(payload)), sorted(set(payload) - expected)
            raise FileFormatError(f"tokenizer file {path} has keys {sorted(payload)}: missing {missing}, unexpected {extra}")
        if payload["format"] != FORMAT:
            raise FileFormatError(f"tokenizer file {path}: key 'format' must be {FORMAT!r}, got {payload['format']!r}")
        if payload["version"] != VERSION or isinstance(payload["version"], bool):
            raise FileFormatError(f"tokenizer file {path}: key 'version' must be {VERSION}, got {payload['version']!r}")
        max_length = payload["max_length"]
        if isinstance(max_length, bool) or not isinstance(max_length, int) or not 3 <= max_length <= MAX_LENGTH_LIMIT:
            raise FileFormatError(
                f"tokenizer file {path}: key 'max_length' must be an integer in [3, {MAX_LENGTH_LIMIT}], got {max_length!r}"
            )
        problem = _vocabulary_problem(payload["vocabulary"])
        if problem:
            raise FileFormatError(f"tokenizer file {path}: key 'vocabulary' {problem}")
        return cls(payload["vocabulary"], max_length=max_length)

    # ----------------------------------------------------------------- identity
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WordTokenizer):
            return NotImplemented
        return self.max_length == other.max_length and self._vocabulary == other._vocabulary

    def __hash__(self) -> int:
        return hash((self.max_length, self._vocabulary))

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={self.vocab_size}, max_length={self.max_length}, fingerprint={self.fingerprint[:12]})"


def _vocabulary_problem(vocabulary) -> str | None:
    """Why ``vocabulary`` is not a valid token list (specials first, unique words), or None."""
    if isinstance(vocabulary, (str, bytes)) or not isinstance(vocabulary, (list, tuple)):
        return f"must be a list of strings, got {type(vocabulary).__name__}"
    specials = WordTokenizer.SPECIALS
    if tuple(vocabulary[: len(specials)]) != specials:
        return f"must start with the specials {list(specials)}, got {list(vocabulary[:len(specials)])!r}"
    seen = set(specials)
    for position in range(len(specials), len(vocabulary)):
        word = vocabulary[position]
        if not isinstance(word, str):
            return f"entry {position} must be a string, got {type(word).__name__}"
        if word in seen:
            return f"entry {position} repeats {word!r}: tokens must be unique"
        if WordTokenizer.words(word) != [word]:
            return f"entry {position} ({word[:40]!r}) is not a lower-case word the tokenizer can produce"
        seen.add(word)
    return None


__all__ = ["WordTokenizer", "FORMAT", "VERSION"]
