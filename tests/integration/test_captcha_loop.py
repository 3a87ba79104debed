"""The captcha loop through the captcha and siteverify handlers, against the emulator with real EMNIST glyphs."""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest

from drcaptcha import charset, lookalikes
from drcaptcha.config import get_settings, reset_settings
from drcaptcha.glyphs import PRIVATE_SPLIT, REMOVED, GlyphRef, GlyphStore
from drcaptcha.models.tables.challenges import ChallengeItem
from drcaptcha.selection import GOLD_GLYPHS, SCORED_WRONG_ALLOWED, GlyphSelector
from drcaptcha_ops import cli
from drcaptcha_ops.gateway.app import running_gateway
from drcaptcha_ops.iam import allows, function_statements
from drcaptcha_ops.template import local_stack
from functions.captcha import app as captcha_app
from functions.siteverify import app as siteverify_app
from tests.fixtures.glyph_data import read_emnist
from tests.fixtures.own_glyphs import write_scans
from tests.integration.captcha_support import (
    SIGNING_KEY,
    CaptchaStack,
    Reply,
    api_event,
    invoke,
    proof,
    true_labels,
)
from tests.integration.reliability_support import stream_votes


def get_challenge(sitekey: str, source_ip: str = "203.0.113.7") -> Reply:
    return invoke(
        captcha_app.handler, api_event("GET", "/v1/challenge", query={"sitekey": sitekey}, source_ip=source_ip)
    )


def post_answer(challenge_id: str, answer: str) -> Reply:
    body = {"challenge_id": challenge_id, "answer": answer, "pow_solution": proof(challenge_id)}
    return invoke(captcha_app.handler, api_event("POST", "/v1/answer", json_body=body))


def siteverify(secret: str, response: str, **extra: str) -> Reply:
    return invoke(
        siteverify_app.handler,
        api_event("POST", "/v1/siteverify", json_body={"secret": secret, "response": response, **extra}),
    )


def test_a_visitor_who_reads_the_glyphs_passes_and_the_site_verifies_the_token_once(stack: CaptchaStack) -> None:
    # Given a registered site and a challenge for it
    site = stack.create_site("shop.example.com")
    challenge = get_challenge(site.site_key)
    challenge_id = challenge.body["challenge_id"]

    # When the visitor types the right characters, spaced out, and the site verifies the token
    answer = post_answer(challenge_id, " ".join(stack.right_answer(challenge_id)))
    verified = siteverify(site.secret, answer.body["token"], remoteip="203.0.113.7")

    # Then the challenge was a 6-glyph PNG, the answer passed, and siteverify accepted the token for the site
    assert challenge.status == 200
    assert challenge.body["length"] == 6
    assert challenge.body["expires_in"] == get_settings().challenge_ttl_seconds
    assert base64.b64decode(challenge.body["image"].removeprefix("data:image/png;base64,"))[:8] == b"\x89PNG\r\n\x1a\n"
    assert answer.status == 200 and answer.body["success"] is True
    assert answer.body["expires_in"] == 300
    assert verified.status == 200
    assert verified.body["success"] is True
    assert verified.body["hostname"] == "shop.example.com"
    assert verified.body["error-codes"] == []
    assert verified.body["challenge_ts"].endswith("Z")


def test_a_challenge_mixes_three_scored_and_three_unlabelled_glyphs_and_reveals_neither(stack: CaptchaStack) -> None:
    # Given a site
    site = stack.create_site()

    # When a challenge is issued
    challenge = get_challenge(site.site_key)

    # Then the stored challenge has 3 scored glyphs, 1 known glyph shown unscored (gold) and 2 unlabelled ones,
    # and the reply holds none of it
    item = stack.challenge_item(challenge.body["challenge_id"])
    known = [label for label in item.expected if label != REMOVED]
    assert len(known) == 3
    gold = [position for position, label in enumerate(item.gold or []) if label != REMOVED]
    assert len(gold) == GOLD_GLYPHS and all(item.expected[position] == REMOVED for position in gold)
    unlabelled = {
        glyph
        for position, (glyph, label) in enumerate(zip(item.glyph_ids, item.expected, strict=True))
        if label == REMOVED and position not in gold
    }
    assert len(unlabelled) == 2 and unlabelled <= set(stack.unlabelled)
    assert set(challenge.body) == {"challenge_id", "image", "length", "expires_in", "pow", "path", "accessible_path"}
    assert challenge.body["pow"] == {"algorithm": "SHA-256", "salt": item.challenge_id, "difficulty": 4}
    reply_text = json.dumps(challenge.body)
    assert not any(glyph_id in reply_text for glyph_id in item.glyph_ids)
    png = base64.b64decode(challenge.body["image"].split(",", 1)[1])
    assert b"tEXt" not in png and b"iTXt" not in png and b"zTXt" not in png and b"eXIf" not in png


def test_an_import_whose_labels_are_private_scores_four_glyphs_and_still_forgives_one(stack: CaptchaStack) -> None:
    # Given a site, and an import whose labels are public, as EMNIST's are
    site = stack.create_site()
    store = GlyphStore()
    assert store.manifest().labels_public is True

    def scored_per_challenge() -> set[int]:
        items = [stack.challenge_item(get_challenge(site.site_key).body["challenge_id"]) for _ in range(4)]
        return {sum(label != REMOVED for label in item.expected) for item in items}

    public = scored_per_challenge()

    # When the import is marked private (`import-emnist --private` on the same files), and the warm selector's
    # manifest expires
    store.write_manifest(store.manifest().model_copy(update={"labels_public": False}))
    stack.clock.advance(get_settings().glyph_pool_refresh_seconds + 1)
    private = scored_per_challenge()

    # Then a challenge scores 3 glyphs of a public import and 4 of a private one, and a visitor who misreads one
    # of the 4 still passes, while two wrong fail
    assert public == {3} and private == {4}
    outcomes = []
    for wrong in (1, 2):
        challenge_id = get_challenge(site.site_key).body["challenge_id"]
        item = stack.challenge_item(challenge_id)
        typed = list(stack.right_answer(challenge_id))
        for position in [position for position, label in enumerate(item.expected) if label != REMOVED][:wrong]:
            typed[position] = next(c for c in "0AX" if not lookalikes.accepts(item.expected[position], c))
        outcomes.append(post_answer(challenge_id, "".join(typed)).body["success"])
    assert outcomes == [True, False]


def test_own_glyphs_added_beside_emnist_are_the_only_known_glyphs_a_challenge_scores_or_shows(
    stack: CaptchaStack, tmp_path: Path
) -> None:
    # Given a site, and 40 glyphs of someone's own handwriting (real glyphs from the data's far end, as scans)
    site = stack.create_site()
    images, labels = read_emnist(3000)
    write_scans(tmp_path, images[-40:], labels[-40:])

    # When they are added beside the EMNIST import (`drcaptcha add-private-glyphs`), and the warm selector's manifest
    # expires
    assert cli.main(["add-private-glyphs", str(tmp_path)]) == 0
    stack.clock.advance(get_settings().glyph_pool_refresh_seconds + 1)

    # Then every challenge scores 4 glyphs, all of them private, shows a private glyph as gold, and still asks about
    # EMNIST's unlabelled glyphs
    for _ in range(4):
        item = stack.challenge_item(get_challenge(site.site_key).body["challenge_id"])
        gold = {position for position, label in enumerate(item.gold or []) if label != REMOVED}
        scored = {position for position, label in enumerate(item.expected) if label != REMOVED}
        splits = [GlyphRef.parse(glyph_id).split for glyph_id in item.glyph_ids]
        assert len(scored) == 4
        assert {splits[position] for position in scored | gold} == {PRIVATE_SPLIT}
        assert {splits[position] for position in range(len(splits)) if position not in scored | gold} == {"train"}
    # And a right answer to them passes
    challenge_id = get_challenge(site.site_key).body["challenge_id"]
    assert post_answer(challenge_id, stack.right_answer(challenge_id)).body["success"] is True


def test_the_scored_positions_move_between_challenges(stack: CaptchaStack) -> None:
    # Given a site
    site = stack.create_site()

    # When several challenges are issued
    layouts = {
        tuple(
            label == REMOVED
            for label in stack.challenge_item(get_challenge(site.site_key).body["challenge_id"]).expected
        )
        for _ in range(8)
    }

    # Then the unlabelled glyphs do not always sit at the same positions
    assert len(layouts) > 1


def test_a_pass_puts_one_vote_per_unlabelled_glyph_on_the_stream(stack: CaptchaStack) -> None:
    # Given a challenge
    site = stack.create_site()
    challenge_id = get_challenge(site.site_key).body["challenge_id"]
    item = stack.challenge_item(challenge_id)

    # When the visitor passes, typing "x" for each unlabelled glyph
    answer = post_answer(challenge_id, stack.right_answer(challenge_id, unlabelled_answer="x"))

    # Then the stream holds one vote per unlabelled position, with a hashed source and no raw IP
    assert answer.body["success"] is True
    votes = stream_votes()
    unlabelled_positions = [position for position, label in enumerate(item.expected) if label == REMOVED]
    assert sorted(vote.vote_id for vote in votes) == sorted(f"{challenge_id}:{p}" for p in unlabelled_positions)
    assert {vote.glyph_id for vote in votes} == {item.glyph_ids[p] for p in unlabelled_positions}
    assert all(vote.answer == "x" and vote.label == charset.class_of("X") for vote in votes)
    assert all(vote.site_key == site.site_key and vote.source == item.client for vote in votes)
    assert all("203.0.113.7" not in vote.model_dump_json() for vote in votes)


def test_a_wrong_answer_fails_records_no_votes_and_cannot_be_retried(stack: CaptchaStack) -> None:
    # Given a challenge
    site = stack.create_site()
    challenge_id = get_challenge(site.site_key).body["challenge_id"]
    right = stack.right_answer(challenge_id)

    # When the visitor gets every scored glyph wrong, then tries the right answer
    wrong = post_answer(challenge_id, stack.wrong_answer(challenge_id))
    retry = post_answer(challenge_id, right)

    # Then the first is a plain fail (HTTP 200), the retry a replay, the outcome is recorded and no vote was cast
    assert wrong.status == 200
    assert wrong.body == {"success": False, "token": None, "expires_in": None, "error-codes": ["incorrect-answer"]}
    assert retry.status == 410
    assert retry.body["error"]["code"] == "timeout-or-duplicate"
    item = stack.challenge_item(challenge_id)
    assert item.used is True and item.outcome == "fail"
    assert stream_votes() == []


def test_the_pass_rule_forgives_one_wrong_scored_glyph_in_the_one_conditional_write(stack: CaptchaStack) -> None:
    # Given two challenges, and answers right but for one scored glyph, and for two
    site = stack.create_site()
    one_wrong, two_wrong = (get_challenge(site.site_key).body["challenge_id"] for _ in range(2))

    def wrong_at(challenge_id: str, wrong_glyphs: int) -> str:
        typed, wrong = list(stack.right_answer(challenge_id)), list(stack.wrong_answer(challenge_id))
        scored = [p for p, label in enumerate(stack.challenge_item(challenge_id).expected) if label != REMOVED]
        for position in scored[:wrong_glyphs]:
            typed[position] = wrong[position]
        return "".join(typed)

    # When each is answered
    first = post_answer(one_wrong, wrong_at(one_wrong, 1))
    second = post_answer(two_wrong, wrong_at(two_wrong, 2))

    # Then one wrong glyph passes (SCORED_WRONG_ALLOWED = 1), two fail
    assert first.body["success"] is True
    assert second.body["success"] is False
    assert stack.challenge_item(two_wrong).outcome == "fail"


def test_merged_letters_pass_in_either_case_but_case_matters_elsewhere(stack: CaptchaStack) -> None:
    # Given challenges whose right answers are swapped to the other case
    site = stack.create_site()
    outcomes = []
    for _ in range(6):
        challenge_id = get_challenge(site.site_key).body["challenge_id"]
        item = stack.challenge_item(challenge_id)
        right = stack.right_answer(challenge_id)
        # When the visitor types every scored character in the other case
        swapped = right.swapcase()
        reply = post_answer(challenge_id, swapped)
        scored = [charset.character_of(label) for label in item.expected if label != REMOVED]
        # Then it passes exactly when at most one swapped character (the rule's allowance) names another class
        wrong = sum(not charset.matches(charset.CLASSES.index(c), c.swapcase()) for c in scored)
        outcomes.append((reply.body["success"], wrong <= SCORED_WRONG_ALLOWED))
    assert all(success == expected for success, expected in outcomes)


def scored_as(stack: CaptchaStack, challenge_id: str, character: str) -> int:
    """Make the challenge's first scored glyph one of class `character` (as stored, never sent); its position."""
    item = stack.challenge_item(challenge_id)
    position = next(index for index, label in enumerate(item.expected) if label != REMOVED)
    item.update(actions=[ChallengeItem.expected[position].set(charset.CLASSES.index(character))])
    return position


def typed_at(answer: str, position: int, character: str) -> str:
    return answer[:position] + character + answer[position + 1 :]


@pytest.mark.parametrize(("glyph", "typed"), [("O", "0"), ("O", "O"), ("O", "o"), ("0", "O"), ("0", "0")])
def test_a_scored_0_or_o_glyph_accepts_either_reading(stack: CaptchaStack, glyph: str, typed: str) -> None:
    # Given the lookalike table groups 0 with O, and a challenge whose first scored glyph is a 0 or an O
    assert lookalikes.readings_of(charset.CLASSES.index("O")) >= {charset.CLASSES.index("0")}
    site = stack.create_site()
    challenge_id = get_challenge(site.site_key).body["challenge_id"]
    position = scored_as(stack, challenge_id, glyph)

    # When the visitor reads it either way, and every other glyph right
    reply = post_answer(challenge_id, typed_at(stack.right_answer(challenge_id), position, typed))

    # Then the one conditional write passes it
    assert reply.body["success"] is True
    assert stack.challenge_item(challenge_id).outcome == "pass"


@pytest.mark.parametrize("typed", ["Q", "D", "1"])
def test_a_scored_o_glyph_still_refuses_a_reading_outside_its_group(stack: CaptchaStack, typed: str) -> None:
    site = stack.create_site()
    challenge_id = get_challenge(site.site_key).body["challenge_id"]
    position = scored_as(stack, challenge_id, "O")
    # Another scored glyph typed wrong uses up the pass rule's allowance, so the O alone decides.
    other = [p for p, label in enumerate(stack.challenge_item(challenge_id).expected) if label != REMOVED][1]
    answer = typed_at(stack.right_answer(challenge_id), other, stack.wrong_answer(challenge_id)[other])

    reply = post_answer(challenge_id, typed_at(answer, position, typed))

    assert reply.body["success"] is False


def test_a_vote_on_an_unlabelled_glyph_keeps_the_exact_class_typed(stack: CaptchaStack) -> None:
    # Given two challenges whose unlabelled glyphs are read as 0 in one and as O in the other
    site = stack.create_site()
    typed_for = {}
    for character in ("0", "O"):
        challenge_id = get_challenge(site.site_key).body["challenge_id"]
        typed_for[challenge_id] = character

        # When each is passed
        reply = post_answer(challenge_id, stack.right_answer(challenge_id, unlabelled_answer=character))
        assert reply.body["success"] is True

    # Then each vote names the class typed, not its lookalike group: 0 stays 0, O stays O
    votes = stream_votes()
    assert {vote.challenge_id for vote in votes} == set(typed_for)
    for vote in votes:
        assert vote.answer == typed_for[vote.challenge_id]
        assert vote.label == charset.CLASSES.index(typed_for[vote.challenge_id])


class LookalikesAreHard:
    """A stand-in for an ensemble's probabilities (no trained network is committed): it reads every glyph of a
    lookalike class as another class, and every other glyph right, so hard-glyph selection would favour exactly
    the glyphs that people misread."""

    def __init__(self, store: GlyphStore) -> None:
        self.labels = {
            store.image(GlyphRef("train", shard, offset)).tobytes(): int(label)
            for shard in range(2)
            for offset, label in enumerate(store.labels("train", shard))
        }

    def predict(self, images: np.ndarray) -> np.ndarray:
        probabilities = np.zeros((len(images), charset.NUM_CLASSES), dtype=np.float32)
        for row, image in enumerate(images):
            label = self.labels[image.tobytes()]
            read_as = label if label < 0 or not lookalikes.grouped(label) else (label + 1) % charset.NUM_CLASSES
            probabilities[row, max(read_as, 0)] = 1.0
        return probabilities


def test_selection_never_scores_a_glyph_whose_class_is_in_a_lookalike_group(stack: CaptchaStack) -> None:
    # Given a site, glyphs of every class (0, O, 1, I and l among them), and an ensemble that finds only those hard
    site = stack.create_site()
    store = GlyphStore()
    assert any(lookalikes.grouped(int(label)) for label in store.labels("train", 0))
    ensemble = LookalikesAreHard(store)
    selector = GlyphSelector(store, np.random.default_rng(0), ensemble=lambda: ensemble)  # type: ignore[arg-type,return-value]

    # When challenges are issued through the API (uniform choice) and picked with the ensemble's preference
    through_api = [
        label
        for _ in range(15)
        for label in stack.challenge_item(get_challenge(site.site_key).body["challenge_id"]).expected
        if label != REMOVED
    ]
    with_ensemble = [pick.label for _ in range(15) for pick in selector.pick() if pick.scored]

    # Then no scored glyph's class is in a lookalike group, yet the scored glyphs still vary
    assert len(through_api) == 45 and len(with_ensemble) == 45
    assert not any(lookalikes.grouped(label) for label in through_api + with_ensemble)
    assert len(set(through_api)) > 5 and len(set(with_ensemble)) > 5


def test_a_replayed_answer_gets_timeout_or_duplicate(stack: CaptchaStack) -> None:
    # Given a passed challenge
    site = stack.create_site()
    challenge_id = get_challenge(site.site_key).body["challenge_id"]
    answer = stack.right_answer(challenge_id)
    first = post_answer(challenge_id, answer)

    # When the same answer is sent again
    replay = post_answer(challenge_id, answer)

    # Then only the first passed
    assert first.body["success"] is True
    assert replay.status == 410
    assert replay.body == {"error": {"code": "timeout-or-duplicate", "message": replay.body["error"]["message"]}}


def test_an_answer_after_the_challenge_expired_is_refused(stack: CaptchaStack) -> None:
    # Given a challenge, and a clock moved past its lifetime (moto still returns expired items)
    site = stack.create_site()
    challenge_id = get_challenge(site.site_key).body["challenge_id"]
    answer = stack.right_answer(challenge_id)
    stack.clock.advance(get_settings().challenge_ttl_seconds + 1)

    # When the right answer arrives
    late = post_answer(challenge_id, answer)

    # Then it is refused, and the challenge stays unused
    assert late.status == 410
    assert late.body["error"]["code"] == "timeout-or-duplicate"
    assert stack.challenge_item(challenge_id).used is False


def test_an_unknown_site_key_gets_no_challenge(stack: CaptchaStack) -> None:
    # When a challenge is asked for with a well-formed key that no site has, and with a malformed one
    unknown = get_challenge("dc_site_doesnotexist00000")
    malformed = get_challenge("<script>")

    # Then both are clear 400s in the error shape
    assert unknown.status == 400
    assert unknown.body["error"]["code"] == "invalid-sitekey"
    assert malformed.status == 400
    assert malformed.body["error"]["code"] == "bad-request"


def test_too_many_challenges_from_one_client_get_429_with_retry_after(
    stack: CaptchaStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a limit of 3 challenges a minute
    monkeypatch.setenv("RATE_LIMIT_CHALLENGES", "3")
    reset_settings()
    site = stack.create_site()

    # When one client asks 4 times, and another client once
    replies = [get_challenge(site.site_key) for _ in range(4)]
    other_client = get_challenge(site.site_key, source_ip="198.51.100.1")

    # Then the 4th is refused with Retry-After within the window; the other client is not affected
    assert [reply.status for reply in replies] == [200, 200, 200, 429]
    assert replies[3].body["error"]["code"] == "rate-limited"
    assert 1 <= int(replies[3].headers["retry-after"]) <= get_settings().rate_limit_window_seconds
    assert other_client.status == 200


def test_the_limit_resets_in_the_next_window(stack: CaptchaStack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a client that used up its window
    monkeypatch.setenv("RATE_LIMIT_CHALLENGES", "1")
    reset_settings()
    site = stack.create_site()
    get_challenge(site.site_key)
    limited = get_challenge(site.site_key)

    # When the window has passed
    stack.clock.advance(get_settings().rate_limit_window_seconds)
    again = get_challenge(site.site_key)

    # Then it may ask again
    assert limited.status == 429
    assert again.status == 200


@pytest.mark.parametrize(
    "body",
    [
        '{"challenge_id": "abc',
        '{"answer": "123456"}',
        '{"challenge_id": "0123456789abcdefgh", "answer": "123456", "pow_solution": "12ab"}',
        '{"challenge_id": "0123456789abcdefgh", "answer": "123456", "action": "log in"}',
        '{"challenge_id": "0123456789abcdefgh", "answer": "123456", "cdata": "' + "x" * 256 + '"}',
        '{"challenge_id": "0123456789abcdefgh", "answer": "' + "1" * 33 + '"}',
        '{"challenge_id": "../../etc/passwd", "answer": "123456"}',
        "[]",
    ],
)
def test_malformed_answers_get_a_400_in_the_error_shape(body: str) -> None:
    # Validation answers before any AWS call, so no emulator is needed
    # When the answer body is malformed
    reply = invoke(captcha_app.handler, api_event("POST", "/v1/answer", raw_body=body))

    # Then it is a 400 bad-request, never a 500
    assert reply.status == 400
    assert reply.body["error"]["code"] == "bad-request"


def test_an_unknown_route_is_a_404_in_the_error_shape() -> None:
    reply = invoke(captcha_app.handler, api_event("GET", "/v1/nothing-here"))

    assert reply.status == 404
    assert reply.body["error"]["code"] == "not-found"


def test_the_openapi_document_describes_the_routes() -> None:
    # When the OpenAPI document is fetched
    reply = invoke(captcha_app.handler, api_event("GET", "/openapi.json"))

    # Then it lists the captcha routes with their schemas, and not itself
    assert reply.status == 200
    paths = reply.body["paths"]
    assert {"/v1/challenge", "/v1/answer", "/api/get-captcha", "/api/test-captcha"} <= set(paths)
    assert "/openapi.json" not in paths
    assert "AnswerRequest" in reply.body["components"]["schemas"]


def http_json(url: str, data: bytes | None = None, content_type: str = "application/json") -> tuple[int, Any]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_the_whole_loop_works_over_http_through_the_local_gateway(stack: CaptchaStack) -> None:
    # Given the local gateway serving template.yaml's routes (it exports the template's environment, in which
    # TOKEN_SIGNING_KEY is a deploy-time parameter, so the test sets it again afterwards)
    site = stack.create_site("gateway.example")
    with patch.dict(os.environ), running_gateway() as url:
        os.environ["TOKEN_SIGNING_KEY"] = SIGNING_KEY
        reset_settings()

        # When a browser fetches a challenge and answers it, and the site's backend posts the form to siteverify
        status, challenge = http_json(f"{url}/v1/challenge?sitekey={site.site_key}")
        answer_body = {
            "challenge_id": challenge["challenge_id"],
            "answer": stack.right_answer(challenge["challenge_id"]),
            "pow_solution": proof(challenge["challenge_id"]),
        }
        _, answer = http_json(f"{url}/v1/answer", json.dumps(answer_body).encode())
        form = urllib.parse.urlencode({"secret": site.secret, "response": answer["token"]}).encode()
        _, verified = http_json(f"{url}/v1/siteverify", form, "application/x-www-form-urlencoded")
    reset_settings()

    # Then each step succeeded over HTTP
    assert status == 200
    assert answer["success"] is True
    assert verified["success"] is True
    assert verified["hostname"] == "gateway.example"


EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


# What each sample event of tests/events (a made-up site, challenge and secret) should get back.
SAMPLE_REPLIES = {
    "captcha-challenge.json": (400, "invalid-sitekey"),
    "captcha-answer.json": (410, "timeout-or-duplicate"),
    "captcha-legacy-get-captcha.json": (200, "data:image/png;base64,"),
    "captcha-legacy-test-captcha.json": (200, '"test": false'),
    "siteverify-json.json": (200, "invalid-input-secret"),
    "siteverify-form.json": (200, "invalid-input-secret"),
}


def test_the_sample_events_reach_their_routes(stack: CaptchaStack) -> None:
    # Given the sample events
    events = {name: json.loads((EVENTS_DIR / name).read_text()) for name in SAMPLE_REPLIES}

    # When each goes to its function
    replies = {
        name: invoke(siteverify_app.handler if name.startswith("siteverify") else captcha_app.handler, event)
        for name, event in events.items()
    }

    # Then each was routed and answered as such made-up input deserves
    for name, (status, fragment) in SAMPLE_REPLIES.items():
        assert replies[name].status == status, name
        assert fragment in json.dumps(replies[name].body), name


def test_the_captcha_role_reads_glyphs_but_never_the_removed_labels() -> None:
    # Given the roles SAM would make from template.yaml
    stack = local_stack()
    roles = function_statements(stack)
    captcha, siteverify = roles["CaptchaFunction"], roles["SiteverifyFunction"]
    bucket = stack.arn("DataBucket")

    # Then the captcha function reads glyph shards, not truth/, and writes only what the loop needs
    assert allows(captcha, "s3:GetObject", f"{bucket}/glyphs/train/00000.npy")
    assert not allows(captcha, "s3:GetObject", f"{bucket}/truth/train/00000.labels.npy")
    assert not allows(captcha, "s3:PutObject", f"{bucket}/glyphs/train/00000.npy")
    assert allows(captcha, "dynamodb:PutItem", stack.arn("ChallengesTable"))
    assert allows(captcha, "dynamodb:UpdateItem", stack.arn("RateLimitsTable"))
    assert allows(captcha, "kinesis:PutRecords", stack.arn("VotesStream"))
    assert not allows(captcha, "dynamodb:PutItem", stack.arn("SitesTable"))
    assert not allows(captcha, "dynamodb:UpdateItem", stack.arn("GlyphsTable"))
    # And siteverify touches only the challenges, sites and idempotency tables
    assert allows(siteverify, "dynamodb:UpdateItem", stack.arn("ChallengesTable"))
    assert allows(siteverify, "dynamodb:PutItem", stack.arn("IdempotencyTable"))
    assert not allows(siteverify, "dynamodb:PutItem", stack.arn("ChallengesTable"))
    assert not allows(siteverify, "s3:GetObject", f"{bucket}/glyphs/train/00000.npy")
    assert not allows(siteverify, "kinesis:PutRecords", stack.arn("VotesStream"))


def test_generate_captchas_writes_pngs_and_a_manifest_of_their_glyphs(stack: CaptchaStack, tmp_path: Path) -> None:
    # When an operator generates 3 samples
    status = cli.main(["generate-captchas", "3", "--out", str(tmp_path), "--seed", "7"])

    # Then there are 3 PNGs and a manifest that names each glyph with its true label (from truth/ if removed)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert status == 0
    assert sorted(path.name for path in tmp_path.glob("*.png")) == [f"captcha-0000{n}.png" for n in range(3)]
    assert all((tmp_path / sample["file"]).read_bytes()[:4] == b"\x89PNG" for sample in manifest["captchas"])
    glyphs = [glyph for sample in manifest["captchas"] for glyph in sample["glyphs"]]
    assert all(len(sample["glyphs"]) == 6 for sample in manifest["captchas"])
    ids = [glyph["glyph_id"] for glyph in glyphs]
    assert [glyph["label"] for glyph in glyphs] == true_labels(stack.emnist_dir, ids)
    # (an unscored glyph is unlabelled, or one of each captcha's gold glyphs: known, shown unscored)
    unscored_known = [g for g in glyphs if not g["scored"] and g["glyph_id"] not in set(stack.unlabelled)]
    assert len(unscored_known) <= GOLD_GLYPHS * len(manifest["captchas"])
