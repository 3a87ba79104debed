"""Registered sites (the Sites table): the public key, the domain and the hashed secret."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.expressions.update import Action

from drcaptcha.models.tables.sites import SiteItem
from drcaptcha.store.base import ConditionFailed, conditional_write


@dataclass(frozen=True)
class Site:
    site_key: str
    domain: str
    secret_hash: str
    # Like Turnstile's test keys: its challenges are real, every answer passes, no answer becomes a vote, and its
    # tokens redeem only with its own secret, so they are worth nothing to any other site.
    test_mode: bool = False
    # The proof of work's base difficulty in bits (None: the POW_DEFAULT_DIFFICULTY setting, read when issuing),
    # and whether the widget may offer the accessible path (proof of work only, no glyphs; drcaptcha/pow.py).
    pow_difficulty: int | None = None
    accessible: bool = False


class SiteStore:
    def get(self, site_key: str) -> Site | None:
        try:
            item = SiteItem.get(site_key)
        except SiteItem.DoesNotExist:
            return None
        return Site(
            site_key=item.site_key,
            domain=item.domain,
            secret_hash=item.secret_hash,
            test_mode=bool(item.test_mode),
            pow_difficulty=None if item.pow_difficulty is None else int(item.pow_difficulty),
            accessible=bool(item.accessible),
        )

    def add(self, site: Site, created_at: float) -> None:
        """Store a new site (keys are random, so an existing key is a bug: pynamodb's PutError is raised)."""
        item = SiteItem(
            site_key=site.site_key,
            domain=site.domain,
            secret_hash=site.secret_hash,
            created_at=created_at,
            test_mode=True if site.test_mode else None,
            pow_difficulty=site.pow_difficulty,
            accessible=True if site.accessible else None,
        )
        item.save(condition=SiteItem.site_key.does_not_exist())

    def update_settings(self, site_key: str, pow_difficulty: int | None, accessible: bool | None) -> Site | None:
        """Change a site's proof-of-work base and accessible-path flag (None leaves one as it is); None if no
        site has the key."""
        actions: list[Action] = []
        if pow_difficulty is not None:
            actions.append(SiteItem.pow_difficulty.set(pow_difficulty))
        if accessible is not None:
            actions.append(SiteItem.accessible.set(accessible))
        if actions:
            try:
                with conditional_write():
                    SiteItem(site_key=site_key).update(actions=actions, condition=SiteItem.site_key.exists())
            except ConditionFailed:
                return None
        return self.get(site_key)
