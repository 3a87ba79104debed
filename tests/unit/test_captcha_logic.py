"""The captcha loop's logic (issue, answer, siteverify, the site cache) over in-memory stores: no network.

The same flows run against the moto server in tests/integration/test_captcha_loop.py and test_siteverify.py;
these check the decisions, quickly, and that the logic asks the stores only what they promise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest
from numpy.typing import NDArray
from pynamodb.exceptions import PutError

from drcaptcha import admins, charset, sites, warm
from drcaptcha.challenges import CaptchaRuntime, answer_challenge, issue_challenge, legacy_test_captcha
from drcaptcha.errors import Gone, RateLimited, ServiceUnavailable, UnknownSite
from drcaptcha.glyphs import REMOVED, GlyphRef
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import CROWD
from drcaptcha.selection import PickedGlyph
from drcaptcha.sites import SiteDirectory
from drcaptcha.siteverify import verify_pass
from drcaptcha.tokens import read_token, token_key
from tests.unit.memory_stores import (
    MemoryChallengeStore,
    MemoryGlyphVoteStore,
    MemoryRateLimitStore,
    MemorySiteStore,
)

KEY = "unit-signing-key-0123456789abcdef"
KNOWN = {0: charset.class_of("7"), 2: charset.class_of("A"), 4: charset.class_of("k")}
PICKS = [PickedGlyph(GlyphRef("train", 0, position), KNOWN.get(position)) for position in range(6)]


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class FixedSelector:
    """Always the same six glyphs, in order: known at positions 0, 2 and 4, unlabelled at 1, 3 and 5."""

    def pick(self, client: str | None = None) -> list[PickedGlyph]:
        return list(PICKS)

    def images(self, picks: Sequence[PickedGlyph]) -> list[NDArray[np.uint8]]:
        return [np.zeros((28, 28), dtype=np.uint8) for _ in picks]


class GoldSelector(FixedSelector):
    """The same glyphs, but a known 0 shown as gold (unscored) at position 5."""

    def pick(self, client: str | None = None) -> list[PickedGlyph]:
        return [*PICKS[:5], PickedGlyph(GlyphRef("train", 0, 5), charset.class_of("0"), gold=True)]


@dataclass
class Loop:
    clock: Clock = field(default_factory=Clock)
    challenges: MemoryChallengeStore = field(default_factory=MemoryChallengeStore)
    sites: MemorySiteStore = field(default_factory=MemorySiteStore)
    rate_limits: MemoryRateLimitStore = field(default_factory=MemoryRateLimitStore)
    delivered: list[VoteRecord] = field(default_factory=list)

    def runtime(self) -> CaptchaRuntime:
        def deliver(challenge_id: str, votes: Sequence[VoteRecord], now: float) -> int:
            self.delivered.extend(votes)
            return 0

        return CaptchaRuntime(
            glyphs=None,  # the fixed selector reads no shards
            selector=FixedSelector(),
            sites=SiteDirectory(self.clock, store=self.sites),
            renderer=lambda images, rng: b"png",
            clock=self.clock,
            rng=np.random.default_rng(0),
            challenges=self.challenges,
            rate_limits=self.rate_limits,  # type: ignore[arg-type]  # the same methods (test_labelling_logic)
            deliver_votes=deliver,
        )


def right_answer(unlabelled: str = "x") -> str:
    return "".join(charset.character_of(KNOWN[p]) if p in KNOWN else unlabelled for p in range(6))


@pytest.fixture
def loop(monkeypatch: pytest.MonkeyPatch) -> Loop:
    monkeypatch.setenv("TOKEN_SIGNING_KEY", KEY)
    monkeypatch.setenv("RATE_LIMIT_CHALLENGES", "3")
    # The glyph logic alone: tests/unit/test_pow.py checks the proof of work over the same stores.
    monkeypatch.setenv("POW_DEFAULT_DIFFICULTY", "0")
    warm.reset()
    return Loop()


def test_issuing_stores_what_each_position_expects_and_counts_the_request(loop: Loop) -> None:
    site = sites.create_site("example.com", loop.clock, store=loop.sites)

    challenge = issue_challenge(loop.runtime(), site.site_key, "192.0.2.1")

    stored = loop.challenges.items[challenge.challenge_id]
    assert stored.challenge.expected == [KNOWN.get(position, REMOVED) for position in range(6)]
    assert stored.challenge.site_key == site.site_key
    assert challenge.image == "data:image/png;base64,cG5n"
    # Counted once in each of the client's two staggered windows
    assert sorted(loop.challenges.hits.values()) == [1, 1]


def test_an_unknown_site_gets_no_challenge_and_costs_the_client_a_request(loop: Loop) -> None:
    with pytest.raises(UnknownSite):
        issue_challenge(loop.runtime(), "dc_site_nobody-at-all", "192.0.2.1")
    assert loop.challenges.items == {}
    assert sorted(loop.rate_limits.hits.values()) == [1, 1]


def test_made_up_site_keys_past_the_clients_allowance_are_rate_limited(loop: Loop) -> None:
    """Issue 19, item 1: unknown site keys were answered 400 without limit."""
    runtime = loop.runtime()
    for number in range(3):  # the loop's limit
        with pytest.raises(UnknownSite):
            issue_challenge(runtime, f"dc_site_made-up-{number}", "192.0.2.1")
    with pytest.raises(RateLimited):
        issue_challenge(runtime, "dc_site_made-up-3", "192.0.2.1")


def test_a_client_past_the_window_limit_is_told_when_to_retry(loop: Loop) -> None:
    site = sites.create_site("example.com", loop.clock, store=loop.sites)
    runtime = loop.runtime()
    for _ in range(3):
        issue_challenge(runtime, site.site_key, "192.0.2.1")

    with pytest.raises(RateLimited) as limited:
        issue_challenge(runtime, site.site_key, "192.0.2.1")

    assert 1 <= limited.value.retry_after <= 60
    # Another client is counted apart
    issue_challenge(runtime, site.site_key, "192.0.2.2")


def test_a_right_answer_passes_once_and_sends_one_vote_per_unlabelled_glyph(loop: Loop) -> None:
    site = sites.create_site("example.com", loop.clock, store=loop.sites)
    runtime = loop.runtime()
    challenge = issue_challenge(runtime, site.site_key, "192.0.2.1")

    passed = answer_challenge(runtime, challenge.challenge_id, right_answer("q"))

    assert passed.success
    assert passed.token is not None
    token = read_token(passed.token, token_key())
    assert token is not None
    assert (token.challenge_id, token.site_key) == (challenge.challenge_id, site.site_key)
    assert [(vote.glyph_id, vote.answer) for vote in loop.delivered] == [
        (PICKS[position].ref.key, "q") for position in (1, 3, 5)
    ]
    with pytest.raises(Gone):
        answer_challenge(runtime, challenge.challenge_id, right_answer())


def test_a_gold_glyph_is_unscored_and_its_reading_is_a_vote_that_carries_its_known_class(loop: Loop) -> None:
    # Given a challenge whose last position shows a known 0 as gold
    site = sites.create_site("example.com", loop.clock, store=loop.sites)
    runtime = loop.runtime()
    runtime.selector = GoldSelector()  # type: ignore[assignment]
    challenge = issue_challenge(runtime, site.site_key, "192.0.2.1")
    stored = loop.challenges.items[challenge.challenge_id].challenge

    # When it is answered with a 7 at the gold position
    passed = answer_challenge(runtime, challenge.challenge_id, right_answer("x")[:5] + "7")

    # Then the gold position is not scored, and its reading is a vote with the exact class typed and the known one
    assert passed.success
    assert stored.expected[5] == REMOVED
    assert stored.gold == [REMOVED] * 5 + [charset.class_of("0")]
    votes = {vote.glyph_id: vote for vote in loop.delivered}
    assert len(votes) == 3
    gold_vote = votes[GlyphRef("train", 0, 5).key]
    assert (gold_vote.label, gold_vote.gold) == (charset.class_of("7"), charset.class_of("0"))
    assert all(vote.gold is None for key, vote in votes.items() if key != gold_vote.glyph_id)


def test_one_wrong_scored_glyph_is_forgiven_and_two_are_not(loop: Loop) -> None:
    site = sites.create_site("example.com", loop.clock, store=loop.sites)
    runtime = loop.runtime()
    first, second = (issue_challenge(runtime, site.site_key, "192.0.2.1") for _ in range(2))
    right = right_answer()

    assert answer_challenge(runtime, first.challenge_id, "1" + right[1:]).success
    assert not answer_challenge(runtime, second.challenge_id, "1" + right[1:4] + "1" + right[5]).success


def test_a_wrong_answer_fails_and_uses_the_challenge_up(loop: Loop) -> None:
    site = sites.create_site("example.com", loop.clock, store=loop.sites)
    runtime = loop.runtime()
    challenge = issue_challenge(runtime, site.site_key, "192.0.2.1")
    right = right_answer()
    wrong = "1" + right[1] + "1" + right[3:]  # two of the three scored glyphs wrong: one is forgiven

    failed = answer_challenge(runtime, challenge.challenge_id, wrong)

    assert not failed.success
    assert failed.error_codes == ["incorrect-answer"]
    assert loop.delivered == []
    with pytest.raises(Gone):
        answer_challenge(runtime, challenge.challenge_id, right_answer())


def test_a_failed_answer_costs_the_client_and_stays_a_fail_when_the_counters_cannot_be_written(loop: Loop) -> None:
    site = sites.create_site("example.com", loop.clock, store=loop.sites)
    runtime = loop.runtime()
    wrong = "000000"
    # A fail adds FAILURE_COST (2) to each of the client's two windows
    first = issue_challenge(runtime, site.site_key, "192.0.2.1")
    assert not answer_challenge(runtime, first.challenge_id, wrong, source_ip="192.0.2.1").success
    assert sorted(loop.rate_limits.hits.values()) == [2, 2]

    # When the rate-limit table refuses the write, the answer is still a plain fail, not a 503
    second = issue_challenge(runtime, site.site_key, "192.0.2.1")

    def refuse(*args: object, **kwargs: object) -> None:
        raise ServiceUnavailable("throttled")

    loop.rate_limits.spend = refuse  # type: ignore[method-assign]
    failed = answer_challenge(runtime, second.challenge_id, wrong, source_ip="192.0.2.1")
    assert failed.error_codes == ["incorrect-answer"]


def test_an_answer_of_the_wrong_length_fails_without_a_pass(loop: Loop) -> None:
    site = sites.create_site("example.com", loop.clock, store=loop.sites)
    runtime = loop.runtime()
    challenge = issue_challenge(runtime, site.site_key, "192.0.2.1")

    assert not answer_challenge(runtime, challenge.challenge_id, right_answer()[:5]).success


def test_a_late_answer_is_gone(loop: Loop) -> None:
    site = sites.create_site("example.com", loop.clock, store=loop.sites)
    runtime = loop.runtime()
    challenge = issue_challenge(runtime, site.site_key, "192.0.2.1")
    loop.clock.now += challenge.expires_in

    with pytest.raises(Gone):
        answer_challenge(runtime, challenge.challenge_id, right_answer())


def test_a_legacy_test_of_another_sites_challenge_is_false_not_an_error(loop: Loop) -> None:
    site = sites.create_site("example.com", loop.clock, store=loop.sites)
    runtime = loop.runtime()
    challenge = issue_challenge(runtime, site.site_key, "192.0.2.1")

    result = legacy_test_captcha(runtime, challenge.challenge_id, right_answer())

    assert not result.test
    assert result.message is not None


def test_a_pass_token_verifies_once_for_its_own_site(loop: Loop) -> None:
    site = sites.create_site("shop.example.com", loop.clock, store=loop.sites)
    other = sites.create_site("other.example.com", loop.clock, store=loop.sites)
    runtime = loop.runtime()
    challenge = issue_challenge(runtime, site.site_key, "192.0.2.1")
    token = answer_challenge(runtime, challenge.challenge_id, right_answer()).token

    assert verify_pass(runtime, other.secret, token).error_codes == ["invalid-input-response"]
    first = verify_pass(runtime, site.secret, token)
    again = verify_pass(runtime, site.secret, token)

    assert (first.success, first.hostname) == (True, "shop.example.com")
    assert (again.success, again.error_codes) == (False, ["timeout-or-duplicate"])
    assert verify_pass(runtime, site.secret + "x", token).error_codes == ["invalid-input-secret"]
    assert verify_pass(runtime, None, "").error_codes == ["missing-input-secret", "missing-input-response"]


def test_sites_are_read_once_per_cache_lifetime_by_the_runtimes_clock(loop: Loop) -> None:
    site = sites.create_site("example.com", loop.clock, store=loop.sites)
    directory = SiteDirectory(loop.clock, store=loop.sites)

    directory.get(site.site_key)
    directory.get(site.site_key)
    directory.get("dc_site_unknown-key")
    directory.get("dc_site_unknown-key")
    assert loop.sites.reads == 2

    loop.clock.now += 61  # SITES_CACHE_SECONDS is 60 by default
    directory.get(site.site_key)
    assert loop.sites.reads == 3

    warm.reset()
    directory.get(site.site_key)
    assert loop.sites.reads == 4
    assert directory.get(sites.LEGACY_SITE_KEY) == sites.LEGACY_SITE
    assert loop.sites.reads == 4


def test_votes_that_nobody_can_keep_still_leave_the_visitor_their_token(loop: Loop) -> None:
    site = sites.create_site("example.com", loop.clock, store=loop.sites)
    runtime = loop.runtime()

    def refuse(challenge_id: str, votes: Sequence[VoteRecord], now: float) -> int:
        raise PutError("the outbox is down too")

    runtime.deliver_votes = refuse
    challenge = issue_challenge(runtime, site.site_key, "192.0.2.1")

    assert answer_challenge(runtime, challenge.challenge_id, right_answer()).success


def test_a_test_sites_challenge_passes_any_answer_and_casts_no_vote(loop: Loop) -> None:
    site = sites.create_site("smoke.example.com", loop.clock, test_mode=True, store=loop.sites)
    runtime = loop.runtime()
    challenge = issue_challenge(runtime, site.site_key, "192.0.2.1")

    passed = answer_challenge(runtime, challenge.challenge_id, "zzzzzz")

    assert passed.success
    assert loop.challenges.items[challenge.challenge_id].challenge.expected == [REMOVED] * 6
    assert loop.delivered == []
    assert verify_pass(runtime, site.secret, passed.token).success


def test_the_admin_stats_count_what_the_stores_hold_and_say_when_nothing_is_left_to_label(loop: Loop) -> None:
    # Given one passed, one failed and one open challenge, and a crowd that has labelled its only glyph
    site = sites.create_site("example.com", loop.clock, store=loop.sites)
    runtime = loop.runtime()
    passed, failed, _ = (issue_challenge(runtime, site.site_key, "198.51.100.7") for _ in range(3))
    answer_challenge(runtime, passed.challenge_id, right_answer())
    answer_challenge(runtime, failed.challenge_id, "000000")
    glyphs = MemoryGlyphVoteStore()
    glyphs.add_glyph("train:00000:0001")
    glyphs.glyphs["train:00000:0001"].state = CROWD

    # When the stats are read
    stats = admins.crowd_stats(loop.clock, glyphs=glyphs, challenges=loop.challenges, manifest=lambda: None)

    # Then each count is the stores', and nothing is left to label
    assert (stats.challenges, stats.challenges_passed, stats.challenges_failed, stats.challenges_open) == (3, 1, 1, 1)
    assert stats.pass_rate == 0.5
    assert (stats.glyphs_unlabelled, stats.glyphs_labelled_by_crowd) == (0, 1)
    assert stats.nothing_left_to_label

    # And once a glyph is unlabelled again, there is something to label
    glyphs.add_glyph("train:00000:0002")
    assert not admins.crowd_stats(
        loop.clock, glyphs=glyphs, challenges=loop.challenges, manifest=lambda: None
    ).nothing_left_to_label
    # And before any import, nothing is said about the scored pool
    assert stats.labels_public is None and stats.scored_glyphs is None


def test_a_flood_of_made_up_site_keys_never_pushes_a_real_site_out_of_the_cache(loop: Loop) -> None:
    """Issue 19, item 1: unknown keys shared the site cache, so 10,000 of them evicted the real sites."""
    site = sites.create_site("example.com", loop.clock, store=loop.sites)
    directory = SiteDirectory(loop.clock, store=loop.sites)
    assert directory.get(site.site_key) is not None
    reads_after_first_lookup = loop.sites.reads

    # When 12,000 made-up keys are looked up (each read once, then remembered as unknown)
    for number in range(12_000):
        assert directory.get(f"dc_site_made-up-{number}") is None
    assert directory.get("dc_site_made-up-11999") is None

    # Then the real site is still served from the cache: no read for it
    reads = loop.sites.reads
    assert directory.get(site.site_key) is not None
    assert loop.sites.reads == reads == reads_after_first_lookup + 12_000
