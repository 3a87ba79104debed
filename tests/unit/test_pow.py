"""The proof of work's rules (drcaptcha/pow.py): counting bits, solving, and the difficulty a client earns."""

from __future__ import annotations

import hashlib

from drcaptcha import pow


def test_leading_zero_bits_count_from_the_first_byte() -> None:
    assert pow.leading_zero_bits(bytes([0x00, 0x0F]) + bytes(30)) == 12
    assert pow.leading_zero_bits(bytes([0x80]) + bytes(31)) == 0
    assert pow.leading_zero_bits(bytes(32)) == 256


def test_a_solution_proves_its_bits_for_its_own_salt_only() -> None:
    nonce = pow.solve("challenge-one-0123", 10)
    assert all(pow.achieved_bits("challenge-one-0123", str(n)) < 10 for n in range(int(nonce)))

    digest = hashlib.sha256(f"challenge-one-0123:{nonce}".encode()).digest()
    assert pow.leading_zero_bits(digest) >= 10
    assert pow.achieved_bits("challenge-one-0123", nonce) >= 10


def test_malformed_nonces_prove_nothing() -> None:
    for nonce in (None, "", "12a", "1" * 21, "١٢٣"):  # the last: Arabic-Indic digits, which isdigit() accepts
        assert pow.achieved_bits("salt-0123456789abcdef", nonce) == 0


def test_difficulty_is_the_base_until_a_client_fails_or_floods() -> None:
    assert pow.difficulty(16, recent_requests=pow.FREE_REQUESTS, recent_failures=pow.FREE_FAILURES) == 16


def test_each_failure_past_the_free_ones_adds_a_bit() -> None:
    counts = [pow.difficulty(16, 0, failures) for failures in range(6)]
    assert counts == [16, 16, 16, 17, 18, 19]


def test_each_doubling_of_requests_past_the_free_ones_adds_a_bit() -> None:
    free = pow.FREE_REQUESTS
    assert [pow.difficulty(16, free + extra, 0) for extra in (1, 2, 4, 8)] == [17, 18, 19, 20]


def test_the_extra_bits_and_the_difficulty_are_capped() -> None:
    assert pow.difficulty(16, 10_000, 100) == 16 + pow.MAX_EXTRA_BITS
    assert pow.difficulty(26, 10_000, 100) == pow.MAX_DIFFICULTY
    assert pow.accessible_difficulty(27, 0, 0) == pow.MAX_DIFFICULTY


def test_the_legacy_base_of_zero_never_asks_for_work() -> None:
    assert pow.difficulty(0, 10_000, 100) == 0


def test_the_accessible_path_asks_for_more_than_the_glyph_path() -> None:
    assert pow.accessible_difficulty(16, 0, 0) == 16 + pow.ACCESSIBLE_EXTRA_BITS


def test_recent_activity_forgets_what_is_older_than_its_window() -> None:
    activity = pow.RecentActivity()
    for second in range(3):
        activity.record_request("client", float(second))
    activity.record_failure("client", 2.0)

    assert activity.of("client", 2.0) == pow.Activity(requests=3, failures=1)
    assert activity.of("client", 1.0 + pow.ACTIVITY_WINDOW_SECONDS) == pow.Activity(requests=1, failures=1)
    assert activity.of("client", 10.0 + pow.ACTIVITY_WINDOW_SECONDS) == pow.Activity()
    assert activity.of("someone else", 2.0) == pow.Activity()
