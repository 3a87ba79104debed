"""The captcha loop, free of HTTP: issue a challenge and answer it (tokens.py signs the pass, siteverify.py
redeems it).

AWS calls per operation, with warm caches (bench/bench_aws_calls.py measures them):
- issue: one TransactWriteItems that counts the request against the rate limit and stores the challenge;
- answer: one conditional update that marks the challenge used *and* records the outcome, plus one PutRecords of
  the votes on a pass (when the stream fails, one PutItem keeps them in the vote outbox instead: no vote is lost,
  and the visitor still gets their token). The update's condition holds the typed answer itself (each position
  must be unlabelled or name a class in its expected class's lookalike group), so a pass is decided and recorded
  by the same write, and so do the pass rule (`SCORED_WRONG_ALLOWED` scored positions may be wrong) and the proof
  of work: the bits the solution proves are computed here, in memory (drcaptcha/pow.py), and the condition
  compares them with the difficulty the item stores. Only when that condition fails does a second conditional
  update record the fail, or tell a
  replay or an expired challenge.

The writes themselves are drcaptcha/store/challenges.py's; this module decides what should happen.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray
from pynamodb.exceptions import PynamoDBException

from drcaptcha import charset, lookalikes, outbox, pow, warm
from drcaptcha.config import get_settings
from drcaptcha.errors import Forbidden, Gone, ServiceUnavailable, UnknownSite
from drcaptcha.glyphs import REMOVED, GlyphStore
from drcaptcha.models.api.captcha import (
    ACCESSIBLE_PATH,
    GLYPHS_PATH,
    INCORRECT_ANSWER,
    AnswerResponse,
    ChallengeResponse,
    LegacyCaptchaResponse,
    LegacyTestResponse,
    ProofOfWork,
)
from drcaptcha.models.stream import VoteRecord
from drcaptcha.ratelimit import FAILURE_COST, Limits, client_identity, client_windows
from drcaptcha.selection import GLYPHS_PER_CHALLENGE, SCORED_WRONG_ALLOWED, GlyphSelector, PickedGlyph
from drcaptcha.sites import LEGACY_SITE, SiteDirectory
from drcaptcha.store.challenges import Challenge, ChallengeStore, Declared
from drcaptcha.store.rate_limits import RateLimitStore
from drcaptcha.store.sites import Site
from drcaptcha.tokens import PassToken, client_key, sign_token, token_key

logger = logging.getLogger(__name__)

NO_CLASS: Final = -2

Renderer = Callable[[Sequence[NDArray[np.uint8]], np.random.Generator], bytes]
Clock = Callable[[], float]
# Where the votes of a pass go: (challenge id, votes, now) -> how many were kept back in the outbox.
VoteSink = Callable[[str, Sequence[VoteRecord], float], int]


# --- what a warm process keeps ------------------------------------------------------------------------------
@dataclass
class CaptchaRuntime:
    """What the captcha loop works with: the caches a warm process keeps between requests, the stores, the
    clock, the renderer, and where a pass's votes go."""

    glyphs: GlyphStore
    selector: GlyphSelector
    sites: SiteDirectory
    renderer: Renderer
    clock: Clock
    rng: np.random.Generator
    challenges: ChallengeStore = field(default_factory=ChallengeStore)
    rate_limits: RateLimitStore = field(default_factory=RateLimitStore)
    deliver_votes: VoteSink = outbox.deliver_votes
    # Each client's recent challenges and failed answers: the proof of work's difficulty rises with them.
    activity: pow.RecentActivity = field(default_factory=pow.RecentActivity)

    @classmethod
    def create(cls, *, clock: Clock = time.time, renderer: Renderer | None = None) -> CaptchaRuntime:
        if renderer is None:
            from drcaptcha.render import render_captcha

            renderer = render_captcha
        rng = np.random.default_rng()
        store = GlyphStore()
        return cls(
            glyphs=store,
            selector=GlyphSelector(store, rng, clock),
            sites=SiteDirectory(clock),
            renderer=renderer,
            clock=clock,
            rng=rng,
        )


_runtime: CaptchaRuntime | None = None


def warm_runtime() -> CaptchaRuntime:
    """This process's runtime, made on first use."""
    global _runtime
    if _runtime is None:
        _runtime = CaptchaRuntime.create()
    return _runtime


def replace_runtime(runtime: CaptchaRuntime | None) -> None:
    """Start over with `runtime`, or with a fresh one on next use (after the stack behind the caches changed)."""
    global _runtime
    _runtime = runtime


@warm.on_reset
def _forget_runtime() -> None:
    replace_runtime(None)


# --- issue ----------------------------------------------------------------------------------------------------
def issue_challenge(
    runtime: CaptchaRuntime, site_key: str, source_ip: str, *, accessible: bool = False
) -> ChallengeResponse:
    """A challenge of glyphs and proof of work, or (`accessible`, where the site allows it) of proof of work only."""
    site = runtime.sites.get(site_key)
    if site is None:
        # A made-up key costs the client as a challenge does: 429 once its cross-site allowance is spent.
        now = runtime.clock()
        client = client_identity(source_ip, client_key())
        runtime.rate_limits.spend(client_windows(client, now), 1, now, refuse_when_full=True, what="requests")
        raise UnknownSite(f"no site has the key {site_key!r}")
    if accessible and not site.accessible:
        raise Forbidden("this site does not offer the accessible path")
    return _issue(runtime, site, source_ip, accessible=accessible)


def _issue(runtime: CaptchaRuntime, site: Site, source_ip: str, *, accessible: bool = False) -> ChallengeResponse:
    settings = get_settings()
    client = client_identity(source_ip, client_key())
    now = runtime.clock()
    difficulty = _difficulty(runtime, site, client, now, accessible=accessible)
    picks = [] if accessible else runtime.selector.pick(client=client)
    challenge = Challenge(
        challenge_id=secrets.token_urlsafe(16),
        site_key=site.site_key,
        glyph_ids=[pick.ref.key for pick in picks],
        # A test site's challenge scores no position (any answer passes); _votes casts none for it.
        expected=[REMOVED if pick.label is None or pick.gold or site.test_mode else pick.label for pick in picks],
        test_mode=site.test_mode,
        gold=_gold_labels(picks),
        client=client,
        created_at=now,
        expires_at=now + settings.challenge_ttl_seconds,
        pow_difficulty=difficulty,
        accessible=accessible,
    )
    runtime.challenges.add(challenge, Limits.at(client, now), now)
    runtime.activity.record_request(client, now)
    image = None
    if picks:
        png = runtime.renderer(runtime.selector.images(picks), runtime.rng)
        image = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return ChallengeResponse(
        challenge_id=challenge.challenge_id,
        image=image,
        length=len(picks),
        expires_in=settings.challenge_ttl_seconds,
        pow=ProofOfWork(salt=challenge.challenge_id, difficulty=difficulty),
        path=ACCESSIBLE_PATH if accessible else GLYPHS_PATH,
        accessible_path=site.accessible,
    )


def _gold_labels(picks: Sequence[PickedGlyph]) -> list[int] | None:
    """The known class at each gold position, REMOVED elsewhere; None without gold glyphs."""
    if not any(pick.gold for pick in picks):
        return None
    return [pick.label if pick.gold and pick.label is not None else REMOVED for pick in picks]


def _difficulty(runtime: CaptchaRuntime, site: Site, client: str, now: float, *, accessible: bool) -> int:
    """The site's base, raised by the client's recent challenges and failures (pow.difficulty)."""
    base = get_settings().pow_default_difficulty if site.pow_difficulty is None else site.pow_difficulty
    recent = runtime.activity.of(client, now)
    rule = pow.accessible_difficulty if accessible else pow.difficulty
    return rule(base, recent.requests, recent.failures)


# --- answer ---------------------------------------------------------------------------------------------------
def answer_challenge(
    runtime: CaptchaRuntime,
    challenge_id: str,
    answer: str,
    site_key: str | None = None,
    *,
    pow_solution: str | None = None,
    declared: Declared | None = None,
    source_ip: str | None = None,
) -> AnswerResponse:
    """Single use: a pass returns a token, a fail `incorrect-answer`; a replay or late answer raises Gone.

    An empty `answer` is the accessible path's (only a challenge without glyphs accepts it). A fail counts
    against the answering client (`source_ip`) in the difficulty of its next challenges."""
    typed = charset.normalise_answer(answer)
    now = runtime.clock()
    settings = get_settings()
    # The pass also keeps the challenge until its token expires, so that siteverify can still redeem it.
    keep_until = now + settings.token_ttl_seconds
    readings = _readings(typed)
    bits = pow.achieved_bits(challenge_id, pow_solution)
    passed = (
        None
        if readings is None
        else runtime.challenges.record_pass(
            challenge_id,
            readings,
            now,
            site_key,
            keep_until,
            wrong_allowed=SCORED_WRONG_ALLOWED,
            proof_bits=bits,
            declared=declared,
        )
    )
    if passed is not None:
        put_votes(runtime, challenge_id, _votes(passed, typed, now), now)
        token = sign_token(PassToken(challenge_id, passed.site_key, int(now)), token_key())
        return AnswerResponse(success=True, token=token, expires_in=settings.token_ttl_seconds)
    if not runtime.challenges.record_fail(challenge_id, now, site_key):
        raise Gone("this challenge was answered already, has expired, or does not exist: fetch a new one")
    if source_ip is not None:
        # The fail costs the client FAILURE_COST challenges of its cross-site allowance (the rate limiter's
        # counters, one TransactWriteItems: the fail's second call, as the vote put is a pass's), and raises the
        # difficulty of this warm process's next challenges for it.
        # The fail is recorded already: a counter that cannot be written now costs the client nothing this time,
        # rather than turning its answer into a 503.
        client = client_identity(source_ip, client_key())
        try:
            runtime.rate_limits.spend(
                client_windows(client, now), FAILURE_COST, now, refuse_when_full=False, what="fails"
            )
        except ServiceUnavailable:
            logger.warning("a failed answer's cost was not counted (the rate-limit table refused the write)")
        runtime.activity.record_failure(client, now)
    return AnswerResponse(success=False, error_codes=[INCORRECT_ANSWER])


def _readings(typed: str) -> list[frozenset[int]] | None:
    """What each typed character may read as; [] for the accessible path's empty answer; None (a fail) for a wrong
    length or a character that names no class, in any position: `!!!` in the unscored positions once passed and
    cast votes for no class (issue 19, item 2).

    A scored glyph accepts any class in the typed class's lookalike group (0 for O, 1 for l); groups are
    symmetric, so "expected is among the typed class's readings" is "typed is among expected's"."""
    if not typed:
        return []
    labels = typed_labels(typed)
    if labels is None or NO_CLASS in labels:
        return None
    return [frozenset(lookalikes.readings_of(label)) for label in labels]


def typed_labels(typed: str) -> list[int] | None:
    """The class each typed character names under the merge rule, or None if the length is wrong.

    A character that names no class becomes NO_CLASS, which equals no expected label.
    """
    if len(typed) != GLYPHS_PER_CHALLENGE:
        return None
    return [NO_CLASS if (label := charset.class_of(character)) is None else label for character in typed]


def _votes(challenge: Challenge, typed: str, now: float) -> list[VoteRecord]:
    """One vote per unscored position of a passed challenge (a gold one carries its known class); none for a test
    site's."""
    if challenge.test_mode:
        return []
    gold = challenge.gold or [REMOVED] * len(challenge.glyph_ids)
    return [
        VoteRecord(
            vote_id=f"{challenge.challenge_id}:{position}",
            glyph_id=glyph_id,
            answer=typed[position],
            label=charset.class_of(typed[position]),
            source=challenge.client,
            site_key=challenge.site_key,
            challenge_id=challenge.challenge_id,
            ts=now,
            gold=None if gold[position] == REMOVED else gold[position],
        )
        for position, (glyph_id, expected) in enumerate(zip(challenge.glyph_ids, challenge.expected, strict=True))
        if expected == REMOVED
    ]


def put_votes(runtime: CaptchaRuntime, challenge_id: str, votes: Sequence[VoteRecord], now: float) -> None:
    """Put the votes of a pass on the stream, or keep them in the outbox: the pass is recorded, so no raise.

    The visitor gets their token either way; a vote the stream refused is replayed later (drcaptcha/outbox.py).
    """
    try:
        runtime.deliver_votes(challenge_id, votes, now)
    except PynamoDBException:
        return  # logged with the votes themselves by deliver_votes: the record of last resort


# --- the original project's API -------------------------------------------------------------------------------
def legacy_get_captcha(runtime: CaptchaRuntime, source_ip: str) -> LegacyCaptchaResponse:
    """`/api/get-captcha`: a challenge under the built-in legacy site (no site key, no siteverify)."""
    challenge = _issue(runtime, LEGACY_SITE, source_ip)
    return LegacyCaptchaResponse(captcha=challenge.challenge_id, image=str(challenge.image))


def legacy_test_captcha(runtime: CaptchaRuntime, captcha: str, value: str) -> LegacyTestResponse:
    """`/api/test-captcha`: `test` is whether `value` passes. Unlike the original, a captcha tests once."""
    try:
        result = answer_challenge(runtime, captcha, value, site_key=LEGACY_SITE.site_key)
    except Gone as error:
        return LegacyTestResponse(test=False, message=error.message)
    return LegacyTestResponse(test=result.success)
