"""Who a client is counted as, and the two staggered windows it is counted in."""

from __future__ import annotations

import pytest

from drcaptcha.ratelimit import Limits, client_address, client_identity

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"),  # one /64: one subscriber
        ("::ffff:192.0.2.7", "192.0.2.7"),  # an IPv4 address, mapped or not
    ],
)
def test_addresses_of_one_subscriber_are_one_client(first: str, second: str) -> None:
    assert client_identity(first, KEY) == client_identity(second, KEY)


def test_other_networks_and_addresses_are_other_clients() -> None:
    assert client_identity("2001:db8:1:2::1", KEY) != client_identity("2001:db8:1:3::1", KEY)
    assert client_identity("192.0.2.7", KEY) != client_identity("192.0.2.8", KEY)
    assert client_address("not an address") == "not an address"


def test_the_two_windows_are_staggered_by_half_a_window_and_cover_any_half_window_stretch() -> None:
    # Window length 60 s (the default): at any moment one of the windows has at least 30 s left
    for now in (1_800_000_000.0 + offset for offset in range(0, 120, 7)):
        first, second = Limits.at("client", now).windows
        assert first.bucket != second.bucket
        assert {first.ends_at % 60, second.ends_at % 60} == {0, 30}
        assert max(first.ends_at, second.ends_at) - now >= 30


def test_retry_after_waits_for_every_full_window() -> None:
    now = 1_800_000_010.0  # 10 s into a minute: the aligned window ends in 50 s, the staggered one in 20 s
    limits = Limits.at("client", now)
    assert [window.ends_at - now for window in limits.windows] == [50.0, 20.0]
    assert limits.retry_after(now, (True, True)) == 50
    assert limits.retry_after(now, (False, True)) == 20
    assert limits.retry_after(now, (True, False)) == 50
