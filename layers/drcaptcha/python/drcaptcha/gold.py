"""Gold readings: people calibrate the scored pool (issue 15, item 2).

Every challenge shows known glyphs in unscored positions (`selection.GOLD_GLYPHS`), and the votes cast on them
are gold readings, as gold questions are on crowd platforms. The labels consumer counts each one here, once:
- on the glyph: its readings, and how many were right under the lookalike groups (an O read as 0 is right).
  These give each known glyph a measured **reading rate**. Once a glyph has `MIN_READINGS`, its state says
  whether people read it right (`READ_RIGHT`, rate at least `MIN_READING_RATE`) or not (`MISREAD`); before
  that it is `GOLD` (and selection falls back on its class, scored only if it is in no lookalike group) until
  its readings settle what the rate will say at `MIN_READINGS` (`reading_state`);
- on the source: an agreement when it read the glyph right, a disagreement when not, in the same track record
  that crowd labels update (consensus.py's reliability model). A spammer who poisons unscored positions
  poisons gold ones as well, and loses weight without waiting for a label to be accepted.

How a batch's readings are counted, exactly once and without a transaction (issue 17, since 2026-12-05): one
conditional update per known glyph (its counts, its state, and the new readings' ids in its `gold_pending`), then
one per source (its agreements or disagreements, and the ids in its `gold_pending`), then each reading's Votes
record, written only once both are done. The record is the lasting proof that a reading is counted; the
`gold_pending` maps bridge the moments before it exists. So a delivered reading is:
- on record: counted everywhere, a duplicate (a redelivery, or the outbox putting it on the stream again);
- in the glyph's map (not on record): counted on the glyph, not again; credited to its source unless it is in
  the source's map; its record is written once both hold;
- in neither: new.
An id leaves a map at that item's next update once its record exists, so a map holds only the readings of its
item's last batches. A source's map also holds `acc:<glyph id>` for each acceptance it was credited for
(labelling.py); those go the same way, once the acceptance's audit record exists. Each update is conditioned
on the item as read (the glyph's reading count; the ids being absent from the source's map), so a stale read or
a racing delivery writes nothing and is read again.

Selection (selection.py) never scores a `MISREAD` glyph, and scores a grouped class's glyph only once people
have read it right. Why these thresholds: an honest reader slips on about 5% of the glyphs that they read
(bench/bench_readings.py), so a glyph read right 4 times out of 5 is a glyph people read; one read wrong twice
in five is at best a coin toss, and scoring it would turn people away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from drcaptcha import lookalikes
from drcaptcha.errors import ServiceUnavailable
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import GOLD, GOLD_STATES, MISREAD, READ_RIGHT
from drcaptcha.store.glyphs import (
    Counted,
    Glyph,
    GlyphVoteStore,
    GoldReading,
    KeptVote,
    acceptance_credit_id,
    is_acceptance_credit,
)

MIN_READINGS: Final = 5
MIN_READING_RATE: Final = 0.8
_MAX_ATTEMPTS: Final = 3


def read_right(vote: VoteRecord) -> bool:
    """Whether a gold reading names a class in the known class's lookalike group."""
    if vote.gold is None:
        raise ValueError(f"vote {vote.vote_id} is not a gold reading")
    return vote.label is not None and vote.label in lookalikes.readings_of(vote.gold)


def reading_state(readings: int, right: int) -> str:
    """A known glyph's gold state from its reading counts: by its rate from `MIN_READINGS` on, and before that as
    soon as the readings still to come up to `MIN_READINGS` could not change what the rate will say there (two
    wrong readings of five make it `MISREAD`, four right ones `READ_RIGHT`): the same states, with fewer readings
    spent, so a glyph people cannot read stops being scored sooner."""
    if readings >= MIN_READINGS:
        return READ_RIGHT if right >= MIN_READING_RATE * readings else MISREAD
    needed = MIN_READING_RATE * MIN_READINGS
    if right >= needed:
        return READ_RIGHT
    if right + (MIN_READINGS - readings) < needed:
        return MISREAD
    return GOLD


ReadingResult = Counted | Exception


def record_gold_readings(votes: Sequence[VoteRecord], records: GlyphVoteStore) -> list[ReadingResult]:
    """Count a batch's gold readings (in stream order) once each: a result per reading, in order, or the exception
    that failed it (a glyph's or a source's failure fails only its own readings; their redelivery finishes them)."""
    first: dict[str, VoteRecord] = {}
    for vote in votes:
        first.setdefault(vote.vote_id, vote)
    readings = [
        GoldReading(vote.vote_id, vote.glyph_id, vote.source, read_right(vote), vote.ts) for vote in first.values()
    ]
    try:
        glyphs, pending, kept = _read_batch(readings, records)
    except Exception as error:  # without the batch's reads, no reading can be counted
        return [error for _ in votes]
    results: dict[str, ReadingResult] = dict.fromkeys(
        (r.vote_id for r in readings if r.vote_id in kept), Counted.DUPLICATE
    )
    on_glyph = _count_on_glyphs([r for r in readings if r.vote_id not in kept], glyphs, first, kept, records, results)
    done: list[GoldReading] = []
    for source, group in on_glyph.items():
        try:
            _credit_source(source, pending.get(source), group, kept, records)
        except Exception as error:
            results |= dict.fromkeys((reading.vote_id for reading in group), error)
            continue
        done += group
    try:
        records.keep_votes(KeptVote(first[reading.vote_id], first[reading.vote_id].weight, True) for reading in done)
    except Exception as error:  # counted, not on record: the redelivery finds them pending and writes the records
        results |= dict.fromkeys((reading.vote_id for reading in done), error)
    return _in_stream_order(votes, results)


def _count_on_glyphs(
    readings: Sequence[GoldReading],
    glyphs: Mapping[str, Glyph],
    first: Mapping[str, VoteRecord],
    kept: set[str],
    records: GlyphVoteStore,
    results: dict[str, ReadingResult],
) -> dict[str, list[GoldReading]]:
    """Count the readings (none on record) a glyph at a time, each glyph's outcome or failure into `results`:
    the readings counted on their glyph, now or before, by source."""
    by_glyph: dict[str, list[GoldReading]] = {}
    for reading in readings:
        by_glyph.setdefault(reading.glyph_id, []).append(reading)
    on_glyph: dict[str, list[GoldReading]] = {}
    for glyph_id, group in by_glyph.items():
        try:
            counted = _count_on_glyph(glyph_id, glyphs.get(glyph_id), group, first[group[0].vote_id], kept, records)
        except Exception as error:  # one glyph's failure must not fail the others
            results |= dict.fromkeys((reading.vote_id for reading in group), error)
            continue
        results |= counted
        for reading in group:
            if counted[reading.vote_id] is not Counted.GLYPH_CLOSED:
                on_glyph.setdefault(reading.source, []).append(reading)
    return on_glyph


def _read_batch(
    readings: Sequence[GoldReading], records: GlyphVoteStore
) -> tuple[dict[str, Glyph], dict[str, dict[str, str] | None], set[str]]:
    """The batch's known glyphs, its readers' pending credits, and which of the readings, and of the ids in those
    maps, are proven: three BatchGetItem calls, and a fourth when a reader's map holds acceptance credits (their
    proof is the acceptance's audit record; labelling.py gives them, and they go here, with the readings')."""
    glyphs = records.read_glyphs({reading.glyph_id for reading in readings})
    pending = records.gold_pending_of({reading.source for reading in readings})
    credits = [(glyph_id, pending_id) for ids in pending.values() for pending_id, glyph_id in (ids or {}).items()]
    kept = records.kept_vote_ids(
        [(reading.glyph_id, reading.vote_id) for reading in readings]
        + [(glyph.glyph_id, vote_id) for glyph in glyphs.values() for vote_id in glyph.gold_pending]
        + [(glyph_id, pending_id) for glyph_id, pending_id in credits if not is_acceptance_credit(pending_id)]
    )
    # Eventually consistent: a record missed now only keeps its id a batch longer.
    accepted = records.accepted_glyphs(
        {glyph_id for glyph_id, pending_id in credits if is_acceptance_credit(pending_id)}
    )
    return glyphs, pending, kept | {acceptance_credit_id(glyph_id) for glyph_id in accepted}


def _in_stream_order(votes: Sequence[VoteRecord], results: Mapping[str, ReadingResult]) -> list[ReadingResult]:
    """A result per delivered reading; a reading delivered twice in the batch: the second copy is a duplicate."""
    seen: set[str] = set()
    ordered: list[ReadingResult] = []
    for vote in votes:
        result = results[vote.vote_id]
        if vote.vote_id in seen and not isinstance(result, Exception):
            result = Counted.DUPLICATE
        seen.add(vote.vote_id)
        ordered.append(result)
    return ordered


def _count_on_glyph(
    glyph_id: str,
    glyph: Glyph | None,
    group: Sequence[GoldReading],
    vote: VoteRecord,
    kept: set[str],
    records: GlyphVoteStore,
) -> dict[str, Counted]:
    """One known glyph's readings of the batch (none on record): counted in one conditional update, the glyph's
    state brought up to date with them. Those in its `gold_pending` were counted at an earlier delivery."""
    if vote.gold is None:  # pragma: no cover - only gold readings come here
        raise ValueError(f"vote {vote.vote_id} is not a gold reading")
    for _attempt in range(_MAX_ATTEMPTS):
        if glyph is not None and glyph.state not in GOLD_STATES:
            return dict.fromkeys((reading.vote_id for reading in group), Counted.GLYPH_CLOSED)
        before = glyph.gold_pending if glyph is not None else {}
        new = [reading for reading in group if reading.vote_id not in before]
        if not new:
            break
        readings = (glyph.readings if glyph else 0) + len(new)
        right = (glyph.read_right if glyph else 0) + sum(reading.right for reading in new)
        settled = [vote_id for vote_id in before if vote_id in kept]
        state = reading_state(readings, right)
        if records.count_gold_readings(glyph_id, glyph, vote.gold, new, settled, state):
            break
        glyph = records.glyph(glyph_id)  # changed meanwhile: count only what is still missing
    else:
        raise ServiceUnavailable(f"glyph {glyph_id} kept changing while its gold readings were counted; try again")
    return {reading.vote_id: Counted.DUPLICATE if reading.vote_id in before else Counted.COUNTED for reading in group}


def _credit_source(
    source: str,
    pending: Mapping[str, str] | None,
    group: Sequence[GoldReading],
    kept: set[str],
    records: GlyphVoteStore,
) -> None:
    """A source's readings of the batch (counted on their glyphs, none on record): credited in one conditional
    update, less those in its `gold_pending` (credited at an earlier delivery)."""
    for _attempt in range(_MAX_ATTEMPTS):
        new = [reading for reading in group if pending is None or reading.vote_id not in pending]
        if not new:
            return
        settled = [vote_id for vote_id in (pending or {}) if vote_id in kept]
        if records.credit_gold_readings(source, pending, new, settled):
            return
        pending = records.gold_pending_of([source], consistent=True)[source]
    raise ServiceUnavailable(f"source {source} kept changing while its gold readings were credited; try again")
