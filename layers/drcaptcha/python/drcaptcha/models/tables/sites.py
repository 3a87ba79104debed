"""A website that embeds the widget: its public site key, its registered domain and its hashed secret."""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute

from drcaptcha.models.tables.base import TableModel


class SiteItem(TableModel):
    """`secret_hash` is HMAC-SHA256(site_key, secret); the secret itself is never stored."""

    table_setting: ClassVar[str] = "sites_table"

    class Meta:
        table_name = ""

    site_key = UnicodeAttribute(hash_key=True)
    domain = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    created_at = NumberAttribute()
    # A test site (the smoke test's): every answer passes and none becomes a vote (docs/DEPLOY.md, section 7).
    test_mode = BooleanAttribute(null=True)
    # The proof of work's base difficulty in bits (absent: the POW_DEFAULT_DIFFICULTY setting), and whether the
    # widget may offer the accessible path (proof of work only, no glyphs).
    pow_difficulty = NumberAttribute(null=True)
    accessible = BooleanAttribute(null=True)
