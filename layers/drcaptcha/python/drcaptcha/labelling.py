"""Recording crowd votes and accepting labels: the labels function's logic, over DynamoDB.

A vote is counted exactly once, whatever Kinesis redelivers: one transaction puts it into the Votes table with
`attribute_not_exists` AND adds its weight to the glyph's tallies, so neither can happen without the other. A
redelivered vote cancels the transaction on its first item, which means "already counted".

After counting, the glyph is settled: its tallies go through `consensus.decide`. An acceptance is a second
transaction, conditional on the glyph being still open (unlabelled or ambiguous): it labels the glyph, writes the
audit record with the counted votes, and adds each voter's agreement or disagreement to its track record (the
online reliability model). Settling is idempotent, so it also runs for a redelivered vote: a crash between the
two transactions is repaired by the retry.

The transactions themselves are drcaptcha/store/glyphs.py's; this module decides what should happen.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from drcaptcha import charset, consensus, gold, warm
from drcaptcha.ensembles import LoadedEnsemble
from drcaptcha.errors import DrCaptchaError, NotFound
from drcaptcha.glyphs import GlyphRef, GlyphStore
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import UNLABELLED
from drcaptcha.serving import serving_cache
from drcaptcha.store.glyphs import OPEN_STATES, Acceptance, Counted, CountedVote, GlyphVoteStore

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
class Settlement:
    """Where a glyph stands after its latest vote."""

    outcome: VoteOutcome
    label: int | None = None


@dataclass(frozen=True)
class VoteResult:
    vote_id: str
    glyph_id: str
    outcome: VoteOutcome
    label: int | None = None


def record_vote(vote: VoteRecord, now: float | None = None, records: GlyphVoteStore = RECORDS) -> VoteResult:
    """Count `vote` once, then settle its glyph: accept a label or mark it ambiguous when the votes say so."""
    now = time.time() if now is None else now
    if vote.gold is not None:
        return _gold_result(vote, gold.record_gold_reading(vote, records))
    weight = vote_weight(vote, records)
    counted = records.count_vote(vote, weight)
    if counted is Counted.GLYPH_CLOSED:
        return _record_late_vote(vote, weight, records)
    redelivered = counted is Counted.DUPLICATE
    if not redelivered and not consensus.is_model_source(vote.source):
        try:
            add_model_vote(vote.glyph_id, now, records)
        except (DrCaptchaError, ClientError, BotoCoreError):
            # A lost model vote costs half a vote; failing the record would hold up the human one behind it.
            logger.exception("could not add the model's vote", extra={"glyph_id": vote.glyph_id})
    result = settle_glyph(vote.glyph_id, now, records)
    outcome = VoteOutcome.DUPLICATE if redelivered else result.outcome
    logger.info("vote recorded", extra={"vote_id": vote.vote_id, "glyph_id": vote.glyph_id, "outcome": outcome})
    return VoteResult(vote.vote_id, vote.glyph_id, outcome, result.label)


_GOLD_OUTCOMES: Final = {
    Counted.COUNTED: VoteOutcome.GOLD,
    Counted.DUPLICATE: VoteOutcome.DUPLICATE,
    Counted.GLYPH_CLOSED: VoteOutcome.LATE,
}


def _gold_result(vote: VoteRecord, counted: Counted) -> VoteResult:
    outcome = _GOLD_OUTCOMES[counted]
    logger.info("gold reading recorded", extra={"vote_id": vote.vote_id, "glyph_id": vote.glyph_id, "outcome": outcome})
    return VoteResult(vote.vote_id, vote.glyph_id, outcome, vote.gold)


# --- the model's vote ---------------------------------------------------------------------------------------------
# Why here, and not in the captcha function: the labels consumer sees every glyph's votes, and it counts the
# active ensemble's reading through the same idempotent transaction as a human vote (vote id
# `model:<ensemble_id>:<glyph_id>`), so redeliveries and parallel instances never count it twice. Attaching the
# prediction in the captcha function would mean storing it with every challenge, most of which are never passed.
# One model vote per glyph, from whichever ensemble is active when the glyph's first counted human vote arrives.
_MAX_REMEMBERED_GLYPHS: Final = 100_000
_GLYPHS: Final = "glyphs"
_model_voted: warm.LRUCache[str, bool] = warm.lasting(_MAX_REMEMBERED_GLYPHS)
_glyph_stores: warm.LRUCache[str, GlyphStore] = warm.lasting(1)


def _store() -> GlyphStore:
    if _GLYPHS not in _glyph_stores:
        _glyph_stores[_GLYPHS] = GlyphStore()
    return _glyph_stores[_GLYPHS]


def forget_model_votes() -> None:
    """Drop the warm process's memory of model votes and glyph shards (after the stack behind it changed)."""
    _model_voted.clear()
    _glyph_stores.clear()


def _active_ensemble() -> LoadedEnsemble | None:
    return serving_cache(MODEL_VOTES, MODEL_VOTE_BATCH).current()


def add_model_vote(glyph_id: str, now: float, records: GlyphVoteStore = RECORDS) -> bool:
    """Count the active ensemble's reading of the glyph as a `MODEL_WEIGHT` vote, once per glyph; True if added."""
    if glyph_id in _model_voted:
        return False
    ensemble = _active_ensemble()
    if ensemble is None:
        return False
    ensemble_id = ensemble.manifest.ensemble_id
    prefix = consensus.MODEL_SOURCE_PREFIX
    if not records.has_vote_with_prefix(glyph_id, prefix):
        label = int(ensemble.predict(_store().image(GlyphRef.parse(glyph_id))[np.newaxis])[0].argmax())
        model_vote = VoteRecord(
            vote_id=f"{prefix}{ensemble_id}:{glyph_id}",
            glyph_id=glyph_id,
            answer=charset.character_of(label),
            label=label,
            source=f"{prefix}{ensemble_id}",
            ts=now,
            weight=consensus.MODEL_WEIGHT,
        )
        records.count_vote(model_vote, consensus.MODEL_WEIGHT)  # counted already, or too late: either is fine
    _model_voted[glyph_id] = True
    return True


def vote_weight(vote: VoteRecord, records: GlyphVoteStore = RECORDS) -> float:
    """The weight a vote is counted with: the model's fixed weight, or the human's times its reliability."""
    if consensus.is_model_source(vote.source):
        return consensus.MODEL_WEIGHT
    agreements, disagreements = records.track_record(vote.source)
    return round(consensus.vote_weight(vote.source, agreements, disagreements, base=vote.weight), _WEIGHT_DECIMALS)


def settle_glyph(glyph_id: str, now: float, records: GlyphVoteStore = RECORDS) -> Settlement:
    """Apply the acceptance rule to the glyph's current tallies and act on the decision."""
    glyph = records.glyph(glyph_id)
    if glyph is None:
        raise NotFound(f"no glyph {glyph_id}")
    if glyph.state not in OPEN_STATES:
        return Settlement(VoteOutcome.LATE, glyph.label)
    decision = consensus.decide(glyph.tallies, glyph.unreadable)
    if decision.outcome is consensus.Outcome.ACCEPTED:
        _accept(glyph_id, decision, now, records)
        return Settlement(VoteOutcome.ACCEPTED, decision.label)
    if decision.outcome is consensus.Outcome.AMBIGUOUS:
        if glyph.state == UNLABELLED and records.mark_ambiguous(glyph_id):
            logger.info("glyph ambiguous", extra={"glyph_id": glyph_id})
        return Settlement(VoteOutcome.AMBIGUOUS)
    return Settlement(VoteOutcome.PENDING)


def _record_late_vote(vote: VoteRecord, weight: float, records: GlyphVoteStore) -> VoteResult:
    """The glyph is labelled (or unknown): keep the vote for the record only."""
    glyph = records.glyph(vote.glyph_id)
    if glyph is None:
        raise NotFound(f"vote {vote.vote_id} is for an unknown glyph {vote.glyph_id}")
    outcome = VoteOutcome.LATE if records.keep_late_vote(vote, weight) else VoteOutcome.DUPLICATE
    logger.info("vote for a labelled glyph", extra={"vote_id": vote.vote_id, "glyph_id": vote.glyph_id})
    return VoteResult(vote.vote_id, vote.glyph_id, outcome, glyph.label)


def _accept(glyph_id: str, decision: consensus.Decision, now: float, records: GlyphVoteStore) -> None:
    """Label the glyph, write its audit record and update its voters' track records, all or nothing."""
    label = decision.label
    if label is None:  # pragma: no cover - an accepted decision always names its label
        raise ValueError("an accepted decision without a label")
    votes = records.counted_votes(glyph_id)
    acceptance = Acceptance(
        glyph_id,
        label=label,
        accepted_at=now,
        leader_weight=round(decision.leader_weight, _WEIGHT_DECIMALS),
        runner_up_weight=round(decision.runner_up_weight, _WEIGHT_DECIMALS),
    )
    if not records.accept(acceptance, votes, agreement_counts(votes, label)):
        return  # labelled meanwhile, by an earlier delivery of the same votes
    logger.info("glyph accepted", extra={"glyph_id": glyph_id, "label": label, "votes": len(votes)})


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
