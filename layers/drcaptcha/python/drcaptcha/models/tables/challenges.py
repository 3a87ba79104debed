"""One issued captcha: which glyphs it shows, what the scored positions expect, and its single-use state.

`expected` holds one class index per position, with -1 (glyphs.REMOVED) for an unlabelled position, so that one
conditional update can compare a typed answer with every position at once. `outcome` is written by that same
update; `redeemed_at` by the single siteverify that accepts the pass token.
"""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute

from drcaptcha.models.tables.base import TableModel

PASSED = "pass"
FAILED = "fail"


class ChallengeItem(TableModel):
    table_setting: ClassVar[str] = "challenges_table"

    class Meta:
        table_name = ""

    challenge_id = UnicodeAttribute(hash_key=True)
    site_key = UnicodeAttribute()
    # pynamodb types `of` as the element's own type; primitive elements are named by their attribute class.
    glyph_ids: ListAttribute[str] = ListAttribute(of=UnicodeAttribute)  # type: ignore[arg-type]
    expected: ListAttribute[int] = ListAttribute(of=NumberAttribute)  # type: ignore[arg-type]
    client = UnicodeAttribute()
    created_at = NumberAttribute()
    expires_at = NumberAttribute()
    used = BooleanAttribute(default=False)
    outcome = UnicodeAttribute(null=True)
    answered_at = NumberAttribute(null=True)
    redeemed_at = NumberAttribute(null=True)
    # The known class of each gold glyph (shown unscored, its reading measured: gold.py), REMOVED elsewhere.
    gold: ListAttribute[int] = ListAttribute(of=NumberAttribute, null=True)  # type: ignore[arg-type]
    test_mode = BooleanAttribute(null=True)  # issued for a test site: scores nothing, casts no votes
    # The proof of work's required leading zero bits (drcaptcha/pow.py); absent on challenges from before it.
    pow_difficulty = NumberAttribute(null=True)
    path = UnicodeAttribute(null=True)  # "accessible" for the proof-of-work-only path; absent for glyphs
    # Written by the pass, read back by siteverify: what the site's widget declared (Turnstile's action, cData).
    action = UnicodeAttribute(null=True)
    cdata = UnicodeAttribute(null=True)
