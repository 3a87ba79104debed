"""Gold readings (issue 15, item 2) over in-memory stores: reading rates, source reliability, and selection.

tests/integration/test_labels_consumer.py counts gold readings through the moto server's conditional updates.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from numpy.typing import NDArray

from drcaptcha import charset, consensus, gold, labelling, lookalikes, selection
from drcaptcha.errors import ServiceUnavailable
from drcaptcha.glyphs import GlyphRef, ImportManifest, SplitInfo
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import GOLD, MISREAD, READ_RIGHT, UNLABELLED
from drcaptcha.selection import GOLD_GLYPHS, MAX_SHOWS_PER_WINDOW, GlyphSelector
from drcaptcha.serving import ActiveEnsembleCache, replace_active_ensemble
from drcaptcha.store.glyphs import Counted
from tests.unit.memory_stores import MemoryEnsembleStore, MemoryGlyphVoteStore

ZERO, CAPITAL_O, SEVEN = charset.class_of("0"), charset.class_of("O"), charset.class_of("7")
GLYPH = "train:00001:0007"


def reading(number: int, typed: str, known: int = ZERO, glyph_id: str = GLYPH, source: str = "") -> VoteRecord:
    return VoteRecord(
        vote_id=f"challenge-{number}:5",
        glyph_id=glyph_id,
        answer=typed,
        label=charset.class_of(typed),
        source=source or f"client-{number}",
        ts=1_700_000_000 + number,
        gold=known,
    )


@pytest.fixture
def records() -> MemoryGlyphVoteStore:
    replace_active_ensemble(ActiveEnsembleCache(records=MemoryEnsembleStore()), purpose=labelling.MODEL_VOTES)
    return MemoryGlyphVoteStore()


def test_a_gold_reading_is_right_under_the_lookalike_groups_and_counts_once(records: MemoryGlyphVoteStore) -> None:
    # Given a handwritten 0 shown as gold, read as O, as 0, and as 7 (one of them delivered twice)
    outcomes = [
        labelling.record_vote(reading(number, typed), records=records).outcome
        for number, typed in ((1, "O"), (2, "0"), (2, "0"), (3, "7"))
    ]

    # Then three readings were counted, two of them right (O is a right reading of a 0), none as a crowd vote
    assert outcomes == [labelling.VoteOutcome.GOLD] * 2 + [labelling.VoteOutcome.DUPLICATE, labelling.VoteOutcome.GOLD]
    glyph = records.glyphs[GLYPH]
    assert (glyph.readings, glyph.read_right, glyph.state, glyph.label) == (3, 2, GOLD, ZERO)
    assert glyph.tallies == {}


class FailingCredits(MemoryGlyphVoteStore):
    """The in-memory store, except that crediting a source fails (throttled) while `failing` is set."""

    failing: bool = True

    def credit_gold_readings(self, *args: object, **kwargs: object) -> bool:
        if self.failing:
            raise ServiceUnavailable("throttled")
        return super().credit_gold_readings(*args, **kwargs)  # type: ignore[arg-type]


def test_a_reading_whose_source_credit_failed_is_credited_once_by_its_redelivery() -> None:
    # Given a reading counted on its glyph whose reader could not be credited (the delivery failed there)
    records = FailingCredits()
    (failed,) = gold.record_gold_readings([reading(1, "7", source="spammer")], records)
    assert isinstance(failed, Exception)
    assert (records.glyphs[GLYPH].readings, records.track_records(["spammer"])["spammer"]) == (1, (0.0, 0.0))

    # When it is delivered again, twice, once the store recovered
    records.failing = False
    again = [gold.record_gold_readings([reading(1, "7", source="spammer")], records) for _ in range(2)]

    # Then the glyph did not count it again, the reader got one disagreement, and the second delivery was a duplicate
    assert again == [[Counted.DUPLICATE], [Counted.DUPLICATE]]
    assert records.glyphs[GLYPH].readings == 1
    assert records.track_records(["spammer"])["spammer"] == (0.0, 1.0)
    assert "challenge-1:5" in records.votes[GLYPH]


def test_enough_readings_make_a_glyph_read_right_or_misread() -> None:
    assert gold.reading_state(1, 0) == GOLD
    assert gold.reading_state(3, 2) == GOLD
    assert gold.reading_state(5, 4) == READ_RIGHT
    assert gold.reading_state(5, 3) == MISREAD
    assert gold.reading_state(10, 8) == READ_RIGHT
    assert gold.reading_state(10, 7) == MISREAD


def test_a_glyph_is_measured_as_soon_as_its_fifth_reading_could_not_change_the_outcome() -> None:
    # Two wrong readings: at most 3 of 5 right, under the rate, whatever comes next
    assert gold.reading_state(2, 0) == MISREAD
    assert gold.reading_state(4, 2) == MISREAD
    # Four right ones: at least 4 of 5, at the rate
    assert gold.reading_state(4, 4) == READ_RIGHT
    # And the early state is the one every way of completing the five readings would give
    for readings in range(1, gold.MIN_READINGS):
        for right in range(readings + 1):
            early = gold.reading_state(readings, right)
            still_to_come = gold.MIN_READINGS - readings
            outcomes = {gold.reading_state(gold.MIN_READINGS, right + more) for more in range(still_to_come + 1)}
            assert early == (outcomes.pop() if len(outcomes) == 1 else GOLD)


def test_gold_readings_set_the_reading_state_as_they_arrive(records: MemoryGlyphVoteStore) -> None:
    # Given a 0 that five people read: three as 0 or O, two as 7
    states = []
    for number, typed in enumerate(("0", "O", "7", "7", "0"), start=1):
        labelling.record_vote(reading(number, typed), records=records)
        states.append(records.glyphs[GLYPH].state)

    # Then it is being measured until its second wrong reading, which settles that people misread it (at most 3
    # of 5 can be right), and the fifth reading leaves it so
    assert states == [GOLD] * 3 + [MISREAD] * 2
    # And a sixth, right reading does not yet bring it back (4 of 6 is under the rate)
    labelling.record_vote(reading(6, "0"), records=records)
    assert records.glyphs[GLYPH].state == MISREAD


def test_gold_readings_feed_source_reliability(records: MemoryGlyphVoteStore) -> None:
    # Given a reader who types wrong characters for gold glyphs, and one who reads them right
    for number in range(1, 7):
        glyph_id = f"train:00001:{number:04d}"
        labelling.record_vote(reading(number, "7", glyph_id=glyph_id, source="spammer"), records=records)
        labelling.record_vote(reading(100 + number, "O", glyph_id=glyph_id, source="reader"), records=records)

    # Then the same track records that crowd labels update say so, and the spammer's votes weigh less
    assert records.track_records(["spammer"])["spammer"] == (0.0, 6.0)
    assert records.track_records(["reader"])["reader"] == (6.0, 0.0)
    spam = reading(50, "7", source="spammer").model_copy(update={"gold": None})
    assert labelling.vote_weights([spam], records)[spam.vote_id] < 0.5
    assert consensus.reliability_weight(*records.track_records(["reader"])["reader"]) == 1.0


def test_a_gold_reading_for_a_glyph_with_crowd_votes_is_counted_nowhere(records: MemoryGlyphVoteStore) -> None:
    records.add_glyph(GLYPH)

    result = labelling.record_vote(reading(1, "0"), records=records)

    assert result.outcome is labelling.VoteOutcome.LATE
    assert (records.glyphs[GLYPH].state, records.glyphs[GLYPH].readings) == (UNLABELLED, 0)


# --- selection -------------------------------------------------------------------------------------------------
SHARD_LABELS = np.array([SEVEN] * 20 + [ZERO] * 10 + [CAPITAL_O] * 10, dtype=np.int16)


class OneShard:
    """A glyph store of one training shard: twenty 7s, ten 0s and ten Os, each image holding its offset."""

    def manifest(self) -> ImportManifest:
        split = SplitInfo(count=len(SHARD_LABELS), shard_sizes=[len(SHARD_LABELS)], per_class=[])
        return ImportManifest(import_id="unit", source="unit", seed=0, created_at=0, splits={"train": split})

    def labels(self, split: str, shard: int) -> NDArray[np.int16]:
        return SHARD_LABELS

    def image(self, ref: GlyphRef) -> NDArray[np.uint8]:
        return np.full((28, 28), ref.offset, dtype=np.uint8)


class HardestFirst:
    """An ensemble that reads the 7s at offsets 0-4 as another character (a confident misreading), misreads those
    at 5-9 by a small margin, surely reads those at 10-19, and reads every 0 and O (20-39) as another character."""

    def predict(self, images: NDArray[np.uint8]) -> NDArray[np.float32]:
        probabilities = np.zeros((len(images), charset.NUM_CLASSES), dtype=np.float32)
        for row, image in enumerate(images):
            offset = int(image[0, 0])
            right = int(SHARD_LABELS[offset])
            if UNSURE_MISREADS.start <= offset < UNSURE_MISREADS.stop:
                probabilities[row, [charset.class_of("X"), right]] = (0.6, 0.4)
            else:
                misread = offset in CONFIDENT_MISREADS or offset >= 20
                probabilities[row, charset.class_of("X") if misread else right] = 1.0
        return probabilities


CONFIDENT_MISREADS, UNSURE_MISREADS, SURELY_READ = range(5), range(5, 10), range(10, 20)


def key(offset: int) -> str:
    return GlyphRef("train", 0, offset).key


def scored_and_gold(states: MemoryGlyphVoteStore, challenges: int) -> tuple[list[int], list[int]]:
    ensemble = HardestFirst()
    selector = GlyphSelector(OneShard(), np.random.default_rng(0), ensemble=lambda: ensemble, states=states)  # type: ignore[arg-type,return-value]
    scored: list[int] = []
    shown_gold: list[int] = []
    for _ in range(challenges):
        picks = selector.pick()
        assert sum(pick.gold for pick in picks) == GOLD_GLYPHS
        assert len({pick.ref for pick in picks}) == len(picks)  # a gold glyph is never also a scored one
        scored += [pick.ref.offset for pick in picks if pick.scored]
        shown_gold += [pick.ref.offset for pick in picks if pick.gold]
    return scored, shown_gold


def test_selection_never_scores_a_glyph_that_people_misread() -> None:
    # Given 7s misread by the ensemble, two of them misread by people too, and 0s and Os, some read right by
    # people, none misread
    states = MemoryGlyphVoteStore()
    for offset, state in {6: MISREAD, 8: MISREAD, 21: READ_RIGHT, 33: READ_RIGHT, 25: GOLD}.items():
        states.add_glyph(key(offset))
        states.glyphs[key(offset)].state = state

    # When many challenges are picked with the ensemble's preference
    scored, shown_gold = scored_and_gold(states, 60)

    # Then the misread 7s are never scored, and of the 0s and Os only those people read right are
    assert 6 not in scored and 8 not in scored
    assert {offset for offset in scored if offset >= 20} == {21, 33}
    # While gold glyphs of every class are shown, grouped ones included, so that they get readings
    assert any(lookalikes.grouped(int(SHARD_LABELS[offset])) for offset in shown_gold)


def test_without_readings_selection_scores_only_ungrouped_classes() -> None:
    scored, _ = scored_and_gold(MemoryGlyphVoteStore(), 30)

    assert scored and all(offset < 20 for offset in scored)


def test_without_readings_two_glyphs_the_ensemble_misreads_by_a_margin_are_scored_beside_surely_read_ones() -> None:
    """A glyph the ensemble misreads is often one people misread too: a careful reader read 12 of 36 confident
    misreadings right and 22 of 36 close ones (docs/BENCHMARKS.md, "A careful reader"). Unmeasured, such glyphs are
    SCORED_WRONG_ALLOWED + 1 of a challenge's scored glyphs: a bot that reads as the ensemble does still fails, and
    a person must read only one of them."""
    # Given 7s the ensemble misreads confidently (0-4), by a margin (5-9), and surely reads (10-19), none read by
    # people yet
    # When 10 challenges are picked (five scored glyphs each: the store has no unlabelled glyphs)
    selector = GlyphSelector(OneShard(), np.random.default_rng(0), ensemble=HardestFirst, states=MemoryGlyphVoteStore())  # type: ignore[arg-type]
    challenges = [[pick.ref.offset for pick in selector.pick() if pick.scored] for _ in range(10)]

    # Then each scores two of the close misreadings, and three glyphs the ensemble surely reads
    assert selection.UNMEASURED_MISREADS_SCORED == selection.SCORED_WRONG_ALLOWED + 1 == 2
    for scored in challenges:
        assert len(scored) == 5
        assert sum(offset in UNSURE_MISREADS for offset in scored) == 2
        assert sum(offset in SURELY_READ for offset in scored) == 3
    # And a confident misreading is never scored
    assert not any(offset in CONFIDENT_MISREADS for scored in challenges for offset in scored)


def test_of_the_glyphs_the_ensemble_misreads_those_people_read_right_are_scored_alone_once_there_are_enough() -> None:
    """Gold readings say more about a glyph than the ensemble or its class do: measured glyphs go alone once a draw
    can be made of them, however confidently the ensemble misreads them."""
    # Given misread 7s people have not read yet (offsets 0-9), and misread 0s and Os, five of them read right
    states = MemoryGlyphVoteStore()
    measured = {21, 25, 29, 33, 37}
    for offset in measured:
        states.add_glyph(key(offset))
        states.glyphs[key(offset)].state = READ_RIGHT

    # When 10 challenges are picked (five scored glyphs each: the store has no unlabelled glyphs)
    scored, _ = scored_and_gold(states, 10)

    # Then only the measured glyphs are scored, none of the unmeasured 7s
    assert len(scored) == 50 and set(scored) == measured


def test_with_too_few_measured_glyphs_they_are_scored_as_misreadings_beside_the_unmeasured_ones() -> None:
    # Given misread 7s, and only two misread 0s read right by people: too few to fill a challenge's draw
    states = MemoryGlyphVoteStore()
    for offset in (21, 25):
        states.add_glyph(key(offset))
        states.glyphs[key(offset)].state = READ_RIGHT

    # When challenges are picked
    scored, _ = scored_and_gold(states, 10)

    # Then the measured glyphs and the close misreadings make the misread part, and surely read 7s the rest
    assert {21, 25} <= set(scored) and any(offset in UNSURE_MISREADS for offset in scored)
    assert set(scored) <= {21, 25, *UNSURE_MISREADS, *SURELY_READ}


class CountedOneShard(OneShard):
    """OneShard, counting how often the pool is read (one shard's labels a pool)."""

    def __init__(self) -> None:
        self.pool_reads = 0

    def labels(self, split: str, shard: int) -> NDArray[np.int16]:
        self.pool_reads += 1
        return super().labels(split, shard)


def test_once_the_misread_glyphs_are_used_up_under_the_cap_the_pool_window_ends_and_the_rule_holds() -> None:
    """Falling back on every scorable glyph once the window's misreadings were used up let a stack simulation's
    bots pass 86-91% of challenges after the first hundred (docs/BENCHMARKS.md, "A careful reader")."""
    # Given the same pool: five close misreadings, each scored at most MAX_SHOWS_PER_WINDOW times in a window
    store, ensemble = CountedOneShard(), HardestFirst()
    selector = GlyphSelector(store, np.random.default_rng(0), ensemble=lambda: ensemble, states=MemoryGlyphVoteStore())  # type: ignore[arg-type,return-value]

    # When more challenges are picked than they can fill under the cap, two a challenge
    challenges, pool_reads = [], []
    for _ in range(60):
        challenges.append([pick.ref.offset for pick in selector.pick() if pick.scored])
        pool_reads.append(store.pool_reads)

    # Then every challenge scores two close misreadings beside three sure glyphs: the rule is never dropped
    assert all(sum(offset in UNSURE_MISREADS for offset in scored) == 2 for scored in challenges)
    assert all(sum(offset in SURELY_READ for offset in scored) == 3 for scored in challenges)
    # And the first window lasted until they were used up, none past the cap, and then a fresh pool was read
    first_window = pool_reads.count(1)
    assert 45 <= first_window < 60 and pool_reads[-1] == 2
    shows = Counter(offset for scored in challenges[:first_window] for offset in scored if offset in UNSURE_MISREADS)
    assert max(shows.values()) == MAX_SHOWS_PER_WINDOW and sum(shows.values()) >= 2 * 45


def test_more_samples_are_scored_until_enough_glyphs_the_ensemble_misreads_are_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fully trained ensemble misreads about 2% of the glyphs it trained on: one sample often held too few, and
    the draw fell back to every glyph (a live simulation's bots then passed 92% instead of 4%)."""
    # Given samples of 5 glyphs, where a sample rarely holds the five close misreadings among 40 glyphs
    monkeypatch.setattr(selection, "KNOWN_SCORED", 5)

    # When challenges are picked
    scored, _ = scored_and_gold(MemoryGlyphVoteStore(), 10)

    # Then further samples were scored until they were found: two of every challenge's five scored glyphs are
    assert sum(offset in UNSURE_MISREADS for offset in scored) == 20
    assert all(offset in UNSURE_MISREADS or offset in SURELY_READ for offset in scored)


class TenShards:
    """A glyph store of ten training shards of ten 7s each, each image holding its shard."""

    def manifest(self) -> ImportManifest:
        split = SplitInfo(count=100, shard_sizes=[10] * 10, per_class=[])
        return ImportManifest(import_id="unit", source="unit", seed=0, created_at=0, splits={"train": split})

    def labels(self, split: str, shard: int) -> NDArray[np.int16]:
        return np.full(10, SEVEN, dtype=np.int16)

    def image(self, ref: GlyphRef) -> NDArray[np.uint8]:
        return np.full((28, 28), ref.shard, dtype=np.uint8)


def test_the_shards_holding_glyphs_people_read_right_come_back_at_every_pool_refresh() -> None:
    """Each refresh draws POOL_SHARDS of the split's shards: without this, a warm process would rarely meet a
    glyph measured by gold readings again, and the measured glyphs would never be the ones scored."""
    # Given glyphs of shard 7 that people were measured to read right, among ten shards
    states = MemoryGlyphVoteStore()
    for offset in range(5):
        glyph_id = GlyphRef("train", 7, offset).key
        states.add_glyph(glyph_id)
        states.glyphs[glyph_id].state = READ_RIGHT

    # When twenty warm processes each build their pool and pick ten challenges
    pools_with_shard_7 = 0
    for seed in range(20):
        selector = GlyphSelector(TenShards(), np.random.default_rng(seed), ensemble=lambda: None, states=states)  # type: ignore[arg-type]
        shards = {pick.ref.shard for _ in range(10) for pick in selector.pick() if pick.known}
        assert len(shards) <= selection.POOL_SHARDS
        pools_with_shard_7 += 7 in shards

    # Then every one of them showed glyphs of shard 7 (by chance, 4 pools in 10 would)
    assert pools_with_shard_7 == 20


def test_gold_readings_go_to_the_ensembles_misreadings_that_people_have_not_been_measured_on() -> None:
    """Their measure decides what may be scored: spread over every known glyph, a glyph met about one reading a
    pool window, and a stack simulation of 1,200 challenges measured none."""
    # Given 0s and Os measured read right (20-24) or misread (25-27), and misreadings not yet measured (0-9, 28-39)
    states = MemoryGlyphVoteStore()
    for offset in range(20, 28):
        states.add_glyph(key(offset))
        states.glyphs[key(offset)].state = READ_RIGHT if offset < 25 else MISREAD

    # When challenges are picked
    _, shown_gold = scored_and_gold(states, 40)

    # Then every gold glyph is a misreading not yet measured: none the ensemble surely reads, none measured either
    # way (a glyph measured misread is never scored, so its readings would be spent on nothing)
    assert set(shown_gold) <= {*range(10), *range(28, 40)}
    assert len(set(shown_gold)) > 10
