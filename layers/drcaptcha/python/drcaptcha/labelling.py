"""Recording crowd votes and accepting labels: the labels function's logic, over DynamoDB.

A batch's votes are counted **per glyph**: the glyphs are read once (one BatchGetItem), and so are the track
records of the batch's sources (another), then each glyph's new votes are counted with ONE conditional update
(drcaptcha/store/glyphs.py `count_glyph_votes`). A vote is counted exactly once, whatever Kinesis redelivers: the
glyph item keeps the id of every vote counted for it, so a redelivered vote is recognised from the read, and the
update is conditioned on the glyph being unchanged since the read (its vote count is the version), so two
deliveries can never both count the same vote. If the condition fails, the glyph is read again and only what is
missing is counted.

The votes of one glyph are replayed in their stream order against its state (`plan_count`), exactly as if they
had come one by one: the model's vote joins after the glyph's first counted human vote; the glyph becomes
ambiguous, or is accepted, at the vote that makes the rule say so; and the votes after an acceptance are late.

An acceptance is three steps, none of them a transaction (docs/DESIGN.md, "The acceptance without a
transaction"): the update that counts the votes also labels the glyph, conditioned on it being open and unchanged
(the claim: one delivery only gets it); then each human voter's agreement or disagreement is added to its track
record (the online reliability model) by an update conditioned on `acc:<glyph id>` being absent from its
`gold_pending`, and adding it there (the credit: once per voter, whatever is redelivered); then the audit record
with the counted votes is written, last: it proves the acceptance finished. A crash anywhere before the record is
finished by the next delivery of any vote for the glyph (Kinesis redelivers the failed batch): it finds the glyph
crowd-labelled and its audit record missing, and credits and records from the glyph's map of counted votes.
A glyph with nothing new is settled as it stands, which claims an acceptance that a crash left uncounted. Every
vote, counted or late, is also kept in the Votes table for the record (`keep_votes`), written after its count
and again on a redelivery.

A glyph's votes fail together, and alone: a throttled update fails that glyph's records, which the handler
reports in `batchItemFailures`, and the other glyphs of the batch are counted. Gold readings are counted per
known glyph and per source too, without a transaction (gold.py `record_gold_readings`).

The writes themselves are drcaptcha/store/glyphs.py's; this module decides what should happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final

import numpy as np
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from drcaptcha import charset, consensus, gold, warm
from drcaptcha.ensembles import LoadedEnsemble
from drcaptcha.errors import DrCaptchaError, NotFound, ServiceUnavailable
from drcaptcha.glyphs import GlyphRef, GlyphStore
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import CROWD, UNLABELLED
from drcaptcha.serving import serving_cache
from drcaptcha.store.glyphs import (
    Acceptance,
    Counted,
    CountedVote,
    Glyph,
    GlyphVoteStore,
    KeptVote,
    acceptance_credit_id,
)

logger = Logger(child=True)

_WEIGHT_DECIMALS: Final = 4
MODEL_VOTES: Final = "model-votes"
MODEL_VOTE_BATCH: Final = 1
RECORDS: Final = GlyphVoteStore()


class VoteOutcome(StrEnum):
    PENDING = "pending"  # counted; the glyph needs more votes
    ACCEPTED = "accepted"  # counted, and the glyph is labelled now
    AMBIGUOUS = "ambiguous"  # counted; the glyph's voters keep disagreeing
    DUPLICATE = "duplicate"  # counted at an earlier delivery
    LATE = "late"  # the glyph was labelled already: kept for the record, counted nowhere
    GOLD = "gold"  # a reading of a known glyph shown unscored: counted in its reading rate (gold.py)


@dataclass(frozen=True)
class VoteResult:
    vote_id: str
    glyph_id: str
    outcome: VoteOutcome
    label: int | None = None


_GOLD_OUTCOMES: Final = {
    Counted.COUNTED: VoteOutcome.GOLD,
    Counted.DUPLICATE: VoteOutcome.DUPLICATE,
    Counted.GLYPH_CLOSED: VoteOutcome.LATE,
}


def _gold_result(vote: VoteRecord, counted: Counted | Exception) -> VoteOrFailure:
    if isinstance(counted, Exception):
        return counted
    outcome = _GOLD_OUTCOMES[counted]
    logger.info("gold reading recorded", extra={"vote_id": vote.vote_id, "glyph_id": vote.glyph_id, "outcome": outcome})
    return VoteResult(vote.vote_id, vote.glyph_id, outcome, vote.gold)


# --- the model's vote ---------------------------------------------------------------------------------------------
# Why here, and not in the captcha function: the labels consumer sees every glyph's votes, and it counts the
# active ensemble's reading with the glyph's human votes, in the same conditional update (vote id
# `model:<ensemble_id>:<glyph_id>`), so redeliveries and parallel instances never count it twice. Attaching the
# prediction in the captcha function would mean storing it with every challenge, most of which are never passed.
# One model vote per glyph, from whichever ensemble is active when the glyph's first counted human vote arrives.
_GLYPHS: Final = "glyphs"
_glyph_stores: warm.LRUCache[str, GlyphStore] = warm.lasting(1)


def _store() -> GlyphStore:
    if _GLYPHS not in _glyph_stores:
        _glyph_stores[_GLYPHS] = GlyphStore()
    return _glyph_stores[_GLYPHS]


def forget_model_votes() -> None:
    """Drop the warm process's glyph shards (after the stack behind it changed)."""
    _glyph_stores.clear()


def _active_ensemble() -> LoadedEnsemble | None:
    return serving_cache(MODEL_VOTES, MODEL_VOTE_BATCH).current()


def model_vote(glyph_id: str, now: float) -> VoteRecord | None:
    """The active ensemble's reading of the glyph as a `MODEL_WEIGHT` vote; None without an active ensemble, or
    when it cannot be had (a lost model vote costs half a vote; failing the glyph would hold up the human ones)."""
    try:
        ensemble = _active_ensemble()
        if ensemble is None:
            return None
        label = int(ensemble.predict(_store().image(GlyphRef.parse(glyph_id))[np.newaxis])[0].argmax())
    except (DrCaptchaError, ClientError, BotoCoreError):
        logger.exception("could not read the model's vote", extra={"glyph_id": glyph_id})
        return None
    ensemble_id = ensemble.manifest.ensemble_id
    return VoteRecord(
        vote_id=f"{consensus.MODEL_SOURCE_PREFIX}{ensemble_id}:{glyph_id}",
        glyph_id=glyph_id,
        answer=charset.character_of(label),
        label=label,
        source=consensus.model_source(ensemble_id),
        ts=now,
        weight=consensus.MODEL_WEIGHT,
    )


def vote_weights(votes: Iterable[VoteRecord], records: GlyphVoteStore = RECORDS) -> dict[str, float]:
    """The weight each vote is counted with, by vote id: the model's fixed weight, or the human's times its
    source's reliability (the batch's track records read at once)."""
    votes = list(votes)
    humans = {vote.source for vote in votes if not consensus.is_model_source(vote.source)}
    track_records = records.track_records(humans) if humans else {}
    weights: dict[str, float] = {}
    for vote in votes:
        if consensus.is_model_source(vote.source):
            weights[vote.vote_id] = consensus.MODEL_WEIGHT
        else:
            agreements, disagreements = track_records[vote.source]
            weight = consensus.vote_weight(vote.source, agreements, disagreements, base=vote.weight)
            weights[vote.vote_id] = round(weight, _WEIGHT_DECIMALS)
    return weights


@dataclass
class CountPlan:
    """What one glyph's votes of a batch do to it, replayed in stream order: an outcome per vote, the votes to
    count (the model's included), whether the glyph turns ambiguous, the acceptance if one is due, and the
    records to keep. Built by `plan_count`."""

    glyph: Glyph
    outcomes: list[VoteOutcome] = field(default_factory=list)
    new: list[CountedVote] = field(default_factory=list)
    kept: list[KeptVote] = field(default_factory=list)
    ambiguous: bool = False
    accepted: consensus.Decision | None = None
    tallies: dict[int, float] = field(init=False)
    unreadable: float = field(init=False)
    has_model_vote: bool = field(init=False)

    def __post_init__(self) -> None:
        self.tallies, self.unreadable = dict(self.glyph.tallies), self.glyph.unreadable
        self.has_model_vote = any(consensus.is_model_source(vote.source) for vote in self.glyph.counted)

    @property
    def counted(self) -> list[CountedVote]:
        return [*self.glyph.counted, *self.new]

    @property
    def is_open(self) -> bool:
        return self.glyph.is_open and self.accepted is None

    def counted_weight(self, vote_id: str) -> float | None:
        """The weight the vote was counted with, before or in this batch; None if it is not counted."""
        return next((vote.weight for vote in self.counted if vote.vote_id == vote_id), None)

    def count(self, vote: VoteRecord, weight: float) -> None:
        self.new.append(CountedVote(vote.vote_id, vote.source, vote.label, weight))
        self.kept.append(KeptVote(vote, weight, counted=True))
        if vote.label is None:
            self.unreadable += weight
        else:
            self.tallies[vote.label] = self.tallies.get(vote.label, 0.0) + weight

    def keep(self, vote: VoteRecord, weight: float, counted: bool) -> None:
        if all(kept.vote.vote_id != vote.vote_id for kept in self.kept):
            self.kept.append(KeptVote(vote, weight, counted))

    def decide(self) -> VoteOutcome:
        decision = consensus.decide(self.tallies, self.unreadable)
        if decision.outcome is consensus.Outcome.ACCEPTED:
            self.accepted = decision
            return VoteOutcome.ACCEPTED
        if decision.outcome is consensus.Outcome.AMBIGUOUS:
            self.ambiguous = True
            return VoteOutcome.AMBIGUOUS
        return VoteOutcome.PENDING


def plan_count(
    glyph: Glyph,
    votes: Sequence[VoteRecord],
    weights: Mapping[str, float],
    model: Callable[[], VoteRecord | None] = lambda: None,
) -> CountPlan:
    """Replay `votes` (all for `glyph`, in stream order) against the glyph as read, as if they came one by one:
    pure, no I/O. `model` gives the active ensemble's vote, asked for at most once."""
    plan = CountPlan(glyph)
    for vote in votes:
        already = plan.counted_weight(vote.vote_id)
        if already is not None:
            # Its record again: the crash that made Kinesis redeliver it may have come before the record.
            plan.keep(vote, already, counted=True)
            plan.outcomes.append(VoteOutcome.DUPLICATE)
        elif not plan.is_open:
            plan.keep(vote, weights[vote.vote_id], counted=False)
            plan.outcomes.append(VoteOutcome.LATE)
        else:
            plan.count(vote, weights[vote.vote_id])
            if not plan.has_model_vote:
                plan.has_model_vote = True  # asked once a batch: without an ensemble, the next batch asks again
                reading = None if consensus.is_model_source(vote.source) else model()
                if reading is not None and plan.counted_weight(reading.vote_id) is None:
                    plan.count(reading, consensus.MODEL_WEIGHT)
            plan.outcomes.append(plan.decide())
    if not plan.new and glyph.is_open:
        plan.decide()  # nothing new: settle the glyph as it stands (repairs an acceptance a crash interrupted)
    return plan


VoteOrFailure = VoteResult | Exception


def record_payloads(payloads: Sequence[str | bytes], now: float | None = None) -> list[VoteOrFailure]:
    """Parse each stream record's payload as a vote and record the batch: a result, or the exception that failed
    it, per payload (a payload that is not a vote fails alone)."""
    parsed: list[VoteRecord | Exception] = []
    for payload in payloads:
        try:
            parsed.append(VoteRecord.model_validate_json(payload))
        except ValidationError as error:
            parsed.append(error)
    votes = [vote for vote in parsed if isinstance(vote, VoteRecord)]
    recorded = iter(record_votes(votes, now))
    return [vote if isinstance(vote, Exception) else next(recorded) for vote in parsed]


def record_votes(
    votes: Sequence[VoteRecord], now: float | None = None, records: GlyphVoteStore = RECORDS
) -> list[VoteOrFailure]:
    """Count a batch's votes once each, a glyph at a time, and settle each glyph: a result per vote, in order, or
    the exception that failed its glyph (the glyph's other votes fail with it; other glyphs do not)."""
    now = time.time() if now is None else now
    by_glyph: dict[str, list[int]] = {}
    for position, vote in enumerate(votes):
        if vote.gold is None:
            by_glyph.setdefault(vote.glyph_id, []).append(position)
    crowd = [votes[position] for group in by_glyph.values() for position in group]
    # Read before anything is written: every vote of the batch is weighed by its source's track record as the
    # batch found it (a gold reading or an acceptance in the batch counts from the next batch on).
    reads: tuple[dict[str, float], dict[str, Glyph], set[str]] | Exception
    try:
        reads = _read_crowd_batch(crowd, by_glyph, records) if crowd else ({}, {}, set())
    except Exception as error:  # without the batch's reads, no glyph can be counted
        reads = error
    gold_positions = [position for position, vote in enumerate(votes) if vote.gold is not None]
    results: dict[int, VoteOrFailure] = {}
    if gold_positions:
        gold_votes = [votes[position] for position in gold_positions]
        recorded = gold.record_gold_readings(gold_votes, records)
        results |= {
            position: _gold_result(vote, counted)
            for position, vote, counted in zip(gold_positions, gold_votes, recorded, strict=True)
        }
    if isinstance(reads, Exception):
        results |= {position: reads for group in by_glyph.values() for position in group}
    elif by_glyph:
        weights, glyphs, unfinished = reads
        results |= _record_crowd_votes(votes, by_glyph, weights, glyphs, unfinished, now, records)
    return [results[position] for position in range(len(votes))]


def _read_crowd_batch(
    crowd: Sequence[VoteRecord], glyph_ids: Collection[str], records: GlyphVoteStore
) -> tuple[dict[str, float], dict[str, Glyph], set[str]]:
    """The batch's weights and glyphs, and which of its crowd-labelled glyphs have no audit record (an acceptance
    that a crash interrupted): two BatchGetItem calls, and a consistent third only when a vote came for a
    crowd-labelled glyph (late, or the redelivery of a batch that accepted)."""
    weights = vote_weights(crowd, records)
    glyphs = records.read_glyphs(glyph_ids)
    labelled = {glyph_id for glyph_id, glyph in glyphs.items() if glyph.state == CROWD}
    unfinished = labelled - records.accepted_glyphs(labelled, consistent=True) if labelled else set()
    return weights, glyphs, unfinished


def _record_crowd_votes(
    votes: Sequence[VoteRecord],
    by_glyph: Mapping[str, list[int]],
    weights: Mapping[str, float],
    glyphs: Mapping[str, Glyph],
    unfinished: Collection[str],
    now: float,
    records: GlyphVoteStore,
) -> dict[int, VoteOrFailure]:
    """The votes for unlabelled glyphs (positions in `votes`, by glyph), with the batch's reads: counted a glyph at
    a time, kept on record in one go. `unfinished`: the crowd-labelled glyphs whose acceptance is to be finished."""
    results: dict[int, VoteOrFailure] = {}
    kept: list[KeptVote] = []
    kept_positions: list[int] = []
    for glyph_id, group in by_glyph.items():
        try:
            counted, to_keep = _record_glyph(
                glyphs.get(glyph_id), [votes[p] for p in group], weights, now, records, glyph_id in unfinished
            )
        except Exception as error:  # one glyph's failure must not fail the others
            logger.warning("could not count a glyph's votes", extra={"glyph_id": glyph_id, "error": repr(error)})
            results |= dict.fromkeys(group, error)
            continue
        results |= dict(zip(group, counted, strict=True))
        kept += to_keep
        kept_positions += group
    try:
        records.keep_votes(kept)
    except Exception as error:  # counted, but not on record: their redelivery writes the records again
        logger.warning("could not keep the votes' records", extra={"error": repr(error)})
        results |= dict.fromkeys(kept_positions, error)
    return results


def record_vote(vote: VoteRecord, now: float | None = None, records: GlyphVoteStore = RECORDS) -> VoteResult:
    """Count one vote once, then settle its glyph (a batch of one); raise what failed it."""
    (result,) = record_votes([vote], now, records)
    if isinstance(result, Exception):
        raise result
    return result


_MAX_COUNT_ATTEMPTS: Final = 3


def _record_glyph(
    glyph: Glyph | None,
    votes: Sequence[VoteRecord],
    weights: Mapping[str, float],
    now: float,
    records: GlyphVoteStore,
    unfinished: bool = False,
) -> tuple[list[VoteResult], list[KeptVote]]:
    """Count one glyph's votes of the batch in one conditional update (which claims the acceptance, if they make
    one), and settle the glyph: a result per vote, and the records to keep. `unfinished`: the glyph was read
    crowd-labelled without its audit record, so its acceptance is finished here."""
    glyph_id = votes[0].glyph_id
    acceptance: Acceptance | None = None
    for _attempt in range(_MAX_COUNT_ATTEMPTS):
        if glyph is None:
            raise NotFound(f"votes for an unknown glyph {glyph_id}")
        plan = plan_count(glyph, votes, weights, lambda: model_vote(glyph_id, now))
        acceptance = None if plan.accepted is None else _acceptance(glyph_id, plan.accepted, now)
        if not plan.new and acceptance is None:
            break
        ambiguous = plan.ambiguous and acceptance is None
        if records.count_glyph_votes(glyph, plan.new, ambiguous=ambiguous, acceptance=acceptance):
            break
        glyph = records.glyph(glyph_id)  # counted or claimed meanwhile by another delivery: only what is missing
    else:
        raise ServiceUnavailable(f"glyph {glyph_id} kept changing while its votes were counted; try again")
    if acceptance is not None:
        finish_acceptance(acceptance, plan.counted, records)
        logger.info("glyph accepted", extra={"glyph_id": glyph_id, "label": acceptance.label})
    elif unfinished and glyph.state == CROWD:
        finish_acceptance(_acceptance_of(glyph, now), glyph.counted, records)
        logger.info("interrupted acceptance finished", extra={"glyph_id": glyph_id, "label": glyph.label})
    elif plan.ambiguous and glyph.state == UNLABELLED and (plan.new or records.mark_ambiguous(glyph_id)):
        # (the count's own update marked it; with nothing new, the glyph is marked as it stands)
        logger.info("glyph ambiguous", extra={"glyph_id": glyph_id})
    label = acceptance.label if acceptance is not None else glyph.label
    results = []
    for vote, outcome in zip(votes, plan.outcomes, strict=True):
        shown = label if outcome in (VoteOutcome.ACCEPTED, VoteOutcome.LATE, VoteOutcome.DUPLICATE) else None
        results.append(VoteResult(vote.vote_id, glyph_id, outcome, shown))
    logger.info(
        "votes recorded",
        extra={"glyph_id": glyph_id, "outcomes": [outcome.value for outcome in plan.outcomes]},
    )
    return results, plan.kept


def _acceptance(glyph_id: str, decision: consensus.Decision, now: float) -> Acceptance:
    label = decision.label
    if label is None:  # pragma: no cover - an accepted decision always names its label
        raise ValueError("an accepted decision without a label")
    return Acceptance(
        glyph_id,
        label=label,
        accepted_at=now,
        leader_weight=round(decision.leader_weight, _WEIGHT_DECIMALS),
        runner_up_weight=round(decision.runner_up_weight, _WEIGHT_DECIMALS),
    )


def _acceptance_of(glyph: Glyph, now: float) -> Acceptance:
    """The acceptance that a crowd-labelled glyph's claim made, rebuilt from the glyph: its tallies no longer
    change, so the rule gives the same figures, and the claim kept its time."""
    decision = consensus.decide(glyph.tallies, glyph.unreadable)
    label = glyph.label if glyph.label is not None else decision.label
    return replace(
        _acceptance(glyph.glyph_id, replace(decision, label=label), now), accepted_at=glyph.accepted_at or now
    )


def finish_acceptance(acceptance: Acceptance, votes: Sequence[CountedVote], records: GlyphVoteStore) -> None:
    """After the claim: credit each human voter once, then write the audit record, which proves it all done.
    Run again after a crash at any point, it credits only the voters not yet credited. The voters' pending maps
    are read first (one BatchGetItem, eventually consistent): a credit found there costs no write, and a write
    refused for a stale read (a refused conditional write is billed as a write) is rare."""
    counts = agreement_counts(votes, acceptance.label)
    pending = records.gold_pending_of(counts) if counts else {}
    for source, (agreed, disagreed) in counts.items():
        _credit_voter(source, pending[source], acceptance, agreed, disagreed, records)
    records.keep_acceptance(acceptance, votes)


def _credit_voter(
    source: str,
    pending: Mapping[str, str] | None,
    acceptance: Acceptance,
    agreed: int,
    disagreed: int,
    records: GlyphVoteStore,
) -> None:
    """One conditional update, unless the source's pending map (as read) shows the credit given; refused, the map
    is read again, consistently, to tell whether it was given meanwhile or the read was stale."""
    credit_id = acceptance_credit_id(acceptance.glyph_id)
    for _attempt in range(_MAX_COUNT_ATTEMPTS):
        if pending is not None and credit_id in pending:
            return  # credited at an earlier delivery
        if records.credit_acceptance(source, pending, acceptance, agreed, disagreed):
            return
        pending = records.gold_pending_of([source], consistent=True)[source]
    raise ServiceUnavailable(f"source {source} kept changing while it was credited for {acceptance.glyph_id}")


def agreement_counts(votes: Iterable[CountedVote], label: int) -> dict[str, tuple[int, int]]:
    """Each human source's (agreements, disagreements) with the accepted label; model votes are not tracked."""
    counts: dict[str, tuple[int, int]] = {}
    for vote in votes:
        if consensus.is_model_source(vote.source):
            continue
        agreed, disagreed = counts.get(vote.source, (0, 0))
        if vote.label == label:
            counts[vote.source] = (agreed + 1, disagreed)
        else:
            counts[vote.source] = (agreed, disagreed + 1)
    return counts
