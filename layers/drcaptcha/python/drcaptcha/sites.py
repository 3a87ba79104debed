"""Sites: a public site key for the widget and a secret for siteverify, stored only as a keyed hash.

A secret names its site: `dc_secret_<site id>.<random>`, where the site key is `dc_site_<site id>`. So siteverify
can tell a wrong secret (`invalid-input-secret`) from a right secret with another site's token
(`invalid-input-response`) with one cached lookup, and no index on the hash. Both halves are random (128 and 256
bits), so a plain keyed SHA-256 is enough: nothing can be guessed offline, and verifying stays fast enough for
every siteverify call (a slow password hash such as scrypt protects low-entropy secrets, which these are not).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from drcaptcha import warm
from drcaptcha.config import get_settings
from drcaptcha.errors import NotFound
from drcaptcha.store.sites import Site, SiteStore

SITE_KEY_PREFIX: Final = "dc_site_"
SECRET_PREFIX: Final = "dc_secret_"  # noqa: S105 - a format tag, not a secret
LEGACY_SITE_KEY: Final = "legacy"
_SECRET_SEPARATOR: Final = "."  # noqa: S105 - a format tag, not a secret
_MAX_CACHED_SITES: Final = 10_000


@dataclass(frozen=True)
class NewSite:
    """What `create_site` hands back once: the secret is not kept anywhere else."""

    site_key: str
    secret: str
    domain: str


# The original API had no sites; its routes issue challenges under this built-in site, which has no secret, so
# none of its passes can ever be redeemed through siteverify.
# Its clients predate the proof of work and cannot solve one, so it asks for none (difficulty 0).
LEGACY_SITE: Final = Site(site_key=LEGACY_SITE_KEY, domain="", secret_hash="", pow_difficulty=0)


def hash_secret(site_key: str, secret: str) -> str:
    return hmac.new(site_key.encode(), secret.encode(), hashlib.sha256).hexdigest()


def secret_matches(site: Site, secret: str) -> bool:
    if not site.secret_hash:
        return False
    return hmac.compare_digest(hash_secret(site.site_key, secret), site.secret_hash)


def site_key_of_secret(secret: str) -> str | None:
    """The site key that a well-formed secret names, or None for anything else."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    site_id, separator, random_part = secret[len(SECRET_PREFIX) :].partition(_SECRET_SEPARATOR)
    if not site_id or not separator or not random_part:
        return None
    return SITE_KEY_PREFIX + site_id


def create_site(
    domain: str,
    clock: Callable[[], float] = time.time,
    *,
    test_mode: bool = False,
    pow_difficulty: int | None = None,
    accessible: bool = False,
    store: SiteStore | None = None,
) -> NewSite:
    """Register a site; the returned secret is shown once and only its hash is stored. Test mode is for good.

    `pow_difficulty` is the proof of work's base in bits (None: the POW_DEFAULT_DIFFICULTY setting); `accessible`
    lets the widget offer the proof-of-work-only path."""
    site_id = secrets.token_urlsafe(16)
    site_key = SITE_KEY_PREFIX + site_id
    secret = f"{SECRET_PREFIX}{site_id}{_SECRET_SEPARATOR}{secrets.token_urlsafe(32)}"
    site = Site(
        site_key=site_key,
        domain=domain,
        secret_hash=hash_secret(site_key, secret),
        test_mode=test_mode,
        pow_difficulty=pow_difficulty,
        accessible=accessible,
    )
    (store or SiteStore()).add(site, created_at=clock())
    return NewSite(site_key=site_key, secret=secret, domain=domain)


def update_site(
    site_key: str, *, pow_difficulty: int | None, accessible: bool | None, store: SiteStore | None = None
) -> Site:
    """Change a site's proof-of-work base or accessible-path flag (warm processes see it within
    `sites_cache_seconds`); NotFound if no site has the key."""
    site = (store or SiteStore()).update_settings(site_key, pow_difficulty, accessible)
    if site is None:
        raise NotFound(f"no site has the key {site_key!r}")
    return site


class SiteDirectory:
    """Sites by key, cached per warm process for `sites_cache_seconds` (a deleted site lapses within that time)."""

    def __init__(self, clock: Callable[[], float] = time.time, store: SiteStore | None = None) -> None:
        self._store = store or SiteStore()
        self._cache: warm.TLRUCache[str, Site] = warm.expiring(
            _MAX_CACHED_SITES, lambda: get_settings().sites_cache_seconds, clock
        )
        # Unknown keys are remembered too, so a flood of made-up keys costs one read per key and lifetime, but in a
        # bounded cache of their own: they can never push a real site out (issue 19, item 1). The client pays for
        # each with its rate limit (challenges.issue_challenge).
        self._unknown: warm.TLRUCache[str, bool] = warm.expiring(
            _MAX_CACHED_SITES, lambda: get_settings().sites_cache_seconds, clock
        )

    def get(self, site_key: str) -> Site | None:
        if site_key == LEGACY_SITE_KEY:
            return LEGACY_SITE
        if site_key in self._unknown:
            return None
        try:
            return self._cache[site_key]
        except KeyError:
            pass  # not cached, or lapsed
        site = self._store.get(site_key)
        if site is None:
            self._unknown[site_key] = True
        else:
            self._cache[site_key] = site
        return site
