"""Pass tokens (sign, verify, tamper, expiry with an injected clock) and site secrets (hashing, parsing)."""

from __future__ import annotations

import base64
import json

import pytest

from drcaptcha import sites
from drcaptcha.config import get_settings, reset_settings
from drcaptcha.store.sites import Site
from drcaptcha.tokens import (
    INVALID_RESPONSE,
    TIMEOUT_OR_DUPLICATE,
    PassToken,
    TokenRejected,
    accepted_token,
    client_key,
    read_token,
    sign_token,
    token_key,
)

KEY = b"k" * 32
NOW = 1_800_000_000.0
SITE = "dc_site_abcdefghijklmnop"


def token_text(issued_at: float = NOW, site_key: str = SITE, key: bytes = KEY) -> str:
    return sign_token(PassToken("challenge-0123456789", site_key, int(issued_at)), key)


def test_a_signed_token_reads_back_as_the_same_reference() -> None:
    assert read_token(token_text(), KEY) == PassToken("challenge-0123456789", SITE, int(NOW))


def test_a_token_holds_nothing_but_the_challenge_site_and_time() -> None:
    payload = token_text().split(".")[1]

    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

    assert decoded == ["challenge-0123456789", SITE, int(NOW)]


def test_a_token_signed_with_another_key_is_not_read() -> None:
    assert read_token(token_text(key=b"x" * 32), KEY) is None


@pytest.mark.parametrize("part", [0, 1, 2])
def test_changing_any_part_of_a_token_breaks_it(part: int) -> None:
    pieces = token_text().split(".")
    pieces[part] = pieces[part][:-1] + ("A" if pieces[part][-1] != "A" else "B")

    assert read_token(".".join(pieces), KEY) is None


def test_a_payload_swapped_in_from_another_token_fails_the_signature() -> None:
    mine = token_text().split(".")
    other = token_text(site_key="dc_site_someoneelse000").split(".")

    assert read_token(f"{mine[0]}.{other[1]}.{mine[2]}", KEY) is None


@pytest.mark.parametrize("garbage", ["", "dc1", "dc1..", "dc1.e30.", "not a token", "dc1.!!!.???"])
def test_garbage_is_not_a_token(garbage: str) -> None:
    assert read_token(garbage, KEY) is None


def test_a_token_is_accepted_until_its_ttl_and_not_a_second_later() -> None:
    ttl = get_settings().token_ttl_seconds

    accepted = accepted_token(token_text(), SITE, KEY, now=NOW + ttl)
    with pytest.raises(TokenRejected) as late:
        accepted_token(token_text(), SITE, KEY, now=NOW + ttl + 1)

    assert accepted.issued_at == int(NOW)
    assert late.value.code == TIMEOUT_OR_DUPLICATE


def test_a_token_from_another_site_is_an_invalid_response() -> None:
    with pytest.raises(TokenRejected) as rejected:
        accepted_token(token_text(site_key="dc_site_someoneelse000"), SITE, KEY, now=NOW)

    assert rejected.value.code == INVALID_RESPONSE


def test_a_token_from_the_future_beyond_clock_skew_is_rejected() -> None:
    with pytest.raises(TokenRejected) as rejected:
        accepted_token(token_text(issued_at=NOW + 60), SITE, KEY, now=NOW)

    assert rejected.value.code == TIMEOUT_OR_DUPLICATE


def test_a_secret_is_stored_as_a_keyed_hash_that_only_the_secret_matches() -> None:
    site_key, secret = "dc_site_AAAAAAAAAAAAAAAAAAAAAA", "dc_secret_AAAAAAAAAAAAAAAAAAAAAA.s3cr3t"
    site = Site(site_key=site_key, domain="example.com", secret_hash=sites.hash_secret(site_key, secret))

    assert secret not in site.secret_hash
    assert sites.secret_matches(site, secret)
    assert not sites.secret_matches(site, secret + "x")
    assert sites.hash_secret("dc_site_other", secret) != site.secret_hash


def test_the_legacy_site_has_no_secret_that_could_match() -> None:
    assert not sites.secret_matches(sites.LEGACY_SITE, "")
    assert not sites.secret_matches(sites.LEGACY_SITE, "dc_secret_x.y")


@pytest.mark.parametrize(
    ("secret", "site_key"),
    [
        ("dc_secret_abc-_123.randompart", "dc_site_abc-_123"),
        ("dc_secret_.randompart", None),
        ("dc_secret_abc", None),
        ("dc_secret_abc.", None),
        ("sk_live_abc.def", None),
        ("", None),
    ],
)
def test_a_secret_names_its_site(secret: str, site_key: str | None) -> None:
    assert sites.site_key_of_secret(secret) == site_key


@pytest.mark.parametrize("signature", ["é" * 43, "A" * 42 + "\udcff", "A" * 44, "A" * 42])
def test_a_signature_outside_base64url_or_of_the_wrong_length_is_not_a_token(signature: str) -> None:
    prefix, payload, _ = token_text().split(".")

    assert read_token(f"{prefix}.{payload}.{signature}", KEY) is None


def test_tokens_and_client_identities_use_two_subkeys_that_rotate_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given one master key
    monkeypatch.setenv("TOKEN_SIGNING_KEY", "master-key-0123456789abcdef0123456789")
    reset_settings()
    tokens_first, clients_first = token_key(), client_key()
    # Then neither subkey is the master key, nor the other
    assert len({tokens_first, clients_first, b"master-key-0123456789abcdef0123456789"}) == 3

    # When the token key's generation is raised, only the token key changes
    monkeypatch.setenv("TOKEN_KEY_GENERATION", "2")
    reset_settings()
    assert token_key() != tokens_first
    assert client_key() == clients_first

    # And when the client key's generation is raised, client identities change and tokens do not
    monkeypatch.delenv("TOKEN_KEY_GENERATION")
    monkeypatch.setenv("CLIENT_KEY_GENERATION", "2")
    reset_settings()
    assert token_key() == tokens_first
    assert client_key() != clients_first
