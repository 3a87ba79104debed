"""The lookalike groups: how bench.derive_lookalikes derives them from data, and how the library reads them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench import derive_lookalikes
from bench.derive_lookalikes import Source, derive, merge, pair_figures, wilson_lower
from drcaptcha import charset, lookalikes
from drcaptcha.charset import CLASSES, NUM_CLASSES

REPO = Path(__file__).resolve().parents[2]
PER_CLASS = 400


def label(character: str) -> int:
    return CLASSES.index(character)


def network_counts(confusions: dict[str, int]) -> np.ndarray:
    """A balanced confusion matrix: 400 glyphs a class, `{"ab": k}` of class a read as b, the rest right."""
    counts = np.diag(np.full(NUM_CLASSES, PER_CLASS)).astype(np.int64)
    for pair, k in confusions.items():
        a, b = label(pair[0]), label(pair[1])
        counts[a, a] -= k
        counts[a, b] += k
    return counts


def readings(confusions: dict[str, tuple[int, int]]) -> Source:
    """Readings: `{"ab": (k, n)}`: n glyphs of class a, k of them read as b (other classes: none read)."""
    counts = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    totals = np.zeros(NUM_CLASSES, dtype=np.int64)
    for pair, (k, n) in confusions.items():
        a, b = label(pair[0]), label(pair[1])
        counts[a, b] += k
        counts[a, a] += n - k
        totals[a] += n
    return Source.of("readings", counts, totals)


def named(groups: list[frozenset[int]]) -> list[str]:
    return ["".join(sorted(charset.character_of(member) for member in group)) for group in groups]


def test_the_rule_groups_strong_pairs_transitively_and_rejects_slips_and_thin_evidence() -> None:
    # Given a network that reads 0 and O as each other often, 1 as I and I as L (never the reverse), slips on
    # 2/Z, 5/S and 9/q at 5% each way, and reads A as H at exactly the threshold's 10%; and readings where q is
    # read as 9 often, S as 5 once in two glyphs, and g never as q
    confusions = {"0O": 120, "O0": 100, "1I": 120, "IL": 120, "2Z": 20, "Z2": 20, "5S": 20, "S5": 20, "9q": 20}
    network = Source.of("network", network_counts({**confusions, "AH": 80}))
    people = readings({"q9": (30, 40), "S5": (1, 2), "gq": (0, 10)})

    # When the groups are derived from both
    groups = derive([network, people])

    # Then 0/O (two-way 27.5%) and the chain 1-I-L (15% a link) are groups, q/9 is one from the readings alone
    # (30 of 40), and the slips, the single misread S, and A/H (whose lower bound is under 10%) are not
    assert named(groups) == ["0O", "1IL", "9q"]


def test_pairs_just_above_the_threshold_are_grouped_and_chains_merge() -> None:
    network = Source.of("network", network_counts({"1I": 200, "IL": 200, "LI": 100}))

    assert named(derive([network])) == ["1IL"]


def test_the_two_way_rate_does_not_depend_on_which_way_the_reader_leans() -> None:
    # Given two readers of the same 0/O glyphs, of which 40% are drawn alike: one calls them all 0, one splits them
    always_zero = Source.of("network", network_counts({"O0": 160}))
    evenly = Source.of("network", network_counts({"O0": 80, "0O": 80}))

    # Then both give the same two-way rate (0.2 = 40% / 2)
    for source in (always_zero, evenly):
        figures = pair_figures(source, label("0"), label("O"))
        assert figures.rate == pytest.approx(0.2)
        assert figures.glyphs == 2 * PER_CLASS


def test_the_wilson_bound_is_low_for_thin_evidence_and_close_to_the_rate_for_much() -> None:
    assert wilson_lower(0, 0) == 0.0
    assert wilson_lower(1, 2) < 0.1
    assert wilson_lower(160, 800) == pytest.approx(0.173, abs=0.002)
    assert wilson_lower(10, 10) == pytest.approx(0.722, abs=0.002)


def test_merging_is_transitive_and_leaves_separate_groups_apart() -> None:
    assert merge([(1, 2), (3, 4), (2, 5)]) == [frozenset({1, 2, 5}), frozenset({3, 4})]
    assert merge([]) == []


def test_a_group_accepts_each_of_its_readings_and_nothing_else() -> None:
    o, zero = label("O"), label("0")
    groups = lookalikes.groups_of_characters([["0", "O"]])

    assert groups == (frozenset({zero, o}),)
    assert lookalikes.equivalence_hint(groups) == "0, O and o count as the same."


def test_the_hint_names_every_group_with_each_character_the_answer_accepts() -> None:
    groups = lookalikes.groups_of_characters([["1", "I", "L"], ["0", "O"]])

    assert lookalikes.equivalence_hint(groups) == "0, O and o count as the same; so do 1, I, L, i and l."
    assert lookalikes.equivalence_hint(()) == ""


@pytest.mark.parametrize("bad", [[["0"]], [["0", "O"], ["O", "Q"]], [["0", "+"]]])
def test_a_malformed_table_is_refused(bad: list[list[str]]) -> None:
    with pytest.raises(ValueError, match="lookalike group"):
        lookalikes.groups_of_characters(bad)


def test_the_committed_table_scores_every_member_of_a_group_as_any_other() -> None:
    # Given the committed table
    assert lookalikes.GROUPS, "the table has groups"
    for group in lookalikes.GROUPS:
        for expected in group:
            # Then each member's glyph accepts every member, typed in any case the merge rule allows
            for other in group:
                character = charset.character_of(other)
                assert lookalikes.accepts(expected, character)
                assert lookalikes.accepts(expected, character.lower())
            # And no class outside the group
            outside = next(c for c in range(NUM_CLASSES) if c not in group)
            assert not lookalikes.accepts(expected, charset.character_of(outside))
    # And a class in no group accepts only itself (under the merge rule)
    loner = next(c for c in range(NUM_CLASSES) if not lookalikes.grouped(c))
    assert lookalikes.readings_of(loner) == frozenset({loner})
    assert lookalikes.accepts(loner, charset.character_of(loner))


def test_ungrouped_marks_the_classes_selection_may_score() -> None:
    grouped = next(iter(lookalikes.GROUPS[0]))
    loner = next(c for c in range(NUM_CLASSES) if not lookalikes.grouped(c))

    assert lookalikes.ungrouped(np.array([grouped, loner, -1])).tolist() == [False, True, False]


def test_the_committed_table_and_widget_hint_are_what_the_committed_data_derive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the committed confusion matrix and readings, and copies of the table and the widget
    table, widget = tmp_path / "lookalikes.json", tmp_path / "widget.js"
    shutil.copy(lookalikes.TABLE_FILE, table)
    shutil.copy(REPO / "web" / "widget.js", widget)
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path / "results"))

    # When the derivation reruns
    derive_lookalikes.main(["--table", str(table), "--widget", str(widget)])

    # Then it writes the same groups and the same widget as committed, and the library reads those groups
    derived = json.loads(table.read_text())
    committed = json.loads(lookalikes.TABLE_FILE.read_text())
    assert derived["groups"] == committed["groups"]
    assert lookalikes.load_groups(table) == lookalikes.GROUPS
    assert widget.read_text() == (REPO / "web" / "widget.js").read_text()
    assert f"var EQUIVALENCE_HINT = {json.dumps(lookalikes.equivalence_hint())};" in widget.read_text()
    # And every group's figures are recorded with it
    assert set(derived["figures"]) == {"".join(group) for group in committed["groups"]}
