"""The 47 EMNIST Balanced classes, the merge rule, and answer normalisation.

EMNIST Balanced merges the lower-case letters whose shape matches their capital (c i j k l m o p s u v w x y z)
into the upper-case class. So for those letters either case is the right answer; for the eleven lower-case
letters kept apart (a b d e f g h n q r t) and for every other class, case matters.
"""

from __future__ import annotations

from typing import Final

CLASSES: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt"
NUM_CLASSES: Final = len(CLASSES)
MERGED_LOWERCASE: Final = frozenset("cijklmopsuvwxyz")
# The 62 case-sensitive ByClass labels: 0-9, A-Z, a-z.
BYCLASS_CHARACTERS: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

_INDEX: Final = {character: index for index, character in enumerate(CLASSES)}


def class_of(character: str) -> int | None:
    """The class index that a typed character belongs to, or None if it names no class."""
    if len(character) != 1:
        return None
    if character in MERGED_LOWERCASE:
        character = character.upper()
    return _INDEX.get(character)


def character_of(label: int) -> str:
    return CLASSES[label]


def matches(label: int, typed: str) -> bool:
    """Whether `typed` is a right answer for a glyph of class `label`, under the merge rule."""
    return class_of(typed) == label


def normalise_answer(answer: str) -> str:
    """Drop whitespace; case is kept, since it matters for the classes that were not merged."""
    return "".join(answer.split())


def byclass_to_balanced(byclass_label: int) -> int:
    """Map a 62-class ByClass label to its 47-class Balanced label."""
    label = class_of(BYCLASS_CHARACTERS[byclass_label])
    if label is None:  # pragma: no cover - every ByClass character maps
        raise ValueError(f"no balanced class for byclass label {byclass_label}")
    return label


BYCLASS_TO_BALANCED: Final = tuple(byclass_to_balanced(label) for label in range(len(BYCLASS_CHARACTERS)))
