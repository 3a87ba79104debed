"""The glyph index: an item only for a glyph whose state can change (unlabelled, crowd-labelled, ambiguous), and
for a known glyph once people have read it as gold (its reading rate: drcaptcha/gold.py)."""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection

from drcaptcha.models.tables.base import TableModel

UNLABELLED = "unlabelled"
CROWD = "crowd"
AMBIGUOUS = "ambiguous"
# A known glyph shown as gold: too few readings yet, read right by people, or misread by people (gold.py).
GOLD = "gold"
READ_RIGHT = "read-right"
MISREAD = "misread"
GOLD_STATES = (GOLD, READ_RIGHT, MISREAD)


# The attributes that readers of the state index use besides the keys: the trainer reads crowd labels from it
# (drcaptcha_train/data.py); selection and the tests read ids and states only (keys).
STATE_INDEX_ATTRIBUTES = ("label",)


class GlyphsByState(GlobalSecondaryIndex["GlyphItem"]):
    """Glyph ids by state, least shown first. It projects the keys and `label` only, so an update that changes
    neither (a count of votes, a gold reading) does not write the index (docs/SCALING.md). A projection cannot
    change in place on a deployed table, hence the new name (`by-state` projected everything: docs/DEPLOY.md)."""

    class Meta:
        index_name = "by-state-label"
        projection = IncludeProjection(list(STATE_INDEX_ATTRIBUTES))

    state = UnicodeAttribute(hash_key=True)
    shown = NumberAttribute(range_key=True)


class GlyphItem(TableModel):
    """`glyph_id` is `GlyphRef.key`; `tallies` maps a class index (as a string) to its summed vote weight.

    `counted` maps the id of every vote counted for the glyph to `{"s": source, "l": label, "w": weight}` ("l"
    absent when the answer named no class; short keys because every byte is paid for on every write). `votes` is
    how many there are, and the version that each count is conditioned on. Tallies, `counted` and `votes` are
    written only by `drcaptcha.labelling`, together, in one conditional update per glyph per batch of votes.
    """

    table_setting: ClassVar[str] = "glyphs_table"

    class Meta:
        table_name = ""

    glyph_id = UnicodeAttribute(hash_key=True)
    state = UnicodeAttribute(default=UNLABELLED)
    shown = NumberAttribute(default=0)
    label = NumberAttribute(null=True)
    label_source = UnicodeAttribute(null=True)
    # When a crowd label was accepted: set by the update that claims the acceptance, so that a redelivery that
    # finishes an interrupted acceptance writes the audit record the claim would have (drcaptcha/labelling.py).
    accepted_at = NumberAttribute(null=True)
    tallies = MapAttribute[str, float](default=dict)
    # The summed weight of counted votes whose answer named no class, and the number of counted votes.
    unreadable = NumberAttribute(default=0)
    votes = NumberAttribute(default=0)
    counted = MapAttribute[str, object](default=dict)
    # A known glyph's gold readings, and how many of them were right under the lookalike groups. `readings` is
    # also the version each count of readings is conditioned on. `gold_pending` maps the id of each reading
    # counted here whose Votes record was not yet seen to its time: a redelivered reading found there is not
    # counted again; an entry goes at the glyph's next count once the record exists (drcaptcha/gold.py).
    readings = NumberAttribute(null=True)
    read_right = NumberAttribute(null=True)
    gold_pending = MapAttribute[str, object](null=True)
    by_state = GlyphsByState()
