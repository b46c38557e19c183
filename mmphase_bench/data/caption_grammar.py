"""The caption grammar of the captioned scenes: synonyms, varied word order, optional clauses.

The image-caption experiment of Kamai et al. 2026 pairs each image with captions that describe it;
the captioned-scenes data set (the image-text suite's offline default, still being built) renders its
own scenes, so it writes its own captions with this small grammar. A caption describes the *main* object (its shape, colour,
size, position left / centre / right and front / back), optionally the room (floor and wall colours)
and, when there is one, the smaller second object. Every phrase has synonyms ("cube" / "box" /
"block", "on the left" / "to the left", ...), one of several templates fixes the word order ("a red
cube on the left ...", "on the left, a small red block ...", "there is a ...", "the red box stands
..."), and each optional clause is present with probability 1/2 -- except the clause of the *label*
factor, which every caption names (through one of its synonyms), and the main object's noun, which
is always there (the caption names the object it describes).

Everything the grammar can write is listed in :func:`vocabulary_phrases`, so a tokenizer can be
fitted on the whole vocabulary without generating the captions of a training split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from mmphase_bench.errors import InputError
from mmphase_bench.validation import check_choice

#: Bumped whenever the captions written for a given scene and generator change.
GRAMMAR_VERSION = 1
SHAPE_NAMES = ("cube", "cylinder", "sphere", "capsule")  #: the 3D Shapes order (Burgess and Kim, 2018)
COLOUR_NAMES = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink")
SIZE_NAMES = ("small", "medium", "large")
POSITION_NAMES = ("left", "centre", "right")
DEPTH_NAMES = ("front", "back")

#: The factors a caption can describe, with their class names (the label factors of the data set).
FACTOR_CLASSES: dict[str, tuple[str, ...]] = {
    "shape": SHAPE_NAMES,
    "object_colour": COLOUR_NAMES,
    "size": SIZE_NAMES,
    "position": POSITION_NAMES,
}

SHAPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "cube": ("cube", "box", "block"),
    "cylinder": ("cylinder", "tube", "drum"),
    "sphere": ("sphere", "ball"),
    "capsule": ("capsule", "pill"),
}
COLOUR_SYNONYMS: dict[str, tuple[str, ...]] = {
    "red": ("red",), "orange": ("orange",), "yellow": ("yellow",), "green": ("green",),
    "cyan": ("cyan", "turquoise"), "blue": ("blue",), "purple": ("purple", "violet"), "pink": ("pink",),
}
SIZE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "small": ("small", "little", "tiny"),
    "medium": ("medium", "midsize", "average"),
    "large": ("large", "big", "huge"),
}
POSITION_SYNONYMS: dict[str, tuple[str, ...]] = {
    "left": ("on the left", "to the left", "at the left"),
    "centre": ("in the centre", "in the middle", "at the centre"),
    "right": ("on the right", "to the right", "at the right"),
}
DEPTH_SYNONYMS: dict[str, tuple[str, ...]] = {
    "front": ("in the front", "in the foreground", "near the camera"),
    "back": ("at the back", "in the background", "far from the camera"),
}
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "shape": SHAPE_SYNONYMS, "object_colour": COLOUR_SYNONYMS, "size": SIZE_SYNONYMS, "position": POSITION_SYNONYMS,
}
#: Room clauses: {floor} and {wall} are colour words.
FLOOR_PHRASES = ("on a {floor} floor", "on {floor} ground", "standing on a {floor} floor")
WALL_PHRASES = ("in front of a {wall} wall", "against a {wall} wall", "in a room with {wall} walls")
ROOM_PHRASES = ("in a {wall} room with a {floor} floor", "in a room with {wall} walls and a {floor} floor")
#: The second (always smaller) object: {np} is its noun phrase without the article.
SECOND_PHRASES = ("next to a smaller {np}", "beside a smaller {np}", "and a smaller {np}", "with a smaller {np} nearby")
VERBS = ("stands", "sits", "rests", "is")
OPENERS = ("a picture of", "an image of", "a render of", "a view of")
#: The main object's noun in a caption that does not name its shape (``name_label=False``, label "shape").
GENERIC_NOUNS = ("object", "thing", "shape")
#: Word-order templates. Slots: {np} "a small red cube", {the_np} "the small red cube", {where} the
#: position / depth phrase (may be empty), {room}, {second} (may be empty), {verb}, {opener}. The
#: second object always comes after the main object's position, so that position is not ambiguous.
TEMPLATES = (
    "{np} {where} {second} {room}",
    "{where}, {np} {second} {room}",
    "there is {np} {where} {room} {second}",
    "{opener} {np} {where} {second} {room}",
    "{the_np} {verb} {where} {room} {second}",
    "{room}, there is {np} {where} {second}",
)
#: Probability of each optional clause (size, colour, position, depth, room).
CLAUSE_PROBABILITY = 0.5
#: The longest caption, in words (as the tokenizer splits them), before optional clauses are dropped.
MAX_WORDS = 18
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_SPACES = re.compile(r"\s+")
_SPACE_COMMA = re.compile(r"\s+,")
_DRAWS_PER_CAPTION = 18  #: uniform numbers one caption consumes
_A_VOWEL = re.compile(r"\ba ([aeiou])")  # "a orange floor" -> "an orange floor"


@dataclass(frozen=True)
class SceneDescription:
    """What a caption may say about one scene (class indices into the ``*_NAMES`` tuples)."""

    shape: int
    colour: int
    size: int
    position: int
    depth: int
    floor_colour: int
    wall_colour: int
    second_shape: int | None = None  #: None: no second object
    second_colour: int | None = None

    def factor(self, name: str) -> int:
        """The class index of a label factor (one of :data:`FACTOR_CLASSES`)."""
        check_choice("label", name, tuple(FACTOR_CLASSES))
        return {"shape": self.shape, "object_colour": self.colour, "size": self.size, "position": self.position}[name]


def article(word: str) -> str:
    """'an' before a vowel sound of the grammar's words, else 'a'."""
    return "an" if word[0] in "aeiou" else "a"


def _pick(uniform: float, options: tuple):
    """The option a uniform number in [0, 1) selects (each with probability 1 / len(options))."""
    return options[min(int(uniform * len(options)), len(options) - 1)]


def caption(scene: SceneDescription, rng: np.random.Generator, *, label: str = "shape", name_label: bool = True) -> str:
    """One caption of ``scene`` drawn with ``rng`` (lower case; words, spaces and commas).

    The label factor's clause is always present (``name_label=False``: always absent; for the shape
    the noun becomes one of :data:`GENERIC_NOUNS`, drawn with the same number, so every other word
    of the caption is the one ``name_label=True`` writes); size, colour, position, depth and the room each
    appear with probability :data:`CLAUSE_PROBABILITY`; the second object, when there is one, is
    always mentioned (with its colour with probability 1/2). A caption longer than
    :data:`MAX_WORDS` words loses its optional clauses (room, then depth, then size, then colour)
    until it fits, so that a style prefix and the caption fit in a tokenizer's 32 tokens.
    """
    check_choice("label", label, tuple(FACTOR_CLASSES))
    u = iter(rng.random(_DRAWS_PER_CAPTION).tolist())  # one call: all the caption's choices
    include = {name: next(u) < CLAUSE_PROBABILITY for name in ("size", "colour", "position", "depth", "room")}
    required = {"size": label == "size", "colour": label == "object_colour", "position": label == "position"}
    for name, needed in required.items():
        if needed:
            include[name] = bool(name_label)
    size = _pick(next(u), SIZE_SYNONYMS[SIZE_NAMES[scene.size]])
    colour = _pick(next(u), COLOUR_SYNONYMS[COLOUR_NAMES[scene.colour]])
    noun_draw = next(u)
    noun = _pick(noun_draw, SHAPE_SYNONYMS[SHAPE_NAMES[scene.shape]] if name_label or label != "shape" else GENERIC_NOUNS)
    position = _pick(next(u), POSITION_SYNONYMS[POSITION_NAMES[scene.position]])
    depth = _pick(next(u), DEPTH_SYNONYMS[DEPTH_NAMES[scene.depth]])
    floor, wall = COLOUR_NAMES[scene.floor_colour], COLOUR_NAMES[scene.wall_colour]
    room_kind = _pick(next(u), (FLOOR_PHRASES, WALL_PHRASES, ROOM_PHRASES))
    room = _pick(next(u), room_kind).format(floor=floor, wall=wall)
    second = ""
    second_noun = _pick(next(u), SHAPE_SYNONYMS[SHAPE_NAMES[scene.second_shape if scene.second_shape is not None else 0]])
    second_coloured = next(u) < 0.5
    second_phrase = _pick(next(u), SECOND_PHRASES)
    if scene.second_shape is not None:
        colour_word = f"{COLOUR_NAMES[scene.second_colour]} " if scene.second_colour is not None and second_coloured else ""
        second = second_phrase.format(np=colour_word + second_noun)
    template, verb, opener = _pick(next(u), TEMPLATES), _pick(next(u), VERBS), _pick(next(u), OPENERS)
    if template.startswith("{the_np} {verb}") and (name_label or label != "position"):
        include["position"] = True  # "the red cube stands on the left", never "the red cube is"
    elif template.startswith("{the_np} {verb}"):
        include["depth"] = True  # the position is not named: "the red cube stands at the back"

    def compose() -> str:
        bare = " ".join(word for word, shown in ((size, include["size"]), (colour, include["colour"]), (noun, True)) if shown)
        where = " ".join(phrase for phrase, shown in ((position, include["position"]), (depth, include["depth"])) if shown)
        form = template
        if not where and form.startswith("{where},"):
            form = form.replace("{where}, ", "", 1)
        if not include["room"] and form.startswith("{room},"):
            form = form.replace("{room}, ", "", 1)
        text = form.format(
            np=f"{article(bare)} {bare}", the_np=f"the {bare}", where=where, room=room if include["room"] else "",
            second=second, verb=verb, opener=opener,
        )
        return _A_VOWEL.sub(r"an \1", _SPACE_COMMA.sub(",", _SPACES.sub(" ", text)).strip())

    text = compose()
    for name in ("room", "depth", "size", "colour"):
        if len(_WORD.findall(text)) <= MAX_WORDS:
            break
        if include[name] and not required.get(name, False):
            include[name] = False
            text = compose()
    return text


def captions(scene: SceneDescription, rng: np.random.Generator, count: int, *, label: str = "shape", tries: int = 8,
             name_label: bool = True) -> list[str]:
    """``count`` captions of ``scene``, distinct when the grammar allows (at most ``tries * count`` draws)."""
    if count < 1:
        raise InputError(f"captions_per_item must be >= 1, got {count}")
    found: list[str] = []
    for _ in range(tries * count):
        text = caption(scene, rng, label=label, name_label=name_label)
        if text not in found:
            found.append(text)
            if len(found) == count:
                break
    while len(found) < count:  # a scene the grammar cannot describe in ``count`` ways (never seen)
        found.append(found[len(found) % max(1, len(found))])
    return found


def label_phrases(label: str, value: int) -> tuple[str, ...]:
    """The synonyms through which a caption names class ``value`` of the label factor."""
    check_choice("label", label, tuple(FACTOR_CLASSES))
    return SYNONYMS[label][FACTOR_CLASSES[label][value]]


def vocabulary_phrases() -> list[str]:
    """Every literal the grammar writes (synonyms, clause and template words), in a fixed order.

    Fitting a tokenizer on these (each repeated ``min_frequency`` times) gives it the grammar's whole
    vocabulary: no caption of the grammar then contains an unknown word, in any split.
    """
    phrases: list[str] = []
    for table in (SHAPE_SYNONYMS, COLOUR_SYNONYMS, SIZE_SYNONYMS, POSITION_SYNONYMS, DEPTH_SYNONYMS):
        for options in table.values():
            phrases.extend(options)
    slot = re.compile(r"\{[a-z_]+\}")
    phrases.extend(GENERIC_NOUNS)
    for group in (FLOOR_PHRASES, WALL_PHRASES, ROOM_PHRASES, SECOND_PHRASES, VERBS, OPENERS, TEMPLATES):
        phrases.extend(_SPACES.sub(" ", slot.sub(" ", phrase)).strip() for phrase in group)
    phrases.extend(("a", "an", "the"))
    return [phrase for phrase in phrases if phrase.strip(" ,")]


__all__ = [
    "SceneDescription", "caption", "captions", "label_phrases", "vocabulary_phrases", "FACTOR_CLASSES",
    "SHAPE_NAMES", "COLOUR_NAMES", "SIZE_NAMES", "POSITION_NAMES", "DEPTH_NAMES", "SYNONYMS", "TEMPLATES",
]
