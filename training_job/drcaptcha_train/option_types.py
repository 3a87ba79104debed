"""The one set of argparse types for whole-number options: the `drcaptcha` commands, the training job and the
benchmarks all use these.

They live in the training job's package because its image holds only `drcaptcha` and `drcaptcha_train`
(training_job/Dockerfile); the CLI already imports this package for `drcaptcha train`.
"""

from __future__ import annotations

import argparse


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from error


def positive_int(text: str) -> int:
    """A count of at least 1: `--limit 500`."""
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def non_negative_int(text: str) -> int:
    """A count that may be 0: `--bots 0`."""
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def distinct_positive_ints(text: str) -> list[int]:
    """An option like `--clients 1,4` or `--burst 1,10`: distinct positive numbers, separated by commas."""
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, e.g. 1,4; got {text!r}") from None
    if not numbers or min(numbers) < 1 or len(set(numbers)) != len(numbers):
        raise argparse.ArgumentTypeError(f"expected distinct numbers of at least 1, e.g. 1,4; got {text!r}")
    return numbers
