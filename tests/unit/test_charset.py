"""The 47 classes, the EMNIST merge rule, answer normalisation and the ByClass mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from drcaptcha.charset import (
    BYCLASS_CHARACTERS,
    BYCLASS_TO_BALANCED,
    CLASSES,
    MERGED_LOWERCASE,
    NUM_CLASSES,
    character_of,
    class_of,
    matches,
    normalise_answer,
)


def read_mapping(path: Path) -> str:
    """The characters of an official `<label> <ASCII code>` mapping file, in label order."""
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    assert [int(label) for label, _ in rows] == list(range(len(rows)))
    return "".join(chr(int(code)) for _, code in rows)


def test_the_classes_are_the_official_balanced_mapping(emnist_dir: Path) -> None:
    assert NUM_CLASSES == 47
    assert read_mapping(emnist_dir / "emnist-balanced-mapping.txt") == CLASSES
    assert read_mapping(emnist_dir / "emnist-byclass-mapping.txt") == BYCLASS_CHARACTERS


@pytest.mark.parametrize("typed", ["o", "O"])
def test_a_merged_letter_matches_its_class_in_either_case(typed: str) -> None:
    assert matches(CLASSES.index("O"), typed)


def test_a_letter_kept_apart_must_have_the_right_case() -> None:
    capital_a, small_a = CLASSES.index("A"), CLASSES.index("a")

    assert not matches(capital_a, "a")
    assert not matches(small_a, "A")
    assert matches(small_a, "a")
    assert matches(capital_a, "A")


def test_every_merged_lowercase_letter_names_its_capital_class() -> None:
    for letter in MERGED_LOWERCASE:
        assert class_of(letter) == CLASSES.index(letter.upper()), letter
        assert letter not in CLASSES


@pytest.mark.parametrize("typed", ["", "ab", "?", " ", "é"])
def test_anything_but_one_known_character_names_no_class(typed: str) -> None:
    assert class_of(typed) is None


def test_character_of_inverts_class_of() -> None:
    assert [class_of(character_of(label)) for label in range(NUM_CLASSES)] == list(range(NUM_CLASSES))


def test_normalising_an_answer_drops_all_whitespace_and_keeps_case() -> None:
    assert normalise_answer("  a B\tc\n d ") == "aBcd"
    assert normalise_answer("\u00a0Xy\u2003z") == "Xyz"


def test_byclass_labels_map_to_balanced_classes_under_the_merge_rule() -> None:
    def balanced_of(character: str) -> str:
        return CLASSES[BYCLASS_TO_BALANCED[BYCLASS_CHARACTERS.index(character)]]

    assert len(BYCLASS_TO_BALANCED) == 62
    assert balanced_of("7") == "7"
    assert balanced_of("c") == "C"
    assert balanced_of("z") == "Z"
    assert balanced_of("a") == "a"
    assert balanced_of("t") == "t"
    assert balanced_of("Q") == "Q"
    assert sorted(set(BYCLASS_TO_BALANCED)) == list(range(NUM_CLASSES))
