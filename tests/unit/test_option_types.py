"""The argparse types of whole-number options, which every command, the training job and the benches use."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from drcaptcha_train.option_types import distinct_positive_ints, non_negative_int, positive_int


def test_counts_are_read_as_whole_numbers() -> None:
    assert (positive_int("1"), positive_int("500"), non_negative_int("0")) == (1, 500, 0)
    assert distinct_positive_ints("1,4, 16") == [1, 4, 16]


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (positive_int, "0", "must be at least 1: 0"),
        (positive_int, "many", "not a whole number: 'many'"),
        (positive_int, "2.5", "not a whole number: '2.5'"),
        (non_negative_int, "-1", "must not be negative: -1"),
        (non_negative_int, "", "not a whole number: ''"),
        (distinct_positive_ints, "1,x", "expected numbers separated by commas"),
        (distinct_positive_ints, "4,4", "expected distinct numbers of at least 1"),
        (distinct_positive_ints, "0,1", "expected distinct numbers of at least 1"),
        (distinct_positive_ints, ",", "expected distinct numbers of at least 1"),
    ],
)
def test_anything_else_is_refused_with_what_was_wrong(parse: Callable[[str], object], text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)
