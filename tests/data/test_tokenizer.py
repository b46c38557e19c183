"""The word tokenizer of the caption views: fitting, encoding, padding, files and fingerprints."""

import json

import pytest
import torch

from mmphase_bench.data.tokenizer import WordTokenizer
from mmphase_bench.errors import FileFormatError, InputError, InputTypeError, MissingFileError

CAPTIONS = ["A red cube on the left.", "a red ball", "A blue cube, small!", "the cube's side"]


def test_fit_keeps_frequent_words_after_the_specials():
    tokenizer = WordTokenizer.fit(CAPTIONS, min_frequency=2, max_length=8)
    assert tokenizer.vocabulary[:4] == WordTokenizer.SPECIALS
    assert set(tokenizer.vocabulary[4:]) == {"a", "red", "cube", "the"}  # each seen at least twice
    assert tokenizer.vocab_size == 8 and tokenizer.pad_id == 0
    assert "blue" not in tokenizer and tokenizer.id_of("blue") == tokenizer.unk_id
    forced = WordTokenizer.fit(CAPTIONS, min_frequency=2, include=["grainy photo"])
    assert {"grainy", "photo"} <= set(forced.vocabulary)


def test_encode_batch_pads_truncates_and_decodes():
    tokenizer = WordTokenizer.fit(CAPTIONS, min_frequency=1, max_length=5)
    batch = tokenizer.encode_batch(["a red cube", "a red cube on the left"])
    assert batch.dtype == torch.int64 and batch.shape == (2, 5)
    assert batch[0].tolist()[:1] == [tokenizer.bos_id] and batch[0, 4] == tokenizer.eos_id and batch[1, 4] == tokenizer.eos_id
    assert tokenizer.decode(batch[0]) == "a red cube"
    assert tokenizer.decode(batch[1]) == "a red cube"  # max_length counts <bos> and <eos>
    assert WordTokenizer.words("The cube's SIDE, left.") == ["the", "cube's", "side", "left"]
    with pytest.raises(InputTypeError, match="texts"):
        tokenizer.encode_batch("a red cube")


def test_save_load_round_trip_and_fingerprint(tmp_path):
    tokenizer = WordTokenizer.fit(CAPTIONS, min_frequency=1)
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    loaded = WordTokenizer.load(path)
    assert loaded == tokenizer and loaded.fingerprint == tokenizer.fingerprint
    assert WordTokenizer.fit(CAPTIONS, min_frequency=2).fingerprint != tokenizer.fingerprint


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("vocabulary"), "missing"),
    (lambda d: d.update(max_length="32"), "max_length"),
    (lambda d: d.update(vocabulary=["a", "<pad>"]), "specials"),
    (lambda d: d["vocabulary"].append(d["vocabulary"][-1]), "vocabulary"),
])
def test_load_refuses_malformed_files(tmp_path, mutate, message):
    path = tmp_path / "tokenizer.json"
    WordTokenizer.fit(CAPTIONS, min_frequency=1).save(path)
    payload = json.loads(path.read_text())
    mutate(payload)
    path.write_text(json.dumps(payload))
    with pytest.raises(FileFormatError, match=message):
        WordTokenizer.load(path)
    with pytest.raises(MissingFileError):
        WordTokenizer.load(tmp_path / "absent.json")
    with pytest.raises(InputError, match="max_length"):
        WordTokenizer(list(WordTokenizer.SPECIALS), max_length=2)
