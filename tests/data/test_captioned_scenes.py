"""Captioned scenes: determinism, splits, captions naming the label, second objects, style, grid."""

import re

import numpy as np
import pytest
import torch

from mmphase_bench.data import caption_grammar as grammar
from mmphase_bench.data.captioned_scenes import (
    BENCHMARK_GRID, LATENT_NAMES, PROTOCOL_VERSION, CaptionedScenes, GridCell, draw_scene, render_items,
)
from mmphase_bench.errors import InputError

SIZE = 32  # small images keep the file fast; the geometry does not depend on the size


def _scenes(**kwargs):
    options = dict(split="train", n=48, image_size=SIZE, seed=0)
    options.update(kwargs)
    return CaptionedScenes(**options)


def _words(text):
    return re.findall(r"[a-z]+(?:'[a-z]+)*", text.lower())


def _contains(text, phrase):
    words, target = _words(text), _words(phrase)
    return any(words[i:i + len(target)] == target for i in range(len(words) - len(target) + 1))


@pytest.fixture(scope="module")
def data():
    return _scenes(two_objects=0.5)


def test_items_are_images_in_unit_range_with_tokens_and_labels(data):
    image, tokens, target = data[3]
    assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0 and float(image.std()) > 0.05
    assert tokens.dtype == torch.int64 and tokens.shape == (data.tokenizer.max_length,)
    assert isinstance(target, int) and 0 <= target < 4 == data.n_classes
    assert data.class_names == ("cube", "cylinder", "sphere", "capsule")


def test_same_seed_same_bytes_and_batches_match_items(data):
    again = _scenes(two_objects=0.5)
    assert torch.equal(again[7][0], data[7][0]) and torch.equal(again[7][1], data[7][1])
    assert again.fingerprint == data.fingerprint
    whole = list(data.batches(batch_size=48))[0]
    pieces = list(data.batches(batch_size=7))
    assert torch.equal(whole.images, torch.cat([b.images for b in pieces]))
    assert torch.equal(whole.tokens, torch.cat([b.tokens for b in pieces]))
    assert torch.equal(whole.label, torch.cat([b.label for b in pieces]))
    assert whole.captions == [c for b in pieces for c in b.captions]
    for i in (0, 13, 47):
        image, tokens, target = data[i]
        assert torch.equal(image, whole.images[i]) and torch.equal(tokens, whole.tokens[i]) and target == int(whole.label[i])
        assert whole.captions[i] == data.caption(i)
    other_seed = _scenes(two_objects=0.5, seed=1)
    assert not torch.equal(other_seed[7][0], data[7][0]) and other_seed.fingerprint != data.fingerprint


def test_latents_are_reported(data):
    batch = next(iter(data.batches(batch_size=8)))
    latents = data.latents(np.arange(8))
    assert set(LATENT_NAMES) <= set(latents)
    for name in LATENT_NAMES:
        assert latents[name].shape == (8,) and latents[name].dtype == torch.float32
    assert float(latents["azimuth"].abs().max()) <= 30.0 and float(latents["object_hue"].max()) < 1.0
    assert "shape_class" not in latents and "object_colour_class" in latents
    for name in ("object_hue", "scale", "azimuth"):
        if name in batch.latents:  # when the base class forwards the hook's latents
            assert torch.equal(batch.latents[name].cpu(), latents[name])


def test_splits_draw_from_different_generators():
    train, val, test = (_scenes(split=s, n=8) for s in ("train", "val", "test"))
    keys = ("shape", "colour", "scale", "lateral", "depth", "azimuth")
    drawn = {name: [tuple(d.scene(i)[k] for k in keys) for i in range(8)] for name, d in (("train", train), ("val", val), ("test", test))}
    assert not set(drawn["train"]) & set(drawn["val"]) and not set(drawn["val"]) & set(drawn["test"])
    assert not torch.equal(train[0][0], val[0][0]) and not torch.equal(val[0][0], test[0][0])
    assert len({d.fingerprint for d in (train, val, test)}) == 3


def test_item_latents_do_not_depend_on_other_items_or_two_objects():
    scene = draw_scene(0, "train", 11)
    assert scene == draw_scene(0, "train", 11) and scene != draw_scene(0, "train", 12)
    one, two = _scenes(n=12), _scenes(n=12, two_objects=1.0)
    assert one.scene(11) == two.scene(11) and one._label_of(11) == two._label_of(11)


@pytest.mark.parametrize("label", ["shape", "object_colour", "size", "position"])
def test_every_caption_names_the_label_and_no_word_is_unknown(label):
    data = _scenes(n=60, label=label, two_objects=0.5, style_strength=0.5)
    assert data.class_names == grammar.FACTOR_CLASSES[label]
    unknown = data.tokenizer.id_of("<unk>")
    for i in range(60):
        value = data._label_of(i)
        captions = data._captions_of(i)
        assert len(set(captions)) >= 4  # several options for the per-epoch choice
        for text in captions:
            assert any(_contains(text, p) for p in grammar.label_phrases(label, value)), (label, text)
        shown = data.caption(i)  # the style prefix included
        ids = data.tokenizer.encode(shown)
        assert unknown not in ids, shown
        assert ids[-1] == data.tokenizer.eos_id  # not truncated: the label phrase survives
    # unknown words are unknown (the check above could fail)
    assert unknown in data.tokenizer.encode("a chartreuse dodecahedron")


def test_caption_choice_changes_with_the_epoch():
    data = _scenes(n=30, style_strength=0.0)
    first = [data.caption(i) for i in range(30)]
    data.set_epoch(1)
    second = [data.caption(i) for i in range(30)]
    assert sum(a != b for a, b in zip(first, second)) >= 10
    assert all(c in data._captions_of(i) for i, c in enumerate(second))  # no style prefix at strength 0


def test_labels_are_roughly_uniform():
    for label, classes in (("shape", 4), ("object_colour", 8), ("size", 3), ("position", 3)):
        data = _scenes(n=1200, label=label)
        counts = np.bincount([data._label_of(i) for i in range(1200)], minlength=classes)
        expected = 1200 / classes
        assert counts.size == classes and np.all(np.abs(counts - expected) < 5 * np.sqrt(expected)), (label, counts)


def test_second_object_adds_pixels_and_is_mentioned():
    one, two = _scenes(n=24), _scenes(n=24, two_objects=1.0)
    scenes = [one.scene(i) for i in range(24)]
    background = render_items(scenes, np.zeros(24, bool), size=SIZE)
    plain = one._base_images(np.arange(24))
    doubled = two._base_images(np.arange(24))
    assert torch.equal(plain, background)
    changed = (doubled != plain).any(dim=1).flatten(1).sum(dim=1)
    assert int((changed > 3).sum()) >= 22  # the second object shows in (nearly) every image
    assert all("smaller" in c for i in range(24) for c in two._captions_of(i))
    assert not any("smaller" in c for i in range(24) for c in one._captions_of(i))
    assert float(two.latents(np.arange(24))["second_object"].min()) == 1.0


def test_second_object_is_depth_tested_against_the_first():
    # Put the second object right behind the first on the camera axis: the first hides it.
    scene = dict(draw_scene(0, "train", 0))
    scene.update(shape=0, scale=1.2, lateral=0.0, azimuth=0.0, x=0.0, z=0.5, object_yaw=0.0,
                 second_shape=2, second_scale=0.45, second_x=0.0, second_z=-0.5, second_yaw=0.0)
    hidden = render_items([scene], np.ones(1, bool), size=SIZE)
    alone = render_items([scene], np.zeros(1, bool), size=SIZE)
    assert torch.equal(hidden, alone)
    scene.update(second_x=0.0, second_z=2.0)  # now in front: it shows
    shown = render_items([scene], np.ones(1, bool), size=SIZE)
    assert int((shown != alone).any(dim=1).sum()) > 10


def test_style_strength_changes_the_image_and_caption():
    plain, styled = _scenes(n=6, style_strength=0.0), _scenes(n=6, style_strength=0.5)
    a, b = plain[2][0], styled[2][0]
    assert float((a - b).abs().mean()) > 0.01
    assert torch.equal(plain._base_image(2), styled._base_image(2))  # the scene is the same
    assert styled.caption(2) != plain.caption(2) and styled.caption(2).endswith(plain.caption(2))


def test_grid_cells_and_errors():
    assert list(BENCHMARK_GRID) == ["style0", "style0.2", "style0.5", "style0.2-jitter0.5", "style0.5-jitter0.5"]
    assert all(isinstance(cell, GridCell) for cell in BENCHMARK_GRID.values())
    with pytest.raises(Exception):
        BENCHMARK_GRID["style0"].style_strength = 1.0  # frozen
    data = CaptionedScenes.from_grid("style0.5-jitter0.5", n=4, image_size=SIZE)
    assert data.style.to_dict()["strength"] == 0.5 and data.style.to_dict()["jitter"] == 0.5
    assert PROTOCOL_VERSION == "captioned-scenes/1"
    with pytest.raises(InputError, match="cell"):
        CaptionedScenes.from_grid("style0.3")
    with pytest.raises(InputError, match="style_strength"):
        CaptionedScenes.from_grid("style0", style_strength=0.5)


@pytest.mark.parametrize("kwargs, name", [
    ({"split": "training"}, "split"), ({"n": 0}, "n"), ({"label": "material"}, "label"),
    ({"two_objects": 1.5}, "two_objects"), ({"seed": -1}, "seed"), ({"image_size": 4}, "image_size"),
    ({"device": "nonsense"}, "device"), ({"min_frequency": 0}, "min_frequency"),
])
def test_arguments_are_validated_with_one_line_naming_them(kwargs, name):
    with pytest.raises(InputError, match=name) as caught:
        _scenes(**kwargs)
    assert "\n" not in str(caught.value)


def test_index_errors():
    data = _scenes(n=4)
    with pytest.raises(IndexError):
        data.scene(4)
    with pytest.raises(InputError, match="index"):
        data.scene("1")


def test_label_mention_leaves_the_label_out_of_some_captions():
    full, partial = _scenes(n=80), _scenes(n=80, label_mention=0.4)
    named = np.array([partial.label_named(i) for i in range(80)])
    assert 0.3 < named.mean() < 0.5 and full.label_mention == 1.0
    generic = 0
    for i in range(80):
        value = partial._label_of(i)
        for k, text in enumerate(partial._captions_of(i)):
            mentions = any(_contains(text, p) for p in grammar.label_phrases("shape", value))
            if named[i, k]:
                assert mentions
            else:  # the main object's noun is generic (a second object may still be named)
                generic += any(_contains(text, noun) for noun in grammar.GENERIC_NOUNS)
                assert not mentions or partial.has_second_object(i)
    assert generic == int((~named).sum())
    assert full._captions_of(5) == _scenes(n=80, label_mention=1.0)._captions_of(5)
    assert partial.fingerprint != full.fingerprint
    unknown = partial.tokenizer.id_of("<unk>")
    assert all(unknown not in partial.tokenizer.encode(partial.caption(i)) for i in range(80))
    with pytest.raises(InputError, match="label_mention"):
        _scenes(label_mention=1.5)


@pytest.mark.parametrize("label", ["object_colour", "size", "position"])
def test_captions_without_the_label_do_not_name_it(label):
    data = _scenes(n=40, label=label, label_mention=0.0)
    for i in range(40):
        value = data._label_of(i)
        assert not any(_contains(text, p) for text in data._captions_of(i) for p in grammar.label_phrases(label, value)
                       if label != "object_colour" or not data.has_second_object(i))
