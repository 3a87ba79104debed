"""How a typed answer is read: whitespace dropped, case kept where the EMNIST merge rule keeps it, length exact."""

from __future__ import annotations

import pytest

from drcaptcha import charset
from drcaptcha.challenges import NO_CLASS, typed_labels


def labels_of(text: str) -> list[int]:
    return [label for character in text if (label := charset.class_of(character)) is not None]


def test_whitespace_anywhere_in_the_answer_is_ignored() -> None:
    typed = charset.normalise_answer(" 4 7\tK\nab 9 ")

    assert typed_labels(typed) == labels_of("47Kab9")


@pytest.mark.parametrize("merged", list("cijklmopsuvwxyz"))
def test_a_merged_letter_may_be_typed_in_either_case(merged: str) -> None:
    lower = typed_labels(f"{merged}00000")
    upper = typed_labels(f"{merged.upper()}00000")

    assert lower == upper
    assert lower is not None and lower[0] == charset.CLASSES.index(merged.upper())


@pytest.mark.parametrize("kept_apart", list("abdefghnqrt"))
def test_a_letter_kept_apart_must_be_typed_in_its_case(kept_apart: str) -> None:
    lower = typed_labels(f"{kept_apart}00000")
    upper = typed_labels(f"{kept_apart.upper()}00000")

    assert lower is not None and upper is not None
    assert lower[0] != upper[0]
    assert lower[0] == charset.CLASSES.index(kept_apart)


@pytest.mark.parametrize("answer", ["", "12345", "1234567", "1 2 3 4 5"])
def test_an_answer_of_the_wrong_length_fails_before_any_comparison(answer: str) -> None:
    assert typed_labels(charset.normalise_answer(answer)) is None


def test_a_character_outside_the_classes_matches_no_label() -> None:
    labels = typed_labels("12?4é6")

    assert labels is not None
    assert labels[2] == NO_CLASS and labels[4] == NO_CLASS
    assert NO_CLASS not in range(charset.NUM_CLASSES)
