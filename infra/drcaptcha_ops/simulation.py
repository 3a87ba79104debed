"""The crowd simulation (issue 9): simulated people and bots answer real captchas, and we measure the labels.

Everything runs through the real stack: challenges are issued and answered by `drcaptcha.challenges` (or, with
`through_gateway`, over HTTP through the local gateway and the captcha function), votes go to the Kinesis
stream, and the local poller drains it into the labels function. Only the agents themselves are simulated.

The simulation is the one reader of `truth/` besides evaluation: it plays the oracle that knows what each glyph
really is, and the people who read it. Agents:

- **humans** read each glyph right except with their own error rate (uniform in 5–10%, three times that on a
  glyph the networks get wrong or disagree on); a misreading is drawn from a confusion matrix of lookalikes
  (O/0, 1/l/I, 5/S, 2/Z, …), and case varies where the merge rule allows it;
- **blind spammers** read honestly but type a wrong or constant character in one or two random positions: they
  cannot tell scored positions from unscored ones, so they fail whenever they hit a scored one;
- **informed colluders** know the scored positions (as if they had leaked), pass them, and all type the same
  wrong class for each unlabelled glyph;
- **bots** get the PNG only: they segment it into glyphs by its column ink profile, fit each to EMNIST's 28x28
  form (`recognition.to_emnist`, as the recognize API does) and classify them with the best ensemble.

Each agent has a stable client address, so the captcha API gives its votes a stable source hash, which the
reliability model learns.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import logging
import math
import os
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage
from tqdm import tqdm

from drcaptcha import charset, consensus, sites
from drcaptcha.challenges import CaptchaRuntime, answer_challenge, issue_challenge, replace_runtime
from drcaptcha.charset import NUM_CLASSES
from drcaptcha.ensembles import LoadedEnsemble
from drcaptcha.errors import BadRequest, DataError, DrCaptchaError
from drcaptcha.glyphs import REMOVED, GlyphRef, GlyphStore, truth_key
from drcaptcha.models.tables.challenges import ChallengeItem
from drcaptcha.models.tables.votes import AcceptanceItem, VoteItem
from drcaptcha.recognition import to_emnist
from drcaptcha.render import RenderStyle, render_captcha
from drcaptcha.selection import GLYPHS_PER_CHALLENGE, GlyphSelector, active_ensemble_for_selection

# --- how people misread -----------------------------------------------------------------------------------
# Characters that people mistake for one another in handwriting; a misreading lands on a lookalike with
# chance LOOKALIKE_SHARE, and on any other class otherwise (a slip of the finger, a random scrawl).
LOOKALIKES: Final = ("O0QD", "1lI7", "5S", "2Z", "8B3", "9gq", "6b", "4A", "UV", "CG", "nh", "rt", "ae", "MN", "EF")
LOOKALIKE_SHARE: Final = 0.8
HUMAN_ERROR_RANGE: Final = (0.05, 0.10)
HARD_ERROR_FACTOR: Final = 3.0
SPAMMER_CONSTANTS: Final = "XZ7"


def confusion_matrix() -> NDArray[np.float64]:
    """Row c: the chance that a misread class c is read as each other class (zero diagonal, rows sum to 1)."""
    lookalike = np.zeros((NUM_CLASSES, NUM_CLASSES))
    for group in LOOKALIKES:
        classes = {label for character in group if (label := charset.class_of(character)) is not None}
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


# --- bots -------------------------------------------------------------------------------------------------------
_BOT_INK_THRESHOLD: Final = 0.5
_MIN_SEGMENT_COLUMNS: Final = 3


def captcha_pixels(png: bytes) -> NDArray[np.uint8]:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.uint8)


def ink_mask(pixels: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Where the glyphs' ink is: speckle and grain removed by a median filter, faint curves by a threshold."""
    smooth = ndimage.median_filter(pixels.astype(np.float32), size=3)
    paper, ink = float(np.percentile(smooth, 90)), float(np.percentile(smooth, 0.5))
    darkness = (paper - smooth) / max(paper - ink, 1.0)
    mask: NDArray[np.bool_] = darkness > _BOT_INK_THRESHOLD
    return mask


def column_segments(mask: NDArray[np.bool_], count: int = GLYPHS_PER_CHALLENGE) -> list[tuple[int, int]]:
    """`count` column ranges [start, stop) that hold one glyph each, from the column ink profile.

    Runs of inked columns are glyphs; too many runs are merged across their narrowest gaps, too few split at
    the faintest column of the widest run (two glyphs that touch).
    """
    profile = mask.sum(axis=0)
    inked = np.concatenate([[False], profile > 0, [False]])
    edges = np.flatnonzero(np.diff(inked.astype(np.int8)))
    runs = [(int(start), int(stop)) for start, stop in zip(edges[::2], edges[1::2], strict=True)]
    runs = [run for run in runs if run[1] - run[0] >= _MIN_SEGMENT_COLUMNS] or runs
    while len(runs) > count:
        gaps = [runs[i + 1][0] - runs[i][1] for i in range(len(runs) - 1)]
        i = int(np.argmin(gaps))
        runs[i : i + 2] = [(runs[i][0], runs[i + 1][1])]
    while 0 < len(runs) < count:
        i = int(np.argmax([stop - start for start, stop in runs]))
        start, stop = runs[i]
        if stop - start < 2 * _MIN_SEGMENT_COLUMNS:
            break
        inner = profile[start + _MIN_SEGMENT_COLUMNS : stop - _MIN_SEGMENT_COLUMNS]
        cut = start + _MIN_SEGMENT_COLUMNS + int(np.argmin(inner))
        runs[i : i + 1] = [(start, cut), (cut, stop)]
    return runs


def segment_glyphs(pixels: NDArray[np.uint8], count: int = GLYPHS_PER_CHALLENGE) -> NDArray[np.uint8]:
    """The captcha cut into glyphs, each fitted to EMNIST's form (uint8 [n, 28, 28], ink 255 on 0)."""
    mask = ink_mask(pixels)
    glyphs = []
    for start, stop in column_segments(mask, count):
        rows = np.flatnonzero(mask[:, start:stop].any(axis=1))
        crop = np.where(mask[rows[0] : rows[-1] + 1, start:stop], 0, 255).astype(np.uint8)
        framed = np.pad(crop, 4, constant_values=255)
        try:
            glyphs.append(to_emnist(Image.fromarray(framed)))
        except BadRequest:
            glyphs.append(np.zeros((28, 28), np.uint8))
    return np.array(glyphs, dtype=np.uint8).reshape(-1, 28, 28)


def bot_answer(png: bytes, ensemble: LoadedEnsemble) -> str:
    glyphs = segment_glyphs(captcha_pixels(png))
    if len(glyphs) == 0:
        return "?" * GLYPHS_PER_CHALLENGE
    labels = ensemble.predict(glyphs).argmax(axis=1)
    return "".join(charset.character_of(int(label)) for label in labels)


# --- the oracle -----------------------------------------------------------------------------------------------
class Oracle:
    """The true class of any glyph (known labels from the shard label files, removed ones from truth/), and
    whether the network finds it hard."""

    def __init__(self, store: GlyphStore, network: LoadedEnsemble | None) -> None:
        self.store = store
        self.network = network
        self._truth: dict[tuple[str, int], NDArray[np.int16]] = {}
        self._hard: dict[str, bool] = {}

    def truth(self, glyph_id: str) -> int:
        ref = GlyphRef.parse(glyph_id)
        known = self.store.label(ref)
        if known != REMOVED:
            return int(known)
        shard = (ref.split, ref.shard)
        if shard not in self._truth:
            self._truth[shard] = self.store.get_array(truth_key(ref.split, ref.shard))
        return int(self._truth[shard][ref.offset])

    def hard(self, glyph_ids: Sequence[str], truth: Sequence[int]) -> list[bool]:
        """Hard to read: the network gets it wrong, or (with several members) its members disagree."""
        if self.network is None:
            return [False] * len(glyph_ids)
        missing = [(i, g) for i, g in enumerate(glyph_ids) if g not in self._hard]
        if missing:
            images = np.array([self.store.image(GlyphRef.parse(g)) for _, g in missing], dtype=np.uint8)
            members = [probabilities.argmax(axis=1) for probabilities in self.network.member_probabilities(images)]
            combined = self.network.predict(images).argmax(axis=1)
            for row, (i, glyph_id) in enumerate(missing):
                disagree = len({int(member[row]) for member in members}) > 1
                self._hard[glyph_id] = int(combined[row]) != truth[i] or disagree
        return [self._hard[g] for g in glyph_ids]

    def sight(self, challenge_id: str) -> Sight:
        item = ChallengeItem.get(challenge_id, consistent_read=True)
        glyph_ids = list(item.glyph_ids)
        truth = [self.truth(glyph_id) for glyph_id in glyph_ids]
        scored = [int(expected) != REMOVED for expected in item.expected]
        return Sight(glyph_ids, truth, scored, self.hard(glyph_ids, truth))


# --- the ways in: library calls or HTTP ---------------------------------------------------------------------
class Transport(Protocol):
    def challenge(self, address: str) -> tuple[str, bytes] | None:
        """(challenge id, PNG), or None when the API refused (rate limit)."""

    def answer(self, challenge_id: str, text: str) -> bool: ...


def _png_of(data_url: str) -> bytes:
    return base64.b64decode(data_url.split(",", 1)[1])


@dataclass
class SimulatedClock:
    """The simulation's time: one step per challenge, so rate limits and caches behave as at a steady rate."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now


@dataclass
class LibraryTransport:
    """The functions the captcha handlers call, with a runtime on the simulation's clock."""

    runtime: CaptchaRuntime
    site_key: str

    def challenge(self, address: str) -> tuple[str, bytes] | None:
        try:
            reply = issue_challenge(self.runtime, self.site_key, address)
        except DrCaptchaError as error:
            if error.status == 429:
                return None
            raise
        return reply.challenge_id, _png_of(reply.image)

    def answer(self, challenge_id: str, text: str) -> bool:
        return answer_challenge(self.runtime, challenge_id, text, self.site_key).success


@dataclass
class GatewayTransport:
    """HTTP through the local gateway; each agent connects from its own loopback address (127.k.x.y)."""

    base_url: str
    site_key: str
    _address: str = "127.0.0.1"

    def _request(self, address: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = urllib.parse.urlsplit(self.base_url)
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, source_address=(address, 0))
        try:
            payload = None if body is None else json.dumps(body)
            headers = {} if body is None else {"content-type": "application/json"}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            connection.close()

    def challenge(self, address: str) -> tuple[str, bytes] | None:
        status, body = self._request(
            address, "GET", "/v1/challenge?" + urllib.parse.urlencode({"sitekey": self.site_key})
        )
        if status == 429:
            return None
        if status != 200:
            raise DrCaptchaError(f"the gateway answered {status} to a challenge request: {body}")
        self._address = address
        return str(body["challenge_id"]), _png_of(str(body["image"]))

    def answer(self, challenge_id: str, text: str) -> bool:
        request = {"challenge_id": challenge_id, "answer": text, "sitekey": self.site_key}
        status, body = self._request(self._address, "POST", "/v1/answer", request)
        if status != 200:
            raise DrCaptchaError(f"the gateway answered {status} to an answer: {body}")
        return bool(body["success"])


# --- the run ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimulationConfig:
    humans: int = 20
    spammers: int = 0
    colluders: int = 0
    bots: int = 0
    challenges: int = 100
    seed: int = 0
    warp: bool = True
    hard_selection: bool = True
    through_gateway: bool = False
    # Votes reach the labels function in batches, as the stream's consumer reads them.
    drain_every: int = 20
    seconds_per_challenge: float = 1.0


@dataclass
class KindTally:
    attempts: int = 0
    passed: int = 0
    refused: int = 0

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.attempts if self.attempts else None


@dataclass
class RunLog:
    tallies: dict[str, KindTally] = field(default_factory=lambda: {kind.value: KindTally() for kind in Kind})
    votes_sent: int = 0
    bot_segmented: int = 0
    bot_glyphs_right: int = 0
    bot_glyphs: int = 0
    # kind -> {scored glyphs wrong in an attempt: attempts}: what any other scoring rule would have passed
    scored_wrong: dict[str, Counter[int]] = field(default_factory=lambda: {kind.value: Counter() for kind in Kind})
    scored_glyphs: Counter[str] = field(default_factory=Counter)


def run_crowd(
    config: SimulationConfig,
    transport: Transport,
    oracle: Oracle,
    drain: Callable[[], int],
    bot_network: LoadedEnsemble | None,
    advance: Callable[[float], None] = lambda seconds: None,
    progress: bool = False,
) -> RunLog:
    """Let randomly chosen agents take `config.challenges` captchas, draining the vote stream as they go."""
    rng = np.random.default_rng(config.seed)
    crowd = Crowd.create(config.humans, config.spammers, config.colluders, config.bots, rng)
    if config.bots and bot_network is None:
        raise BadRequest("bots need a network to classify glyphs with, and none is available")
    log = RunLog()
    for number in tqdm(range(config.challenges), desc="simulating", disable=not progress, leave=False):
        agent = crowd.pick(rng)
        tally = log.tallies[agent.kind.value]
        advance(config.seconds_per_challenge)
        issued = transport.challenge(agent.address)
        if issued is None:
            tally.refused += 1
            continue
        challenge_id, png = issued
        sight = oracle.sight(challenge_id)
        if agent.kind is Kind.BOT and bot_network is not None:
            text = bot_answer(png, bot_network)
            log.bot_glyphs += len(sight.truth)
            log.bot_glyphs_right += sum(charset.class_of(c) == t for c, t in zip(text, sight.truth, strict=False))
        else:
            text = agent.answer(sight, rng)
        tally.attempts += 1
        log.scored_wrong[agent.kind.value][scored_mistakes(text, sight)] += 1
        log.scored_glyphs[agent.kind.value] += sum(sight.scored)
        if transport.answer(challenge_id, text):
            tally.passed += 1
            log.votes_sent += sum(not scored for scored in sight.scored)
        if (number + 1) % config.drain_every == 0:
            drain()
    drain()
    return log


def scored_mistakes(text: str, sight: Sight) -> int:
    """Scored positions typed wrong (a missing character counts as wrong), under the captcha's merge rule."""
    typed = [charset.class_of(character) for character in text] + [None] * len(sight.truth)
    return sum(1 for position, scored in enumerate(sight.scored) if scored and typed[position] != sight.truth[position])


# --- what other scoring rules would do ----------------------------------------------------------------------------
def tolerated_pass_rate(mistakes: Counter[int], tolerance: int) -> float | None:
    """The share of the recorded attempts that a rule allowing `tolerance` wrong scored glyphs would pass."""
    attempts = sum(mistakes.values())
    if not attempts:
        return None
    return sum(count for wrong, count in mistakes.items() if wrong <= tolerance) / attempts


def glyph_accuracy(mistakes: Counter[int], scored_glyphs: int) -> float | None:
    """Per scored glyph: the share typed right, over all the recorded attempts."""
    if scored_glyphs <= 0:
        return None
    wrong = sum(wrong * count for wrong, count in mistakes.items())
    return 1.0 - wrong / scored_glyphs


def projected_pass_rate(accuracy: float, scored: int, tolerance: int) -> float:
    """P(at most `tolerance` of `scored` glyphs wrong) when each is right with `accuracy`, independently.

    A projection, not a measurement: it treats every scored glyph alike, which a crowd of people with their own
    error rates, and hard and easy glyphs, is not."""
    return sum(
        math.comb(scored, wrong) * (1 - accuracy) ** wrong * accuracy ** (scored - wrong)
        for wrong in range(min(tolerance, scored) + 1)
    )


def scoring_rules(log: RunLog) -> dict[str, Any]:
    """For humans and bots: the measured pass rate under the live rule and with one wrong glyph tolerated, the
    per-glyph accuracy on scored glyphs, and the projected pass rates for more scored glyphs and tolerances."""
    rules: dict[str, Any] = {"kinds": {}, "projection": []}
    accuracies: dict[str, float] = {}
    for kind, mistakes in log.scored_wrong.items():
        accuracy = glyph_accuracy(mistakes, log.scored_glyphs[kind])
        if accuracy is None:
            continue
        accuracies[kind] = accuracy
        rules["kinds"][kind] = {
            "attempts": sum(mistakes.values()),
            "scored_per_attempt": log.scored_glyphs[kind] / sum(mistakes.values()),
            "scored_glyph_accuracy": accuracy,
            "mistakes_histogram": {str(wrong): count for wrong, count in sorted(mistakes.items())},
            "pass_rate_exact": tolerated_pass_rate(mistakes, 0),
            "pass_rate_one_tolerated": tolerated_pass_rate(mistakes, 1),
        }
    for scored in range(3, 9):
        for tolerance in range(3):
            if tolerance < scored:
                row: dict[str, Any] = {"scored": scored, "tolerance": tolerance}
                row.update({kind: projected_pass_rate(value, scored, tolerance) for kind, value in accuracies.items()})
                rules["projection"].append(row)
    return rules


# --- the report --------------------------------------------------------------------------------------------------
@dataclass
class SimulationReport:
    config: dict[str, Any]
    hard_selection: str
    network: str | None
    pass_rates: dict[str, dict[str, Any]]
    bot_glyph_accuracy: float | None
    votes_sent: int
    votes_recorded: int
    votes_counted: int
    late_votes: int
    model_votes: int
    removed_labels: int
    labels_accepted: int
    label_accuracy: float | None
    coverage: float | None
    votes_per_label: float | None
    mistakes: list[dict[str, Any]]
    glyphs_voted: int
    majority_accuracy: float | None
    dawid_skene_accuracy: float | None
    majority_accuracy_on_accepted: float | None
    dawid_skene_accuracy_on_accepted: float | None
    accuracy_by_votes: list[dict[str, Any]]
    scoring_rules: dict[str, Any]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _accuracy(labels: dict[Hashable, int], truth: Callable[[str], int], glyphs: Sequence[str]) -> float | None:
    if not glyphs:
        return None
    return sum(labels[g] == truth(g) for g in glyphs) / len(glyphs)


def build_report(
    config: SimulationConfig,
    log: RunLog,
    oracle: Oracle,
    removed_labels: int,
    network: str | None,
    hard_selection: str,
    seconds: float,
) -> SimulationReport:
    """Read back what the stack recorded (every vote, every acceptance) and judge it against truth/."""
    every_vote = list(VoteItem.scan(consistent_read=True))
    # The active ensemble's own votes (labelling.py) are counted apart: the crowd's figures are about people.
    votes = [vote for vote in every_vote if not consensus.is_model_source(vote.source)]
    acceptances = list(AcceptanceItem.scan(consistent_read=True))
    pairs: Counter[tuple[str, str]] = Counter()
    right = 0
    for acceptance in acceptances:
        truth = oracle.truth(acceptance.glyph_id)
        if int(acceptance.label) == truth:
            right += 1
        else:
            pairs[(charset.character_of(truth), charset.character_of(int(acceptance.label)))] += 1
    human_votes_counted = sum(
        1 for acceptance in acceptances for vote in acceptance.votes if not consensus.is_model_source(str(vote.source))
    )
    recorded = [(vote.glyph_id, vote.source, int(vote.label)) for vote in votes if vote.label is not None]
    majority = consensus.majority_vote(recorded)
    modelled, _ = consensus.dawid_skene(recorded)
    voted = sorted(str(glyph) for glyph in majority)
    accepted = sorted({acceptance.glyph_id for acceptance in acceptances} & set(voted))
    bot_accuracy = _share(log.bot_glyphs_right, log.bot_glyphs)
    return SimulationReport(
        config=asdict(config),
        hard_selection=hard_selection,
        network=network,
        pass_rates={kind: {**asdict(tally), "pass_rate": tally.pass_rate} for kind, tally in log.tallies.items()},
        bot_glyph_accuracy=bot_accuracy,
        votes_sent=log.votes_sent,
        votes_recorded=len(votes),
        votes_counted=sum(1 for vote in votes if vote.counted),
        late_votes=sum(1 for vote in votes if not vote.counted),
        model_votes=len(every_vote) - len(votes),
        removed_labels=removed_labels,
        labels_accepted=len(acceptances),
        label_accuracy=_share(right, len(acceptances)),
        coverage=_share(len(acceptances), removed_labels),
        votes_per_label=_share(human_votes_counted, len(acceptances)),
        mistakes=[{"truth": truth, "label": label, "count": count} for (truth, label), count in pairs.most_common()],
        glyphs_voted=len(voted),
        majority_accuracy=_accuracy(majority, oracle.truth, voted),
        dawid_skene_accuracy=_accuracy(modelled, oracle.truth, voted),
        majority_accuracy_on_accepted=_accuracy(majority, oracle.truth, accepted),
        dawid_skene_accuracy_on_accepted=_accuracy(modelled, oracle.truth, accepted),
        accuracy_by_votes=accuracy_by_votes(votes, oracle.truth),
        scoring_rules=scoring_rules(log),
        seconds=seconds,
    )


def accuracy_by_votes(votes: Sequence[VoteItem], truth: Callable[[str], int], most: int = 8) -> list[dict[str, Any]]:
    """Majority vote and Dawid–Skene on each glyph's first k votes (in arrival order), for k = 1..most, over the
    glyphs that got at least k: how label accuracy grows with votes per glyph."""
    ordered = sorted(
        (vote for vote in votes if vote.label is not None and not consensus.is_model_source(vote.source)),
        key=lambda vote: (vote.ts, vote.vote_id),
    )
    rows = []
    for k in range(1, most + 1):
        seen: Counter[str] = Counter()
        first: list[tuple[Hashable, Hashable, int]] = []
        for vote in ordered:
            if seen[vote.glyph_id] < k:
                seen[vote.glyph_id] += 1
                first.append((vote.glyph_id, vote.source, int(vote.label)))
        glyphs = sorted(glyph for glyph, count in seen.items() if count == k)
        if not glyphs:
            break
        kept = [vote for vote in first if seen[str(vote[0])] == k]
        modelled, _ = consensus.dawid_skene(kept)
        rows.append(
            {
                "votes": k,
                "glyphs": len(glyphs),
                "majority": _accuracy(consensus.majority_vote(kept), truth, glyphs),
                "dawid_skene": _accuracy(modelled, truth, glyphs),
            }
        )
    return rows


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def report_table(report: SimulationReport) -> str:
    """The report as a plain-text table for the terminal."""
    config = report.config
    lines = [
        f"crowd: {config['humans']} humans, {config['spammers']} spammers, {config['colluders']} colluders, "
        f"{config['bots']} bots; {config['challenges']} challenges, seed {config['seed']}; "
        f"warp {'on' if config['warp'] else 'off'}, hard-glyph selection: {report.hard_selection}; "
        f"{'through the gateway' if config['through_gateway'] else 'library calls'}; {report.seconds:.0f} s",
        f"network: {report.network or 'none'}",
        "",
        f"{'agents':<10} {'attempts':>9} {'passed':>8} {'refused':>8} {'pass rate':>10}",
    ]
    for kind, tally in report.pass_rates.items():
        lines.append(
            f"{kind:<10} {tally['attempts']:>9} {tally['passed']:>8} {tally['refused']:>8} "
            f"{_percent(tally['pass_rate']):>10}"
        )
    rows = [
        ("bot glyph accuracy (after segmentation)", _percent(report.bot_glyph_accuracy)),
        (
            "human votes sent / recorded / counted / late",
            f"{report.votes_sent} / {report.votes_recorded} / {report.votes_counted} / {report.late_votes}",
        ),
        ("model votes (the active ensemble's)", str(report.model_votes)),
        ("labels accepted", f"{report.labels_accepted} of {report.removed_labels} removed"),
        ("label accuracy (live rule)", _percent(report.label_accuracy)),
        ("coverage", _percent(report.coverage)),
        (
            "human votes per accepted label",
            "n/a" if report.votes_per_label is None else f"{report.votes_per_label:.2f}",
        ),
        ("glyphs with votes", str(report.glyphs_voted)),
        ("majority vote, all voted glyphs", _percent(report.majority_accuracy)),
        ("Dawid-Skene, all voted glyphs", _percent(report.dawid_skene_accuracy)),
        ("majority vote, accepted glyphs", _percent(report.majority_accuracy_on_accepted)),
        ("Dawid-Skene, accepted glyphs", _percent(report.dawid_skene_accuracy_on_accepted)),
    ]
    lines += ["", *(f"{name:<46} {value}" for name, value in rows)]
    if report.mistakes:
        shown = ", ".join(f"{m['truth']}->{m['label']} x{m['count']}" for m in report.mistakes[:12])
        lines.append(f"{'mistakes (truth->label)':<46} {shown}")
    kinds = report.scoring_rules["kinds"]
    if kinds:
        lines += ["", "scored glyphs: accuracy, and the pass rate exact / with one wrong glyph tolerated"]
        for kind, figures in kinds.items():
            lines.append(
                f"  {kind:<10} {_percent(figures['scored_glyph_accuracy']):>8}   "
                f"{_percent(figures['pass_rate_exact'])} / {_percent(figures['pass_rate_one_tolerated'])}"
            )
    return "\n".join(lines)


# --- wiring -------------------------------------------------------------------------------------------------------


def simulate(
    config: SimulationConfig,
    removed_labels: int,
    network: LoadedEnsemble | None = None,
    network_name: str | None = None,
    progress: bool = False,
) -> SimulationReport:
    """Run the crowd against the configured (emulated) stack, which holds an import with removed labels."""
    from drcaptcha_ops.poller import create_poller

    started = time.perf_counter()
    store = GlyphStore()
    oracle = Oracle(store, network)
    site = sites.create_site("simulation.example")
    poller = create_poller()
    # The labels function logs every vote at INFO: thousands of lines that would bury the report. The functions
    # are imported on their first invocation, after this, so their loggers start at this level.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    logging.getLogger("drcaptcha").setLevel(logging.WARNING)

    def drain() -> int:
        total = 0
        while delivered := poller.poll_once():
            total += delivered
        return total

    renderer = partial(render_captcha, style=RenderStyle(warp=config.warp))
    with _transport(config, site.site_key, renderer) as (transport, advance):
        log = run_crowd(config, transport, oracle, drain, network, advance, progress)
    return build_report(
        config,
        log,
        oracle,
        removed_labels,
        network_name,
        ("on" if network is not None else "on, but no active ensemble to rank glyphs")
        if config.hard_selection
        else "off",
        time.perf_counter() - started,
    )


@contextmanager
def _transport(
    config: SimulationConfig, site_key: str, renderer: Callable[..., bytes]
) -> Iterator[tuple[Transport, Callable[[float], None]]]:
    if config.through_gateway:
        from drcaptcha_ops.gateway import running_gateway

        # The gateway's captcha function shares this process's library, so its warm runtime is ours to set.
        replace_runtime(captcha_runtime(config, renderer))
        try:
            with running_gateway() as url:
                yield GatewayTransport(url, site_key), lambda seconds: None
        finally:
            replace_runtime(None)
        return
    clock = SimulatedClock()

    def advance(seconds: float) -> None:
        clock.now += seconds

    yield LibraryTransport(captcha_runtime(config, renderer, clock), site_key), advance


def captcha_runtime(
    config: SimulationConfig, renderer: Callable[..., bytes], clock: Callable[[], float] = time.time
) -> CaptchaRuntime:
    """A captcha runtime as production makes it, with the warp and the hard-glyph preference as configured."""
    runtime = CaptchaRuntime.create(clock=clock, renderer=renderer)
    # A seeded generator for the glyph choice and the rendering too, so that a seed repeats a whole run.
    runtime.rng = np.random.default_rng([config.seed, 1])
    # Without an ensemble to ask, the selector picks uniformly: hard-glyph selection switched off.
    ensemble = active_ensemble_for_selection if config.hard_selection else lambda: None
    runtime.selector = GlyphSelector(runtime.glyphs, runtime.rng, clock, ensemble=ensemble)
    return runtime


# --- a fresh stack for one run ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StackPlan:
    """The data a run starts from: an EMNIST import (a subset, for speed) and how many labels to remove."""

    emnist: Path
    limit: int | None = 20_000
    remove: int = 1_000
    import_seed: int = 0


@contextmanager
def fresh_stack(plan: StackPlan, progress: bool = False) -> Iterator[int]:
    """An embedded emulator of its own (a simulation poisons labels: never point it at a real stack), with the
    import and the removed labels; yields the number of removed labels."""
    import uuid

    from drcaptcha.config import reset_settings
    from drcaptcha_ops.emulator import running_emulator
    from drcaptcha_ops.importer import import_emnist, remove_labels

    with running_emulator():
        os.environ["TOKEN_SIGNING_KEY"] = "simulation-" + uuid.uuid4().hex
        reset_settings()
        replace_runtime(None)
        import_emnist(plan.emnist, seed=plan.import_seed, limit=plan.limit, progress=progress)
        removed = remove_labels(plan.remove, seed=plan.import_seed, progress=progress).removed
        yield removed


def best_network(say: Callable[[str], None] = print, network_dirs: Sequence[Path] = ()) -> tuple[LoadedEnsemble, str]:
    """The active ensemble if there is one; else an ensemble of the networks in `network_dirs` (fully trained
    ones, in the demo's cache format: bench/bench_ensemble.py --export writes them), or of the demo's quick
    network (trained once, then cached), created and activated, as an admin would."""
    from drcaptcha import ensemble_admin
    from drcaptcha.ensembles import load_ensemble_for_batch, read_manifest
    from drcaptcha.models.api.admin import MemberRequest
    from drcaptcha_ops.demo import quick_network, restore_cached_network

    store = GlyphStore()
    pointer = ensemble_admin.read_pointer()
    if pointer is None:
        network_ids = [restore_cached_network(store, folder) for folder in network_dirs]
        missing = [str(folder) for folder, found in zip(network_dirs, network_ids, strict=True) if found is None]
        if missing:
            raise DataError(f"no cached network (item.json and files/) in {', '.join(missing)}")
        requests = [MemberRequest(network_id=str(network_id), weight=1.0) for network_id in network_ids]
        if not requests:
            requests = [MemberRequest(network_id=quick_network(store, store.manifest().import_id, say), weight=1.0)]
        created = ensemble_admin.create_ensemble("simulation", requests)
        pointer_id = ensemble_admin.activate_ensemble(created.ensemble_id, by="simulation").active_id
    else:
        pointer_id = pointer.active_id
    manifest = read_manifest(store, pointer_id)
    members = ", ".join(member.network_id for member in manifest.members)
    accuracy = "" if manifest.accuracy is None else f", test accuracy {manifest.accuracy:.1%}"
    return load_ensemble_for_batch(
        store, manifest, GLYPHS_PER_CHALLENGE
    ), f"ensemble {pointer_id} ({members}{accuracy})"
