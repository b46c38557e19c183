"""The image-text base class: caption choice per epoch, style seeding per split, tokenizer handling."""

import numpy as np
import pytest
import torch

from mmphase_bench.data.image_text import STYLE_VOCABULARY, ImageTextPairs
from mmphase_bench.data.style import PHRASES, StyleNuisance
from mmphase_bench.data.tokenizer import WordTokenizer
from mmphase_bench.errors import InputError, InputTypeError


class TinyPairs(ImageTextPairs):
    """Ten flat-grey images whose captions say their index's parity."""

    dataset_name = "tiny"
    class_names = ("even", "odd")

    def __init__(self, n=10, **kwargs):
        self.n = n
        super().__init__(image_size=8, **kwargs)

    def __len__(self):
        return self.n

    def _base_image(self, index):
        return torch.full((3, 8, 8), 0.1 + 0.08 * (index % 10), dtype=torch.float32)

    def _captions_of(self, index):
        word = self.class_names[index % 2]
        return [f"an {word} square", f"a square that is {word}", f"{word} grey square", f"the {word} one"]

    def _label_of(self, index):
        return index % 2

    def _training_captions(self):
        return [c for i in range(self.n) for c in self._captions_of(i)]

    def _source_description(self):
        return {"n": self.n}


def test_items_batches_and_captions_agree():
    data = TinyPairs(style_strength=0.5)
    whole = data.batch(np.arange(10))
    assert whole.images.shape == (10, 3, 8, 8) and whole.tokens.shape == (10, 32) and whole.tokens.dtype == torch.int64
    for i in range(10):
        image, tokens, label = data[i]
        assert torch.equal(image, whole.images[i]) and torch.equal(tokens, whole.tokens[i]) and label == i % 2
        assert whole.captions[i] == data.caption(i)
        assert data.tokenizer.decode(tokens) == " ".join(WordTokenizer.words(data.caption(i)))
    pieces = list(data.batches(batch_size=3))
    assert [len(b) for b in pieces] == [3, 3, 3, 1]
    assert torch.equal(torch.cat([b.images for b in pieces]), whole.images)
    assert set(whole.latents) >= {"style_intensity", "style_member", "style_described", "style_aligned"}
    assert torch.equal(data.batch([7, 2, 7]).tokens[0], whole.tokens[7])  # order and repeats do not matter
    assert data[-1][2] == data[9][2]


def test_one_caption_per_epoch_chosen_by_seed():
    data = TinyPairs(n=200, style_strength=0.0)
    first = [data.caption(i) for i in range(200)]
    assert first == [data.caption(i) for i in range(200)]  # stable within an epoch
    data.set_epoch(3)
    later = [data.caption(i) for i in range(200)]
    changed = sum(a != b for a, b in zip(first, later))
    assert 100 <= changed <= 190  # 3 in 4 expected to change with four captions
    counts = np.bincount([data.caption_choice(i) for i in range(200)], minlength=4)
    assert counts.min() >= 25  # every caption is used
    other_seed = TinyPairs(n=200, style_strength=0.0, seed=1)
    other_seed.set_epoch(3)
    assert [other_seed.caption(i) for i in range(200)] != later
    with pytest.raises(InputError, match="epoch"):
        data.set_epoch(-1)


def test_style_is_prefixed_and_splits_draw_different_styles():
    train, val = TinyPairs(style_strength=0.5, split="train"), TinyPairs(style_strength=0.5, split="val")
    assert train.style_groups_per_image == 3
    assert train.style == StyleNuisance(0.5, 0.0, True, seed=0) and val.style == StyleNuisance(0.5, 0.0, True, seed=1)
    draws = [train.style.draw(i) for i in range(10)]
    assert all(train.caption(i).startswith(d.description()) for i, d in enumerate(draws))
    assert [d.groups for d in draws] != [val.style.draw(i).groups for i in range(10)]
    plain = TinyPairs(style_strength=0.5, style_in_caption=False)
    assert all(plain.caption(i) in plain._captions_of(i) for i in range(10))
    assert torch.equal(plain[4][0], train[4][0])  # the caption prefix does not touch the image
    assert not torch.equal(TinyPairs(style_strength=0.0)[4][0], train[4][0])


def test_fitted_tokenizer_knows_every_style_word_and_is_saved_and_reloaded(tmp_path):
    data = TinyPairs(style_strength=1.0, min_frequency=50)  # no caption word is that frequent
    words = set(data.tokenizer.vocabulary)
    assert set(WordTokenizer.words(STYLE_VOCABULARY)) <= words
    assert all(set(WordTokenizer.words(p)) <= words for p in PHRASES.values())
    assert "square" not in words
    path = tmp_path / "tok.json"
    data.tokenizer.save(path)
    again = TinyPairs(style_strength=1.0, tokenizer=str(path))
    assert again.tokenizer == data.tokenizer and again.fingerprint == data.fingerprint
    frequent = TinyPairs(style_strength=1.0)
    assert "square" in frequent.tokenizer.vocabulary and frequent.fingerprint != data.fingerprint
    with pytest.raises(InputError, match="max_length"):
        TinyPairs(tokenizer=data.tokenizer, max_length=16)
    assert TinyPairs(max_length=16).tokenizer.max_length == 16
    with pytest.raises(InputTypeError, match="tokenizer"):
        TinyPairs(tokenizer=42)


def test_fingerprint_follows_what_determines_the_items():
    base = TinyPairs()
    assert base.fingerprint == TinyPairs().fingerprint
    variants = [TinyPairs(seed=1), TinyPairs(split="val"), TinyPairs(style_strength=0.5), TinyPairs(style_jitter=0.5),
                TinyPairs(style_in_caption=False), TinyPairs(n=11)]
    assert len({base.fingerprint, *(v.fingerprint for v in variants)}) == 7
    base.set_epoch(2)
    assert base.fingerprint == TinyPairs().fingerprint


@pytest.mark.parametrize("kwargs, name", [
    ({"split": "dev"}, "split"), ({"style_strength": 1.5}, "style_strength"), ({"style_jitter": -0.1}, "style_jitter"),
    ({"style_in_caption": "yes"}, "style_in_caption"), ({"seed": -1}, "seed"), ({"max_length": 2}, "max_length"),
    ({"min_frequency": 0}, "min_frequency"),
])
def test_arguments_are_validated(kwargs, name):
    with pytest.raises(InputError, match=name) as caught:
        TinyPairs(**kwargs)
    assert "\n" not in str(caught.value)


def test_index_errors_and_repr():
    data = TinyPairs()
    with pytest.raises(IndexError):
        data[10]
    with pytest.raises(IndexError):
        data.batch([0, 10])
    with pytest.raises(InputTypeError, match="index"):
        data["1"]
    with pytest.raises(InputTypeError, match="indices"):
        data.batch([0.5])
    text = repr(data)
    assert text.startswith("TinyPairs(split='train', n=10, style_strength=0.2") and "1 style groups per image" in text


def test_captions_and_tokens_of_any_epoch_without_rendering():
    data = TinyPairs(style_strength=0.5)
    data.set_epoch(2)
    shown = data.batch(np.arange(10))
    assert data.captions_at_epoch(np.arange(10), 2) == shown.captions
    assert torch.equal(data.tokens_at_epoch(np.arange(10), 2), shown.tokens)
    assert data.captions_at_epoch([3], 0) != data.captions_at_epoch([3], 2) or data.caption_choice(3, 0) == data.caption_choice(3, 2)
    with pytest.raises(InputError, match="epoch"):
        data.tokens_at_epoch([0], -1)
