"""Registered sites (the Sites table): the public key, the domain and the hashed secret."""

from __future__ import annotations

from dataclasses import dataclass

from drcaptcha.models.tables.sites import SiteItem


@dataclass(frozen=True)
class Site:
    site_key: str
    domain: str
    secret_hash: str
    # Like Turnstile's test keys: its challenges are real, every answer passes, no answer becomes a vote, and its
    # tokens redeem only with its own secret, so they are worth nothing to any other site.
    test_mode: bool = False


class SiteStore:
    def get(self, site_key: str) -> Site | None:
        try:
            item = SiteItem.get(site_key)
        except SiteItem.DoesNotExist:
            return None
        return Site(
            site_key=item.site_key, domain=item.domain, secret_hash=item.secret_hash, test_mode=bool(item.test_mode)
        )

    def add(self, site: Site, created_at: float) -> None:
        """Store a new site (keys are random, so an existing key is a bug: pynamodb's PutError is raised)."""
        item = SiteItem(
            site_key=site.site_key,
            domain=site.domain,
            secret_hash=site.secret_hash,
            created_at=created_at,
            test_mode=True if site.test_mode else None,
        )
        item.save(condition=SiteItem.site_key.does_not_exist())
