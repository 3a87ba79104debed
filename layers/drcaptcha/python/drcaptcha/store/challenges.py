"""Issued challenges (the Challenges table): stored with their rate-limit hit, answered once, redeemed once.

Every state change is ONE conditional write, so two racing requests can never both pass, fail or redeem the same
challenge:
- `add`: counts the challenge against the client's rate-limit windows (one conditional update of the client's
  counter, store/rate_limits.py), then stores it (one conditional put);
- `record_pass`: marks the challenge passed if, and only if, it is open, the proof of work's bits (computed in
  memory by drcaptcha/pow.py) reach its stored `pow_difficulty`, and every scored position but the pass rule's
  allowance expects one of the classes its typed character reads as (`expected` holds -1, glyphs.REMOVED, at an
  unscored position, which any answer matches; the accessible path's `expected` is empty, and only an empty
  answer matches it);
- `record_fail`: marks it failed if it is still open; False tells a replay, a late answer or an unknown id;
- `redeem`: marks a passed challenge's token redeemed, once.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition, size

from drcaptcha.config import get_settings
from drcaptcha.errors import ServiceUnavailable
from drcaptcha.glyphs import REMOVED
from drcaptcha.models.api.captcha import ACCESSIBLE_PATH
from drcaptcha.models.tables.challenges import FAILED, PASSED, ChallengeItem
from drcaptcha.ratelimit import Limits
from drcaptcha.store.base import ConditionFailed, conditional_write, count_scan
from drcaptcha.store.rate_limits import RateLimitStore


@dataclass(frozen=True)
class Challenge:
    """One issued challenge: `expected` holds a class index per position, REMOVED where the glyph is unlabelled."""

    challenge_id: str
    site_key: str
    glyph_ids: list[str]
    expected: list[int]
    client: str
    created_at: float
    expires_at: float
    test_mode: bool = False  # issued for a test site: scores nothing, casts no votes
    # The known class at each gold position (a known glyph shown unscored: gold.py), REMOVED elsewhere; None
    # when the challenge shows no gold glyph.
    gold: list[int] | None = None
    pow_difficulty: int = 0  # the leading zero bits its proof of work must have
    accessible: bool = False  # the proof-of-work-only path: no glyphs, no votes


@dataclass(frozen=True)
class Declared:
    """What the widget sends with an answer and siteverify hands back (Turnstile's action and cData)."""

    action: str | None = None
    cdata: str | None = None


@dataclass(frozen=True)
class Redeemed:
    """A redeemed pass: which path it took and what the widget declared."""

    accessible: bool
    declared: Declared


class ChallengeStore:
    def __init__(self, rate_limits: RateLimitStore | None = None) -> None:
        self.rate_limits = rate_limits or RateLimitStore()

    def count(self) -> int:
        return count_scan(get_settings().challenges_table)

    def count_with_outcome(self, outcome: str) -> int:
        return count_scan(get_settings().challenges_table, "#outcome = :outcome", {":outcome": {"S": outcome}})

    def count_open(self, now: float) -> int:
        """Challenges neither answered nor expired (moto returns expired TTL items, so `expires_at` is checked)."""
        return count_scan(
            get_settings().challenges_table,
            "#used = :unused AND expires_at > :now",
            {":unused": {"BOOL": False}, ":now": {"N": str(now)}},
        )

    def add(self, challenge: Challenge, limits: Limits, now: float) -> None:
        """Count `challenge` in `limits`, then store it; RateLimited (and nothing stored) when a counter is full."""
        item = ChallengeItem(
            challenge_id=challenge.challenge_id,
            site_key=challenge.site_key,
            glyph_ids=challenge.glyph_ids,
            expected=challenge.expected,
            client=challenge.client,
            created_at=challenge.created_at,
            expires_at=challenge.expires_at,
            used=False,
            test_mode=True if challenge.test_mode else None,
            gold=challenge.gold,
            pow_difficulty=challenge.pow_difficulty,
            path=ACCESSIBLE_PATH if challenge.accessible else None,
        )
        # Counted first, then stored: a full counter refuses before anything is written (docs/SCALING.md: 1 + 1
        # write units, where one transaction of the challenge and two counters was 6).
        self.rate_limits.spend(limits.windows, 1, now, refuse_when_full=True, what="challenges")
        try:
            with conditional_write():
                item.save(condition=ChallengeItem.challenge_id.does_not_exist())
        except (ConditionFailed, PutError) as error:
            raise ServiceUnavailable("could not store the challenge; try again") from error

    def record_pass(
        self,
        challenge_id: str,
        readings: Sequence[Collection[int]],
        now: float,
        site_key: str | None,
        keep_until: float,
        wrong_allowed: int = 0,
        proof_bits: int = 0,
        declared: Declared | None = None,
    ) -> Challenge | None:
        """Mark the challenge passed if it is open (and of `site_key`, when given), its proof of work asks for at
        most `proof_bits`, and at most `wrong_allowed` scored positions expect none of the classes in `readings` at
        that position; the passed challenge is kept until `keep_until`, so that its token can still be redeemed.
        None if not passed.

        "At most t wrong" is "no t + 1 positions all wrong": for every t + 1 positions, one of them is right (or
        unscored), so the rule stays inside the one conditional write (C(6, 2) = 15 clauses for t = 1)."""
        length = size(ChallengeItem.expected)  # type: ignore[no-untyped-call]
        condition = _open(now, site_key) & (length == len(readings))
        condition &= ChallengeItem.pow_difficulty.does_not_exist() | (ChallengeItem.pow_difficulty <= proof_bits)
        right = [
            ChallengeItem.expected[position].is_in(*sorted(classes)) | (ChallengeItem.expected[position] == REMOVED)
            for position, classes in enumerate(readings)
        ]
        for positions in itertools.combinations(range(len(right)), wrong_allowed + 1):
            condition &= functools.reduce(operator.or_, (right[position] for position in positions))
        item = ChallengeItem(challenge_id=challenge_id)
        actions = [
            ChallengeItem.used.set(True),
            ChallengeItem.outcome.set(PASSED),
            ChallengeItem.answered_at.set(now),
            ChallengeItem.expires_at.set(keep_until),
        ]
        if declared is not None and declared.action is not None:
            actions.append(ChallengeItem.action.set(declared.action))
        if declared is not None and declared.cdata is not None:
            actions.append(ChallengeItem.cdata.set(declared.cdata))
        if not _update(item, actions, condition, "could not record the answer; try again"):
            return None
        return Challenge(
            challenge_id=item.challenge_id,
            site_key=item.site_key,
            glyph_ids=list(item.glyph_ids),
            expected=[int(label) for label in item.expected],
            client=item.client,
            created_at=float(item.created_at),
            expires_at=float(item.expires_at),
            test_mode=bool(item.test_mode),
            gold=None if item.gold is None else [int(label) for label in item.gold],
            pow_difficulty=int(item.pow_difficulty or 0),
            accessible=item.path == ACCESSIBLE_PATH,
        )

    def record_fail(self, challenge_id: str, now: float, site_key: str | None) -> bool:
        """Mark the challenge failed if it is open; False if it was answered already, expired, or never issued."""
        actions = [ChallengeItem.used.set(True), ChallengeItem.outcome.set(FAILED), ChallengeItem.answered_at.set(now)]
        item = ChallengeItem(challenge_id=challenge_id)
        return _update(item, actions, _open(now, site_key), "could not record the answer; try again")

    def redeem(self, challenge_id: str, site_key: str, now: float) -> Redeemed | None:
        """Mark a passed challenge of `site_key` redeemed, once; None if it was redeemed already (or is gone)."""
        condition = (
            (ChallengeItem.outcome == PASSED)
            & (ChallengeItem.site_key == site_key)
            & ChallengeItem.redeemed_at.does_not_exist()
        )
        item = ChallengeItem(challenge_id=challenge_id)
        if not _update(item, [ChallengeItem.redeemed_at.set(now)], condition, "could not redeem the token; try again"):
            return None
        return Redeemed(item.path == ACCESSIBLE_PATH, Declared(item.action, item.cdata))


def _open(now: float, site_key: str | None) -> Condition:
    condition: Condition = (ChallengeItem.used == False) & (ChallengeItem.expires_at > now)  # noqa: E712 - an expression
    if site_key is not None:
        condition &= ChallengeItem.site_key == site_key
    return condition


def _update(item: ChallengeItem, actions: list[Any], condition: Condition, unavailable: str) -> bool:
    """Apply `actions` if `condition` holds (the item then holds its new values); False if it does not."""
    try:
        with conditional_write():
            item.update(actions=actions, condition=condition)
    except ConditionFailed:
        return False
    except UpdateError as error:
        raise ServiceUnavailable(unavailable) from error
    return True
