"""The vote record that the captcha function puts on the Kinesis stream and the labels function consumes."""

from __future__ import annotations

from pydantic import BaseModel, Field


class VoteRecord(BaseModel):
    """One passing visitor's answer for one unlabelled glyph.

    `vote_id` is unique per challenge position (`<challenge_id>:<position>`), so a redelivered record is
    recognised and counted once. `label` is the class the answer names under the merge rule, or None when the
    typed character names no class. `source` is a hashed client identity, never a raw IP. `gold` is the known
    class of a gold glyph (a known glyph shown unscored, whose readings measure how well people read it: gold.py),
    None for an unlabelled glyph.
    """

    vote_id: str = Field(min_length=3, max_length=128)
    glyph_id: str = Field(min_length=3, max_length=64)
    answer: str = Field(max_length=8)
    label: int | None = Field(default=None, ge=0, lt=47)
    source: str = Field(min_length=1, max_length=128)
    site_key: str = Field(default="", max_length=128)
    challenge_id: str = Field(default="", max_length=128)
    ts: float = Field(ge=0)
    weight: float = Field(default=1.0, ge=0, le=1)
    gold: int | None = Field(default=None, ge=0, lt=47)
