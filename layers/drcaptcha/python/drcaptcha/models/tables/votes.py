"""The crowd's records: every counted vote, every acceptance with its votes, and each source's track record."""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)

from drcaptcha.models.tables.base import TableModel


class VoteItem(TableModel):
    """One vote, keyed by glyph and vote id: writing it with `attribute_not_exists` makes a redelivery a no-op.

    `weight` is the weight the vote was counted with (its source's reliability at the time). `counted` is False
    for a vote that arrived after its glyph was labelled: kept for the record, added to no tally.
    """

    table_setting: ClassVar[str] = "votes_table"

    class Meta:
        table_name = ""

    glyph_id = UnicodeAttribute(hash_key=True)
    vote_id = UnicodeAttribute(range_key=True)
    source = UnicodeAttribute()
    answer = UnicodeAttribute(default="")
    label = NumberAttribute(null=True)
    weight = NumberAttribute()
    counted = BooleanAttribute(default=True)
    site_key = UnicodeAttribute(default="")
    challenge_id = UnicodeAttribute(default="")
    ts = NumberAttribute()


class AuditedVote(MapAttribute[str, object]):
    """A vote as an acceptance record keeps it."""

    vote_id = UnicodeAttribute()
    source = UnicodeAttribute()
    label = NumberAttribute(null=True)
    weight = NumberAttribute()


def audited(vote_id: str, source: str, label: int | None, weight: float) -> AuditedVote:
    return AuditedVote(vote_id=vote_id, source=source, label=label, weight=weight)


class AcceptanceItem(TableModel):
    """The audit record of one crowd label: the rule's figures and every vote that was counted for it."""

    table_setting: ClassVar[str] = "acceptances_table"

    class Meta:
        table_name = ""

    glyph_id = UnicodeAttribute(hash_key=True)
    label = NumberAttribute()
    accepted_at = NumberAttribute()
    leader_weight = NumberAttribute()
    runner_up_weight = NumberAttribute()
    votes = ListAttribute(of=AuditedVote, default=list)


class SourceItem(TableModel):
    """A source's agreements and disagreements with accepted labels and gold readings: the online reliability
    model's counts. `gold_pending` holds the credits given here whose proof was not yet seen, each mapped to its
    glyph's id: a gold reading's vote id (its proof: its Votes record, drcaptcha/gold.py), and `acc:<glyph id>`
    for an acceptance (its proof: the audit record, drcaptcha/labelling.py). A redelivery that finds its id
    there does not credit it again; an id goes at the source's next gold credit once its proof exists."""

    table_setting: ClassVar[str] = "sources_table"

    class Meta:
        table_name = ""

    source = UnicodeAttribute(hash_key=True)
    agreements = NumberAttribute(default=0)
    disagreements = NumberAttribute(default=0)
    updated_at = NumberAttribute(default=0)
    gold_pending = MapAttribute[str, object](null=True)
