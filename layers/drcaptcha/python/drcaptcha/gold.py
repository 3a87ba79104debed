"""Gold readings: people calibrate the scored pool (issue 15, item 2).

Every challenge shows known glyphs in unscored positions (`selection.GOLD_GLYPHS`), and the votes cast on them
are gold readings, as gold questions are on crowd platforms. The labels consumer counts each one here, once:
- on the glyph: its readings, and how many were right under the lookalike groups (an O read as 0 is right).
  These give each known glyph a measured **reading rate**. Once a glyph has `MIN_READINGS`, its state says
  whether people read it right (`READ_RIGHT`, rate at least `MIN_READING_RATE`) or not (`MISREAD`); before
  that it is `GOLD`, and selection falls back on its class (scored only if it is in no lookalike group);
- on the source: an agreement when it read the glyph right, a disagreement when not, in the same track record
  that crowd labels update (consensus.py's reliability model). A spammer who poisons unscored positions
  poisons gold ones as well, and loses weight without waiting for a label to be accepted.

Selection (selection.py) never scores a `MISREAD` glyph, and scores a grouped class's glyph only once people
have read it right. Why these thresholds: an honest reader slips on about 5% of the glyphs that they read
(bench/bench_readings.py), so a glyph read right 4 times out of 5 is a glyph people read; one read wrong twice
in five is at best a coin toss, and scoring it would turn people away.
"""

from __future__ import annotations

from typing import Final

from drcaptcha import lookalikes
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import GOLD, MISREAD, READ_RIGHT
from drcaptcha.store.glyphs import Counted, GlyphVoteStore

MIN_READINGS: Final = 5
MIN_READING_RATE: Final = 0.8


def read_right(vote: VoteRecord) -> bool:
    """Whether a gold reading names a class in the known class's lookalike group."""
    if vote.gold is None:
        raise ValueError(f"vote {vote.vote_id} is not a gold reading")
    return vote.label is not None and vote.label in lookalikes.readings_of(vote.gold)


def reading_state(readings: int, right: int) -> str:
    """A known glyph's gold state from its reading counts."""
    if readings < MIN_READINGS:
        return GOLD
    return READ_RIGHT if right >= MIN_READING_RATE * readings else MISREAD


def record_gold_reading(vote: VoteRecord, records: GlyphVoteStore) -> Counted:
    """Count a gold reading once (glyph and source), then bring the glyph's gold state up to date (also on a
    redelivery, which repairs a crash between the two writes)."""
    counted = records.count_gold_reading(vote, read_right(vote))
    if counted is Counted.GLYPH_CLOSED:
        return counted
    glyph = records.glyph(vote.glyph_id)
    if glyph is not None:
        state = reading_state(glyph.readings, glyph.read_right)
        if state != glyph.state:
            records.set_reading_state(vote.glyph_id, state, glyph.readings)
    return counted
