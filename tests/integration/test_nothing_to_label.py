"""The captcha API with nothing left to label (issue 14): right after an import, and once the crowd has labelled
every glyph it was given. Challenges are then made of known glyphs only; the service says so; glyphs made
unlabelled afterwards are shown again from the next cache refresh on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from drcaptcha import charset, sites
from drcaptcha.admins import crowd_stats
from drcaptcha.challenges import replace_runtime
from drcaptcha.config import get_settings, reset_settings
from drcaptcha.glyphs import REMOVED
from drcaptcha.models.tables.challenges import ChallengeItem
from drcaptcha.models.tables.glyphs import CROWD, GlyphItem
from drcaptcha.selection import GOLD_GLYPHS
from drcaptcha_ops import cli
from drcaptcha_ops.emulator import Emulator
from drcaptcha_ops.importer import import_emnist
from functions.captcha import app as captcha_app
from tests.fixtures.glyph_data import crowd_label, seed_glyph_store
from tests.integration.captcha_support import SIGNING_KEY, CaptchaStack, api_event, invoke
from tests.integration.reliability_support import (
    get_challenge,
    label_every_glyph_by_consensus,
    post_answer,
    stream_votes,
)

IMPORT_LIMIT = 1500


def expected_of(challenge_id: str) -> list[int]:
    return [int(label) for label in ChallengeItem.get(challenge_id, consistent_read=True).expected]


def known_answer(challenge_id: str) -> str:
    """The right answer to a challenge of known glyphs only (any character for the unscored gold glyph)."""
    return "".join("7" if label == REMOVED else charset.character_of(label) for label in expected_of(challenge_id))


def only_gold_readings(challenge_id: str) -> bool:
    """Every unscored position shows a gold glyph (a known one, its reading measured), and there is one."""
    item = ChallengeItem.get(challenge_id, consistent_read=True)
    gold = [int(label) for label in item.gold or []]
    unscored = [position for position, label in enumerate(item.expected) if label == REMOVED]
    return len(unscored) == GOLD_GLYPHS and all(gold[position] != REMOVED for position in unscored)


def legacy_captcha_id() -> str:
    reply = invoke(captcha_app.handler, api_event("GET", "/api/get-captcha"))
    assert reply.status == 200, reply.body
    assert reply.body["image"].startswith("data:image/png;base64,")
    return str(reply.body["captcha"])


def test_a_fresh_import_with_no_labels_removed_serves_challenges_of_known_glyphs(
    emulator: Emulator,
    emnist_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a fresh import with no label removed, a site, and a fresh warm runtime
    import_emnist(emnist_dir, limit=IMPORT_LIMIT, progress=False)
    monkeypatch.setenv("TOKEN_SIGNING_KEY", SIGNING_KEY)
    reset_settings()
    replace_runtime(None)
    site = sites.create_site("fresh.example")

    try:
        # When a visitor asks for a challenge and a legacy client for a captcha, and both are answered right
        challenge = get_challenge(site.site_key)
        assert challenge.status == 200, challenge.body
        challenge_id = challenge.body["challenge_id"]
        answer = post_answer(challenge_id, known_answer(challenge_id))
        legacy_id = legacy_captcha_id()
        tested = invoke(
            captcha_app.handler,
            api_event("GET", "/api/test-captcha", query={"captcha": legacy_id, "value": known_answer(legacy_id)}),
        )
    finally:
        replace_runtime(None)

    # Then every glyph of both is known, all scored but the gold one, both answers pass, and the only votes cast
    # are gold readings
    assert challenge.body["length"] == 6
    assert len(expected_of(challenge_id)) == 6 and only_gold_readings(challenge_id)
    assert only_gold_readings(legacy_id)
    assert answer.status == 200 and answer.body["success"] is True
    assert tested.status == 200 and tested.body["test"] is True
    assert len(stream_votes()) == 2 and all(vote.gold is not None for vote in stream_votes())
    # And the stats say that nothing is left to label
    assert crowd_stats().nothing_left_to_label is True

    # And `drcaptcha generate-captchas` writes captchas of known glyphs, with no traceback
    out = tmp_path / "captchas"
    assert cli.main(["generate-captchas", "3", "--out", str(out), "--seed", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    glyphs = [glyph for captcha in manifest["captchas"] for glyph in captcha["glyphs"]]
    assert len(glyphs) == 18 and all(glyph["scored"] or glyph["gold"] for glyph in glyphs)
    assert sum(glyph["gold"] for glyph in glyphs) == 3 * GOLD_GLYPHS
    assert "Traceback" not in capsys.readouterr().err


def test_once_consensus_has_labelled_every_removed_glyph_challenges_are_still_served(
    stack: CaptchaStack, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a site whose visitors' votes, counted by the labels consumer, have labelled every unlabelled glyph
    site = stack.create_site()
    passes = label_every_glyph_by_consensus(stack, emulator, site.site_key)
    assert {GlyphItem.get(glyph_id).state for glyph_id in stack.unlabelled} == {CROWD}
    votes_cast = len(stream_votes())
    gold_cast = sum(vote.gold is not None for vote in stream_votes())

    # When, after the unlabelled cache window, visitors ask for challenges and answer them right
    stack.clock.advance(get_settings().unlabelled_cache_seconds + 1)
    challenges = [get_challenge(site.site_key, source_ip=f"192.0.2.{number}") for number in range(1, 6)]
    assert [reply.status for reply in challenges] == [200] * 5, [reply.body for reply in challenges]
    answers = [post_answer(c.body["challenge_id"], known_answer(c.body["challenge_id"])) for c in challenges]
    legacy_id = legacy_captcha_id()

    # Then every challenge is served with six known glyphs, all scored but the gold one, each right answer
    # passes, and the only votes cast are gold readings
    assert passes >= 2
    assert all(len(expected_of(c.body["challenge_id"])) == 6 for c in challenges)
    assert all(only_gold_readings(c.body["challenge_id"]) for c in challenges)
    assert only_gold_readings(legacy_id)
    assert all(reply.body["success"] is True for reply in answers)
    votes = stream_votes()
    assert len(votes) - votes_cast == 5 * GOLD_GLYPHS
    assert sum(vote.gold is not None for vote in votes) - gold_cast == 5 * GOLD_GLYPHS
    # And the stats say that nothing is left to label
    stats = crowd_stats()
    assert (stats.glyphs_unlabelled, stats.glyphs_labelled_by_crowd) == (0, len(stack.unlabelled))
    assert stats.nothing_left_to_label is True

    # When an operator removes more labels, and the unlabelled cache window ends
    assert cli.main(["remove-labels", "12", "--seed", "3"]) == 0
    stack.clock.advance(get_settings().unlabelled_cache_seconds + 1)
    refreshed = get_challenge(site.site_key, source_ip="192.0.2.100")

    # Then challenges collect votes again: two of the new unlabelled glyphs are in the next one, beside the gold
    assert refreshed.status == 200
    assert expected_of(refreshed.body["challenge_id"]).count(REMOVED) == 3
    assert crowd_stats().nothing_left_to_label is False
    assert "Traceback" not in capsys.readouterr().err


def test_too_few_known_glyphs_for_a_challenge_is_a_clear_error_not_a_hang(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A toy stack: 30 training glyphs, 26 of them labelled by the crowd (their label files keep -1), so 4 keep
    an import-time label and none is left to label. The known-glyph draw used to loop for ever looking for 6."""
    # Given that stack, a site and a fresh runtime
    seeded = seed_glyph_store(train=30, test=47, unlabelled=26)
    crowd_label({ref: int(seeded.train_truth[ref.offset]) for ref in seeded.unlabelled})
    monkeypatch.setenv("TOKEN_SIGNING_KEY", SIGNING_KEY)
    reset_settings()
    replace_runtime(None)
    site = sites.create_site("toy.example")

    # When a challenge is asked for, and sample captchas are generated
    try:
        challenge = get_challenge(site.site_key)
    finally:
        replace_runtime(None)
    status = cli.main(["generate-captchas", "1", "--out", str(tmp_path)])

    # Then both say what is wrong with the data: a 422, and one line from the command
    assert challenge.status == 422
    assert challenge.body["error"]["code"] == "bad-data"
    # (fewer than 6, or, once the glyphs of lookalike classes are left out, fewer than the 3 a challenge scores)
    assert re.search(r"fewer than [36] training glyphs have a known label", challenge.body["error"]["message"])
    assert status == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error and re.search(r"fewer than [36] training glyphs", error)
