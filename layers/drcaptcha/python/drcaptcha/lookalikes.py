"""Lookalike groups: classes that people cannot tell apart in handwriting, such as 0 and O.

The table is data, not a choice made here: `python -m bench.derive_lookalikes` derives it from a trained
network's confusion matrix and from people's readings of real captchas, and writes `lookalikes.json` beside
this module (the rule, its threshold and every candidate pair's figures: docs/BENCHMARKS.md, "Lookalike
groups"). How the groups are used:
- a scored glyph accepts any reading in its class's group, on top of the EMNIST merge rule (charset.py);
- a vote on an unlabelled glyph keeps the exact class typed, so labels stay exact;
- before any gold readings exist, a known glyph whose class is in a group is never scored (selection.py);
- the widget says which characters count as the same (`equivalence_hint`, copied into web/widget.js).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from drcaptcha import charset

TABLE_FILE: Final = Path(__file__).with_name("lookalikes.json")

Groups = tuple[frozenset[int], ...]


def groups_of_characters(groups: Iterable[Sequence[str]]) -> Groups:
    """Class-index groups from groups of class characters (`[["0", "O"], ...]`); each class in one group at most."""
    result: list[frozenset[int]] = []
    seen: set[int] = set()
    for characters in groups:
        if any(character not in charset.CLASSES for character in characters):
            raise ValueError(f"not a class character in the lookalike group {characters}")
        labels = frozenset(charset.CLASSES.index(character) for character in characters)
        if len(labels) < 2 or labels & seen:
            raise ValueError(f"a lookalike group is two or more distinct classes, in no other group: {characters}")
        seen |= labels
        result.append(labels)
    return tuple(result)


def load_groups(path: Path = TABLE_FILE) -> Groups:
    return groups_of_characters(json.loads(path.read_text(encoding="utf-8"))["groups"])


GROUPS: Final = load_groups()
_GROUP_OF: Final = {label: group for group in GROUPS for label in group}
GROUPED: Final = np.array(sorted(_GROUP_OF), dtype=np.int64)


def readings_of(label: int) -> frozenset[int]:
    """The classes a reading may name for a glyph of class `label`: its lookalike group, or the class alone."""
    return _GROUP_OF.get(label, frozenset((label,)))


def accepts(label: int, typed: str) -> bool:
    """Whether `typed` is a right reading of a scored glyph of class `label` (merge rule and lookalike groups)."""
    return charset.class_of(typed) in readings_of(label)


def grouped(label: int) -> bool:
    """Whether the class is in a lookalike group: people may read its glyphs as another class."""
    return label in _GROUP_OF


def ungrouped(labels: NDArray[np.integer]) -> NDArray[np.bool_]:
    """For each label, whether its class is in no lookalike group (an unknown label, -1, counts as grouped)."""
    return (labels >= 0) & ~np.isin(labels, GROUPED)


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def equivalence_hint(groups: Groups = GROUPS) -> str:
    """What the widget tells a visitor: every character that the answer treats as the same, group by group."""
    phrases = [
        _listed([character for character in charset.BYCLASS_CHARACTERS if charset.class_of(character) in group])
        for group in sorted(groups, key=min)
    ]
    if not phrases:
        return ""
    return "; ".join([f"{phrases[0]} count as the same"] + [f"so do {phrase}" for phrase in phrases[1:]]) + "."
