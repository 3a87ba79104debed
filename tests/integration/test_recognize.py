"""The active ensemble at work, against the emulator with tiny trained networks: create → evaluate → activate →
recognize; the active ensemble keeps serving when a broken one is offered; and model-assisted captchas (the
selector's preferences, the model's half vote)."""

from __future__ import annotations

import base64
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from drcaptcha import aws, charset, ensemble_admin, labelling, lookalikes, serving
from drcaptcha.config import get_settings
from drcaptcha.ensembles import network_model_key
from drcaptcha.glyphs import REMOVED, GlyphRef, GlyphStore, labels_key
from drcaptcha.models.api.admin import MemberRequest
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import CROWD, UNLABELLED, GlyphItem
from drcaptcha.models.tables.votes import VoteItem
from drcaptcha.recognition import decode_png, to_emnist
from drcaptcha.selection import GOLD_GLYPHS, SCORE_FLOOR, SELECTION, UNLABELLED_SHOWS_PER_WINDOW, GlyphSelector
from drcaptcha.serving import ActiveEnsembleCache, replace_active_ensemble
from drcaptcha_ops.emulator import Emulator
from functions.recognize import app as recognize_app
from tests.fixtures.tiny_networks import Snapshot, tiny_networks
from tests.integration.captcha_support import SIGNING_KEY, Reply, api_event, invoke

CNN2, NN, DNN = "tiny-cnn2", "tiny-nn", "tiny-dnn"


@pytest.fixture(autouse=True)
def signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawings are counted per client, whose identity is keyed by the signing key (template: its SSM parameter)."""
    monkeypatch.setenv("TOKEN_SIGNING_KEY", SIGNING_KEY)


@pytest.fixture
def networks(emulator: Emulator, emnist_dir: Path) -> Iterator[Snapshot]:
    snapshot = tiny_networks()
    # A warm process that checks the pointer on every request, so each test sees its own activations.
    replace_active_ensemble(ActiveEnsembleCache(check_seconds=0))
    yield snapshot
    replace_active_ensemble(None)


def drawn(glyph: NDArray[np.uint8], scale: int = 12) -> str:
    """An EMNIST glyph as the web canvas would send it: black ink on opaque white, large, as a PNG data URL."""
    image = Image.fromarray(255 - glyph).resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def recognize(image: str) -> Reply:
    return invoke(recognize_app.handler, api_event("POST", "/v1/recognize", json_body={"image": image}))


def activated(name: str, members: dict[str, float]) -> str:
    detail = ensemble_admin.create_ensemble(name, [MemberRequest(network_id=n, weight=w) for n, w in members.items()])
    ensemble_admin.activate_ensemble(detail.ensemble_id)
    return detail.ensemble_id


def test_a_drawn_character_is_recognised_by_the_active_ensemble(networks: Snapshot) -> None:
    # Given an active ensemble of the three tiny networks, and test glyphs drawn large on a white canvas
    ensemble_id = activated("three", {CNN2: 1, NN: 1, DNN: 1})
    images, _ = GlyphStore().load_split("test")
    ensemble = serving.active_ensemble()

    # When each drawing is sent to recognize
    replies = [recognize(drawn(image)) for image in images[:20]]

    # Then each answer names the active ensemble and at most 3 classes above 0.1, best first
    for reply in replies:
        assert reply.status == 200, reply.body
        assert reply.body["ensemble_id"] == ensemble_id
        probabilities = [p["probability"] for p in reply.body["predictions"]]
        assert len(probabilities) <= 3 and all(p > 0.1 for p in probabilities)
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(charset.class_of(p["label"]) is not None for p in reply.body["predictions"])
    # And the best guess is the ensemble's reading of the drawing in EMNIST form, given with the threshold even
    # when no class passes it, and first among the predictions when one does
    for image, reply in zip(images[:20], replies, strict=True):
        expected = ensemble.predict(to_emnist(decode_png(drawn(image)))[np.newaxis])[0]
        best = reply.body["best"]
        assert reply.body["threshold"] == 0.1
        assert charset.class_of(best["label"]) == int(expected.argmax())
        assert best["probability"] == pytest.approx(float(expected.max()), abs=1e-4)
        if reply.body["predictions"]:
            assert reply.body["predictions"][0] == best
        else:
            assert best["probability"] <= 0.1


def test_without_an_active_ensemble_recognize_says_so(networks: Snapshot) -> None:
    images, _ = GlyphStore().load_split("test")

    reply = recognize(drawn(images[0]))

    assert reply.status == 409
    assert reply.body["error"]["code"] == "no-active-ensemble"


def test_bad_images_are_clear_4xx_errors(networks: Snapshot) -> None:
    activated("one", {CNN2: 1})

    assert recognize("data:image/gif;base64,R0lGOD").status == 400
    assert recognize("data:image/png;base64," + "A" * (2 * 1024 * 1024)).status == 413
    missing = invoke(recognize_app.handler, api_event("POST", "/v1/recognize", json_body={}))
    assert missing.status == 400 and missing.body["error"]["code"] == "bad-request"


def test_a_broken_ensemble_is_refused_and_the_active_one_keeps_serving(networks: Snapshot) -> None:
    # Given ensemble A active and serving, and ensemble B, whose model is then replaced by other bytes
    good = activated("good", {CNN2: 1})
    images, _ = GlyphStore().load_split("test")
    assert recognize(drawn(images[0])).body["ensemble_id"] == good
    broken = ensemble_admin.create_ensemble("broken", [MemberRequest(network_id=NN, weight=1)]).ensemble_id
    s3, bucket = aws.client("s3"), get_settings().bucket_name
    s3.put_object(Bucket=bucket, Key=network_model_key(NN), Body=GlyphStore().get_bytes(network_model_key(DNN)))

    # When B is activated
    with pytest.raises(Exception, match="SHA-256") as refused:
        ensemble_admin.activate_ensemble(broken)

    # Then it is refused (422), the pointer still names A, and A still answers
    assert getattr(refused.value, "status", None) == 422
    pointer = ensemble_admin.read_pointer()
    assert pointer is not None and pointer.active_id == good
    assert recognize(drawn(images[1])).body["ensemble_id"] == good

    # And even a pointer forced onto B (skipping the check) leaves this warm process serving A
    ensemble_admin.move_pointer(broken, 1, expected_revision=int(pointer.revision))
    reply = recognize(drawn(images[2]))
    assert reply.status == 200 and reply.body["ensemble_id"] == good


# --- model-assisted captchas ------------------------------------------------------------------------------------
def unlabelled_glyphs(count: int) -> list[GlyphRef]:
    """The first `count` glyphs of training shard 1, unlabelled as `drcaptcha remove-labels` leaves them."""
    store = GlyphStore()
    labels = store.labels("train", 1).copy()
    labels[:count] = REMOVED
    store.put_array(labels_key("train", 1), labels)
    refs = [GlyphRef("train", 1, offset) for offset in range(count)]
    for ref in refs:
        GlyphItem(ref.key, state=UNLABELLED).save()
    return refs


def test_with_an_active_ensemble_challenges_prefer_glyphs_it_is_unsure_of(networks: Snapshot) -> None:
    # Given 30 unlabelled glyphs and an active ensemble (the captcha function's selector serves the same pointer)
    refs = unlabelled_glyphs(30)
    activated("three", {CNN2: 1, NN: 1, DNN: 1})
    replace_active_ensemble(ActiveEnsembleCache(batch=64, check_seconds=0), purpose=SELECTION)
    store = GlyphStore()
    selector = GlyphSelector(store, np.random.default_rng(0))

    # When a challenge's glyphs are picked
    picks = selector.pick()

    # Then 2 are unlabelled and 1 is a gold glyph, and each unlabelled candidate weighs more the less sure the
    # ensemble is of it
    assert sum(not pick.known for pick in picks) == 3 - GOLD_GLYPHS
    assert sum(pick.gold for pick in picks) == GOLD_GLYPHS
    preferences = selector.preferences()
    ensemble = serving.active_ensemble()
    top = ensemble.predict(np.stack([store.image(ref) for ref in refs])).max(axis=1)
    weights = np.array([preferences[ref.key] for ref in refs])
    assert np.allclose(weights, SCORE_FLOOR + 1 - top, atol=1e-4)
    # And the scored glyphs come from a scored sample, weighted by how unsure it is of any reading of their class
    # that the answer accepts (the lookalike groups)
    known = [pick for pick in picks if pick.scored]
    assert len(known) == 3
    for pick in known:
        probabilities = ensemble.predict(store.image(pick.ref)[np.newaxis])[0]
        assert pick.label is not None
        read_right = sum(probabilities[label] for label in lookalikes.readings_of(pick.label))
        assert preferences[pick.ref.key] == pytest.approx(SCORE_FLOOR + 1 - read_right, abs=1e-4)


def test_without_an_active_ensemble_every_unlabelled_glyph_weighs_the_same(networks: Snapshot) -> None:
    refs = unlabelled_glyphs(10)
    replace_active_ensemble(ActiveEnsembleCache(batch=64, check_seconds=0), purpose=SELECTION)
    selector = GlyphSelector(GlyphStore(), np.random.default_rng(0))

    selector.pick()

    assert selector.preferences() == {ref.key: 1.0 for ref in refs}


def test_the_ensembles_reading_counts_once_as_half_a_vote(networks: Snapshot) -> None:
    # Given an unlabelled glyph and an active ensemble
    (ref,) = unlabelled_glyphs(1)
    ensemble_id = activated("three", {CNN2: 1, NN: 1, DNN: 1})
    replace_active_ensemble(ActiveEnsembleCache(batch=1, check_seconds=0), purpose=labelling.MODEL_VOTES)
    labelling.forget_model_votes()
    ensemble = serving.active_ensemble()
    model_label = int(ensemble.predict(GlyphStore().image(ref)[np.newaxis])[0].argmax())
    human_label = (model_label + 1) % 47

    # When two humans vote for another class, one of them twice (a redelivery), from a fresh process each time
    for number in (1, 2, 2):
        labelling.forget_model_votes()
        vote = VoteRecord(
            vote_id=f"challenge-{number}:0", glyph_id=ref.key, answer="x", label=human_label, source=f"s{number}", ts=1
        )
        labelling.record_vote(vote)

    # Then the model's vote was counted once, at 0.5, for the class it reads, beside the humans' 2
    votes = {vote.vote_id: vote for vote in VoteItem.query(ref.key)}
    model_vote = votes[f"model:{ensemble_id}:{ref.key}"]
    assert (model_vote.source, model_vote.label, model_vote.weight) == (f"model:{ensemble_id}", model_label, 0.5)
    assert len(votes) == 3
    glyph = labelling.RECORDS.glyph(ref.key)
    assert glyph is not None
    tallies = glyph.tallies
    assert tallies == {model_label: 0.5, human_label: 2.0}
    labelling.forget_model_votes()


def test_used_up_unlabelled_candidates_are_re_read_at_once_without_the_glyphs_labelled_meanwhile(
    networks: Snapshot,
) -> None:
    """Within one cache window (the clock stands still), a glyph labelled meanwhile stops being shown as soon as
    every candidate has had its share of shows, instead of collecting late votes until the window ends."""
    # Given 4 unlabelled glyphs, no ensemble, and a selector whose clock never moves
    refs = unlabelled_glyphs(4)
    replace_active_ensemble(ActiveEnsembleCache(batch=64, check_seconds=0), purpose=SELECTION)
    selector = GlyphSelector(GlyphStore(), np.random.default_rng(0), clock=lambda: 1_000.0)
    unlabelled_shown = Counter[str]()

    def pick_unlabelled(challenges: int) -> None:
        for _ in range(challenges):
            # No gold glyph, so that each challenge shows 3 unlabelled ones, as the counts below assume.
            unlabelled_shown.update(pick.ref.key for pick in selector.pick(gold=0) if not pick.known)

    # When the 4 candidates are used up (3 a challenge, 5 shows each: 20 shows), and then one is labelled
    pick_unlabelled(6)
    assert max(unlabelled_shown.values()) <= UNLABELLED_SHOWS_PER_WINDOW
    labelled = refs[0]
    GlyphItem(labelled.key, state=CROWD).save()
    shown_before = unlabelled_shown[labelled.key]
    pick_unlabelled(4)

    # Then the re-read candidates leave it out from then on, and the others keep being shown
    assert unlabelled_shown[labelled.key] == shown_before
    assert all(unlabelled_shown[ref.key] > UNLABELLED_SHOWS_PER_WINDOW for ref in refs[1:])
