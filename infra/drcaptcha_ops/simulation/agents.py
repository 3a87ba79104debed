"""The simulated people: how they misread handwriting, how they type, and the crowd they make up.

- **humans** read each glyph right except with their own error rate (uniform in 5–10%, three times that on a
  glyph the networks get wrong or disagree on); a misreading is drawn from a confusion matrix of the
  committed lookalike groups (lookalikes.py), and case varies where the merge rule allows it;
- **blind spammers** read honestly but type a wrong or constant character in one or two random positions: they
  cannot tell scored positions from unscored ones, so they fail whenever they hit a scored one;
- **informed colluders** know the scored positions (as if they had leaked), pass them, and all type the same
  wrong class for each unlabelled glyph.

Each agent has a stable client address, so the captcha API gives its votes a stable source hash, which the
reliability model learns.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
from numpy.typing import NDArray

from drcaptcha import charset, lookalikes
from drcaptcha.charset import NUM_CLASSES
from drcaptcha.errors import BadRequest

# --- how people misread -----------------------------------------------------------------------------------
# Classes that people mistake for one another in handwriting are the committed lookalike groups
# (drcaptcha/lookalikes.json, derived from data by bench/derive_lookalikes.py); a misreading lands inside the
# glyph's group with chance LOOKALIKE_SHARE, and on any other class otherwise (a slip of the finger, a scrawl).
LOOKALIKE_SHARE: Final = 0.8
HUMAN_ERROR_RANGE: Final = (0.05, 0.10)
HARD_ERROR_FACTOR: Final = 3.0
SPAMMER_CONSTANTS: Final = "XZ7"


def confusion_matrix() -> NDArray[np.float64]:
    """Row c: the chance that a misread class c is read as each other class (zero diagonal, rows sum to 1)."""
    lookalike = np.zeros((NUM_CLASSES, NUM_CLASSES))
    for classes in lookalikes.GROUPS:
        for a in classes:
            for b in classes - {a}:
                lookalike[a, b] = 1.0
    anything = np.ones((NUM_CLASSES, NUM_CLASSES))
    np.fill_diagonal(anything, 0.0)
    anything /= anything.sum(axis=1, keepdims=True)
    has_lookalike = lookalike.sum(axis=1) > 0
    lookalike[has_lookalike] /= lookalike[has_lookalike].sum(axis=1, keepdims=True)
    share = np.where(has_lookalike, LOOKALIKE_SHARE, 0.0)[:, None]
    matrix: NDArray[np.float64] = share * lookalike + (1 - share) * anything
    return matrix


CONFUSION: Final = confusion_matrix()


def misread(label: int, rng: np.random.Generator) -> int:
    return int(rng.choice(NUM_CLASSES, p=CONFUSION[label]))


def typed_character(label: int, rng: np.random.Generator) -> str:
    """The character a person types for a class: either case where the merge rule makes them one class."""
    character = charset.character_of(label)
    if character.lower() in charset.MERGED_LOWERCASE and rng.random() < 0.5:
        return character.swapcase()
    return character


def read_label(label: int, error_rate: float, hard: bool, rng: np.random.Generator) -> int:
    chance = min(error_rate * (HARD_ERROR_FACTOR if hard else 1.0), 0.9)
    return misread(label, rng) if rng.random() < chance else label


def collusion_label(glyph_id: str, truth: int) -> int:
    """The wrong class every colluder types for a glyph: agreed in advance, the same for all of them."""
    offset = 1 + int.from_bytes(hashlib.sha256(glyph_id.encode()).digest()[:4], "big") % (NUM_CLASSES - 1)
    return (truth + offset) % NUM_CLASSES


# --- agents ---------------------------------------------------------------------------------------------------
class Kind(StrEnum):
    HUMAN = "human"
    SPAMMER = "spammer"
    COLLUDER = "colluder"
    BOT = "bot"


KIND_NUMBER: Final = {kind: number for number, kind in enumerate(Kind)}


@dataclass(frozen=True)
class Sight:
    """What the oracle knows of one challenge: each position's glyph, true class, and whether it is scored."""

    glyph_ids: list[str]
    truth: list[int]
    scored: list[bool]
    hard: list[bool]


@dataclass(frozen=True)
class Agent:
    kind: Kind
    number: int
    error_rate: float
    constant: str = "X"

    @property
    def address(self) -> str:
        """A stable client address per agent (the captcha API hashes it into the vote's source)."""
        return f"127.{KIND_NUMBER[self.kind] + 1}.{self.number // 256 % 256}.{self.number % 256 + 1}"

    def answer(self, sight: Sight, rng: np.random.Generator) -> str:
        if self.kind is Kind.COLLUDER:
            return colluder_answer(sight, rng)
        typed = [
            typed_character(read_label(label, self.error_rate, hard, rng), rng)
            for label, hard in zip(sight.truth, sight.hard, strict=True)
        ]
        if self.kind is Kind.SPAMMER:
            typed = poisoned(typed, sight.truth, self.constant, rng)
        return "".join(typed)


def poisoned(typed: list[str], truth: list[int], constant: str, rng: np.random.Generator) -> list[str]:
    """One or two random positions replaced by the spammer's constant, or by a random wrong character."""
    result = list(typed)
    for position in rng.choice(len(typed), size=int(rng.integers(1, 3)), replace=False):
        if rng.random() < 0.5:
            result[int(position)] = constant
        else:
            wrong = (truth[int(position)] + int(rng.integers(1, NUM_CLASSES))) % NUM_CLASSES
            result[int(position)] = charset.character_of(wrong)
    return result


def colluder_answer(sight: Sight, rng: np.random.Generator) -> str:
    return "".join(
        typed_character(label if scored else collusion_label(glyph_id, label), rng)
        for glyph_id, label, scored in zip(sight.glyph_ids, sight.truth, sight.scored, strict=True)
    )


@dataclass(frozen=True)
class Crowd:
    agents: list[Agent]

    @classmethod
    def create(cls, humans: int, spammers: int, colluders: int, bots: int, rng: np.random.Generator) -> Crowd:
        agents: list[Agent] = []
        for kind, count in ((Kind.HUMAN, humans), (Kind.SPAMMER, spammers), (Kind.COLLUDER, colluders)):
            for number in range(count):
                agents.append(Agent(kind, number, float(rng.uniform(*HUMAN_ERROR_RANGE)), _spam_constant(rng)))
        agents += [Agent(Kind.BOT, number, 0.0) for number in range(bots)]
        if not agents:
            raise BadRequest("the crowd is empty: give at least one human, spammer, colluder or bot")
        return cls(agents)

    def pick(self, rng: np.random.Generator) -> Agent:
        return self.agents[int(rng.integers(len(self.agents)))]


def _spam_constant(rng: np.random.Generator) -> str:
    return SPAMMER_CONSTANTS[int(rng.integers(len(SPAMMER_CONSTANTS)))]
