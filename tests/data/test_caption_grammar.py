"""The captioned scenes' grammar: label always named, synonyms and word orders used, vocabulary complete."""

import re

import numpy as np
import pytest

from mmphase_bench.data import caption_grammar as grammar
from mmphase_bench.errors import InputError


def _words(text):
    return re.findall(r"[a-z]+(?:'[a-z]+)*", text.lower())


def _contains(text, phrase):
    """``phrase`` occurs in ``text`` as whole words."""
    words, target = _words(text), _words(phrase)
    return any(words[i:i + len(target)] == target for i in range(len(words) - len(target) + 1))


def _scenes(count, seed=0, second=False):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield grammar.SceneDescription(
            shape=int(rng.integers(4)), colour=int(rng.integers(8)), size=int(rng.integers(3)),
            position=int(rng.integers(3)), depth=int(rng.integers(2)), floor_colour=int(rng.integers(8)),
            wall_colour=int(rng.integers(8)), second_shape=int(rng.integers(4)) if second else None,
            second_colour=int(rng.integers(8)) if second else None,
        )


@pytest.mark.parametrize("label", grammar.FACTOR_CLASSES)
def test_every_caption_names_the_label(label):
    rng = np.random.default_rng(1)
    for scene in _scenes(150, second=label == "shape"):
        value = scene.factor(label)
        for text in grammar.captions(scene, rng, 5, label=label):
            assert any(_contains(text, phrase) for phrase in grammar.label_phrases(label, value)), (label, text)
            # the main object's noun is always there
            assert any(_contains(text, noun) for noun in grammar.SHAPE_SYNONYMS[grammar.SHAPE_NAMES[scene.shape]]), text


def test_wrong_label_names_the_argument():
    scene = next(_scenes(1))
    with pytest.raises(InputError, match="label"):
        grammar.caption(scene, np.random.default_rng(0), label="material")
    with pytest.raises(InputError, match="captions_per_item"):
        grammar.captions(scene, np.random.default_rng(0), 0)


def test_captions_vary_in_synonyms_word_order_and_clauses():
    rng = np.random.default_rng(2)
    texts = [t for scene in _scenes(200, second=True) for t in grammar.captions(scene, rng, 5)]
    nouns = {w for t in texts for w in _words(t)} & {n for s in grammar.SHAPE_SYNONYMS.values() for n in s}
    assert nouns == {n for s in grammar.SHAPE_SYNONYMS.values() for n in s}  # every synonym is used
    starts = {t.split()[0] for t in texts}
    assert {"a", "an", "there", "the", "on", "in", "to", "at"} <= starts  # word orders
    lengths = [len(_words(t)) for t in texts]
    single = [len(_words(t)) for scene in _scenes(200) for t in grammar.captions(scene, rng, 5)]
    assert min(single) <= 3 and max(lengths) >= 14  # optional clauses
    assert max(lengths + single) <= grammar.MAX_WORDS
    assert all(t == t.strip() and "  " not in t and not t.startswith(",") for t in texts)
    assert not any(re.search(r"\ba [aeiou]", t) for t in texts)  # articles agree ("an orange")


def test_captions_are_distinct_and_deterministic():
    scene = next(_scenes(1))
    first = grammar.captions(scene, np.random.default_rng(5), 5)
    assert first == grammar.captions(scene, np.random.default_rng(5), 5)
    assert len(set(first)) == 5


def test_second_object_is_mentioned_after_the_main_position():
    rng = np.random.default_rng(3)
    for scene in _scenes(50, second=True):
        for text in grammar.captions(scene, rng, 5, label="position"):
            assert "smaller" in text
            where = min(text.find(p) for p in grammar.label_phrases("position", scene.position) if p in text)
            assert where < text.find("smaller"), text


def test_vocabulary_phrases_cover_every_caption():
    vocabulary = {w for phrase in grammar.vocabulary_phrases() for w in _words(phrase)}
    rng = np.random.default_rng(4)
    for label in grammar.FACTOR_CLASSES:
        for scene in _scenes(100, second=True):
            for text in grammar.captions(scene, rng, 5, label=label):
                assert set(_words(text)) <= vocabulary, text
    assert "cube" in vocabulary and "turquoise" in vocabulary and "{" not in " ".join(grammar.vocabulary_phrases())
