"""Recording crowd votes and accepting labels: the labels function's logic, over DynamoDB.

A vote is counted exactly once, whatever Kinesis redelivers: one transaction puts it into the Votes table with
`attribute_not_exists` AND adds its weight to the glyph's tallies, so neither can happen without the other. A
redelivered vote cancels the transaction on its first item, which means "already counted".

After counting, the glyph is settled: its tallies go through `consensus.decide`. An acceptance is a second
transaction, conditional on the glyph being still open (unlabelled or ambiguous): it labels the glyph, writes the
audit record with the counted votes, and adds each voter's agreement or disagreement to its track record (the
online reliability model). Settling is idempotent, so it also runs for a redelivered vote: a crash between the
two transactions is repaired by the retry.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Final

import numpy as np
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from drcaptcha import charset, consensus
from drcaptcha.config import get_settings
from drcaptcha.ensemble_admin import serving_cache
from drcaptcha.ensembles import LoadedEnsemble
from drcaptcha.errors import DrCaptchaError, NotFound
from drcaptcha.glyphs import GlyphRef, GlyphStore
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import AMBIGUOUS, CROWD, UNLABELLED, GlyphItem
from drcaptcha.models.tables.votes import AcceptanceItem, SourceItem, VoteItem, audited

logger = Logger(child=True)

CROWD_LABEL_SOURCE: Final = "crowd"
# The states in which votes still count; a glyph leaves them only by being labelled.
OPEN_STATES: Final = (UNLABELLED, AMBIGUOUS)
_CONDITION_FAILED: Final = "ConditionalCheckFailed"
# DynamoDB takes at most 100 items a transaction; the acceptance uses two for the glyph and its audit record.
_MAX_SOURCES_PER_ACCEPTANCE: Final = 98
_WEIGHT_DECIMALS: Final = 4
MODEL_VOTES: Final = "model-votes"
MODEL_VOTE_BATCH: Final = 1


class VoteOutcome(StrEnum):
    PENDING = "pending"  # counted; the glyph needs more votes
    ACCEPTED = "accepted"  # counted, and the glyph is labelled now
    AMBIGUOUS = "ambiguous"  # counted; the glyph's voters keep disagreeing
    DUPLICATE = "duplicate"  # counted at an earlier delivery
    LATE = "late"  # the glyph was labelled already: kept for the record, counted nowhere


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


def record_vote(vote: VoteRecord, now: float | None = None) -> VoteResult:
    """Count `vote` once, then settle its glyph: accept a label or mark it ambiguous when the votes say so."""
    now = time.time() if now is None else now
    weight = vote_weight(vote)
    try:
        _count_vote(vote, weight)
        redelivered = False
    except TransactWriteError as error:
        vote_failed, glyph_failed = _failed_conditions(error, items=2)
        if vote_failed:
            redelivered = True
        elif glyph_failed:
            return _record_late_vote(vote, weight)
        else:
            raise
    if not redelivered and not consensus.is_model_source(vote.source):
        try:
            add_model_vote(vote.glyph_id, now)
        except (DrCaptchaError, ClientError, BotoCoreError):
            # A lost model vote costs half a vote; failing the record would hold up the human one behind it.
            logger.exception("could not add the model's vote", extra={"glyph_id": vote.glyph_id})
    result = settle_glyph(vote.glyph_id, now)
    outcome = VoteOutcome.DUPLICATE if redelivered else result.outcome
    logger.info("vote recorded", extra={"vote_id": vote.vote_id, "glyph_id": vote.glyph_id, "outcome": outcome})
    return VoteResult(vote.vote_id, vote.glyph_id, outcome, result.label)


# --- the model's vote ---------------------------------------------------------------------------------------------
# Why here, and not in the captcha function: the labels consumer sees every glyph's votes, and it counts the
# active ensemble's reading through the same idempotent transaction as a human vote (vote id
# `model:<ensemble_id>:<glyph_id>`), so redeliveries and parallel instances never count it twice. Attaching the
# prediction in the captcha function would mean storing it with every challenge, most of which are never passed.
# One model vote per glyph, from whichever ensemble is active when the glyph's first counted human vote arrives.
_model_voted: set[str] = set()
_glyph_store: GlyphStore | None = None


def _store() -> GlyphStore:
    global _glyph_store
    if _glyph_store is None:
        _glyph_store = GlyphStore()
    return _glyph_store


def forget_model_votes() -> None:
    """Drop the warm process's memory of model votes and glyph shards (after the stack behind it changed)."""
    global _glyph_store
    _model_voted.clear()
    _glyph_store = None


def _active_ensemble() -> LoadedEnsemble | None:
    return serving_cache(MODEL_VOTES, MODEL_VOTE_BATCH).current()


def add_model_vote(glyph_id: str, now: float) -> bool:
    """Count the active ensemble's reading of the glyph as a `MODEL_WEIGHT` vote, once per glyph; True if added."""
    if glyph_id in _model_voted:
        return False
    ensemble = _active_ensemble()
    if ensemble is None:
        return False
    ensemble_id = ensemble.manifest.ensemble_id
    prefix = consensus.MODEL_SOURCE_PREFIX
    if next(iter(VoteItem.query(glyph_id, VoteItem.vote_id.startswith(prefix), limit=1)), None) is None:
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
        try:
            _count_vote(model_vote, consensus.MODEL_WEIGHT)
        except TransactWriteError as error:
            if not any(_failed_conditions(error, items=2)):
                raise
    _model_voted.add(glyph_id)
    return True


def vote_weight(vote: VoteRecord) -> float:
    """The weight a vote is counted with: the model's fixed weight, or the human's times its reliability."""
    if consensus.is_model_source(vote.source):
        return consensus.MODEL_WEIGHT
    try:
        record = SourceItem.get(vote.source)
        agreements, disagreements = float(record.agreements), float(record.disagreements)
    except DoesNotExist:
        agreements = disagreements = 0.0
    return round(consensus.vote_weight(vote.source, agreements, disagreements, base=vote.weight), _WEIGHT_DECIMALS)


def settle_glyph(glyph_id: str, now: float) -> Settlement:
    """Apply the acceptance rule to the glyph's current tallies and act on the decision."""
    glyph = GlyphItem.get(glyph_id, consistent_read=True)
    if glyph.state not in OPEN_STATES:
        return Settlement(VoteOutcome.LATE, _label_of(glyph))
    decision = consensus.decide(tallies_of(glyph), float(glyph.unreadable))
    if decision.outcome is consensus.Outcome.ACCEPTED:
        _accept(glyph_id, decision, now)
        return Settlement(VoteOutcome.ACCEPTED, decision.label)
    if decision.outcome is consensus.Outcome.AMBIGUOUS:
        if glyph.state == UNLABELLED:
            _mark_ambiguous(glyph)
        return Settlement(VoteOutcome.AMBIGUOUS)
    return Settlement(VoteOutcome.PENDING)


def tallies_of(glyph: GlyphItem) -> dict[int, float]:
    return {int(label): float(weight) for label, weight in glyph.tallies.attribute_values.items()}


def _label_of(glyph: GlyphItem) -> int | None:
    return None if glyph.label is None else int(glyph.label)


def _count_vote(vote: VoteRecord, weight: float) -> None:
    """One transaction: the vote, if new, and its weight on the glyph's tallies, if the glyph is still open."""
    item = _vote_item(vote, weight, counted=True)
    tally_action: Action
    if vote.label is None:
        tally_action = GlyphItem.unreadable.add(weight)
    else:
        class_tally = Path([GlyphItem.tallies.attr_name, str(vote.label)])
        tally_action = class_tally.set((class_tally | 0) + weight)
    with TransactWrite(connection=_connection()) as transaction:
        transaction.save(item, condition=VoteItem.vote_id.does_not_exist())
        transaction.update(
            GlyphItem(vote.glyph_id),
            actions=[tally_action, GlyphItem.votes.add(1)],
            condition=GlyphItem.glyph_id.exists() & GlyphItem.state.is_in(*OPEN_STATES),
        )


def _record_late_vote(vote: VoteRecord, weight: float) -> VoteResult:
    """The glyph is labelled (or unknown): keep the vote for the record only."""
    try:
        glyph = GlyphItem.get(vote.glyph_id, consistent_read=True)
    except DoesNotExist as error:
        raise NotFound(f"vote {vote.vote_id} is for an unknown glyph {vote.glyph_id}") from error
    try:
        _vote_item(vote, weight, counted=False).save(condition=VoteItem.vote_id.does_not_exist())
        outcome = VoteOutcome.LATE
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        outcome = VoteOutcome.DUPLICATE
    logger.info("vote for a labelled glyph", extra={"vote_id": vote.vote_id, "glyph_id": vote.glyph_id})
    return VoteResult(vote.vote_id, vote.glyph_id, outcome, _label_of(glyph))


def _accept(glyph_id: str, decision: consensus.Decision, now: float) -> None:
    """Label the glyph, write its audit record and update its voters' track records, all or nothing."""
    label = decision.label
    if label is None:  # pragma: no cover - an accepted decision always names its label
        raise ValueError("an accepted decision without a label")
    votes = [vote for vote in VoteItem.query(glyph_id, consistent_read=True) if vote.counted]
    audit = AcceptanceItem(
        glyph_id,
        label=label,
        accepted_at=now,
        leader_weight=round(decision.leader_weight, _WEIGHT_DECIMALS),
        runner_up_weight=round(decision.runner_up_weight, _WEIGHT_DECIMALS),
        votes=[audited(vote) for vote in votes],
    )
    track_records = agreement_counts(votes, label)
    try:
        with TransactWrite(connection=_connection()) as transaction:
            transaction.update(
                GlyphItem(glyph_id),
                actions=[
                    GlyphItem.state.set(CROWD),
                    GlyphItem.label.set(label),
                    GlyphItem.label_source.set(CROWD_LABEL_SOURCE),
                ],
                condition=GlyphItem.state.is_in(*OPEN_STATES),
            )
            transaction.save(audit, condition=AcceptanceItem.glyph_id.does_not_exist())
            for source, (agreed, disagreed) in list(track_records.items())[:_MAX_SOURCES_PER_ACCEPTANCE]:
                transaction.update(
                    SourceItem(source),
                    actions=[
                        SourceItem.agreements.add(agreed),
                        SourceItem.disagreements.add(disagreed),
                        SourceItem.updated_at.set(now),
                    ],
                )
    except TransactWriteError as error:
        glyph_closed, _ = _failed_conditions(error, items=2)
        if not glyph_closed:
            raise
        return  # labelled meanwhile, by an earlier delivery of the same votes
    logger.info("glyph accepted", extra={"glyph_id": glyph_id, "label": label, "votes": len(votes)})


def agreement_counts(votes: Iterable[VoteItem], label: int) -> dict[str, tuple[int, int]]:
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


def _mark_ambiguous(glyph: GlyphItem) -> None:
    try:
        glyph.update(actions=[GlyphItem.state.set(AMBIGUOUS)], condition=GlyphItem.state == UNLABELLED)
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return  # settled meanwhile
    logger.info("glyph ambiguous", extra={"glyph_id": glyph.glyph_id})


def _vote_item(vote: VoteRecord, weight: float, counted: bool) -> VoteItem:
    return VoteItem(
        vote.glyph_id,
        vote.vote_id,
        source=vote.source,
        answer=vote.answer,
        label=vote.label,
        weight=weight,
        counted=counted,
        site_key=vote.site_key,
        challenge_id=vote.challenge_id,
        ts=vote.ts,
    )


def _failed_conditions(error: TransactWriteError, items: int) -> tuple[bool, ...]:
    """For the first `items` items of a cancelled transaction: whether each one's condition failed."""
    reasons = list(error.cancellation_reasons) + [None] * items
    return tuple(reason is not None and reason.code == _CONDITION_FAILED for reason in reasons[:items])


def _connection() -> Connection:
    settings = get_settings()
    return _cached_connection(
        settings.aws_region, settings.aws_endpoint_url, settings.aws_access_key_id, settings.aws_secret_access_key
    )


@cache
def _cached_connection(region: str, host: str | None, access_key: str | None, secret_key: str | None) -> Connection:
    """A pynamodb connection for transactions, configured like the models' own (see models/base.py)."""
    return Connection(region=region, host=host, aws_access_key_id=access_key, aws_secret_access_key=secret_key)
