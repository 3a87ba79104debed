"""bench/bench_careful_reader.py: a careful reader's recorded readings, replayed under the service's answer rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_careful_reader
from bench.bench_careful_reader import (
    DATA,
    FLOORS,
    band_readings,
    floor_rates,
    live_rows,
    pass_rate,
    reader_rates,
    wilson,
)
from drcaptcha import selection


def test_the_pass_rule_allows_one_wrong_glyph_of_independent_readings() -> None:
    assert pass_rate([1.0, 1.0, 0.0]) == 1.0
    assert pass_rate([0.0, 0.0, 1.0]) == 0.0
    assert pass_rate([0.5, 0.5]) == pytest.approx(0.75)
    assert pass_rate([0.5, 0.5, 0.5], wrong_allowed=0) == pytest.approx(0.125)


def test_a_wilson_interval_holds_the_rate_and_stays_inside_zero_and_one() -> None:
    low, high = wilson(12, 36)
    assert low < 12 / 36 < high
    assert wilson(18, 18)[1] == pytest.approx(1.0) and wilson(0, 18)[0] == 0.0


def test_the_selection_changes_took_the_reader_from_7_of_24_live_challenges_to_21_and_18_then_21() -> None:
    data = json.loads(DATA.read_text(encoding="utf-8"))

    before, after, second, floor = (live_rows(session) for session in data["live"].values())

    assert before[:2] == (7, 24) and after[:2] == (21, 24) and second[:2] == (18, 24)
    # And the rule with the floor raised to 0.25 (its live sample): 21 of 24
    assert floor[:2] == (21, 24)


def test_the_reader_misread_most_confident_misreadings_as_the_ensemble_did() -> None:
    """Why a glyph the ensemble confidently misreads is not scored unmeasured: people read it as the ensemble."""
    data = json.loads(DATA.read_text(encoding="utf-8"))

    right, total, as_ensemble = reader_rates(data["glyphs"], "train")["confident misreading"]

    assert right / total < 0.5 and as_ensemble / (total - right) > 0.7


def test_close_misreadings_the_ensemble_gives_more_probability_are_read_right_more_often() -> None:
    """Why the floor is where it is: the reader's rate climbs with the ensemble's probability of a right reading,
    and the selection's floor is one of the floors the bench compares."""
    data = json.loads(DATA.read_text(encoding="utf-8"))

    readings = band_readings(data)
    rates = [readings[band][0] / readings[band][1] for band in ("p 0.15–0.25", "p 0.25–0.35", "p 0.35–0.5")]

    assert rates == sorted(rates) and rates[0] < 0.5 < rates[1]
    assert selection.UNMEASURED_MISREAD_FLOOR in FLOORS
    # And the floor trades the reader's pass rate against the ensemble bot's: both rise with it
    low, high = floor_rates(data, 0.15), floor_rates(data, selection.UNMEASURED_MISREAD_FLOOR)
    assert high[0] > low[0] and high[1] > low[1]


def test_the_bench_records_its_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path))

    bench_careful_reader.main([])

    result = json.loads((tmp_path / "careful_reader.json").read_text(encoding="utf-8"))
    captions = [table["caption"] for table in result["tables"]]
    assert len(captions) == 7 and captions[-1].startswith("live challenges")
    live = result["tables"][-1]["rows"]
    assert live[0][1] == "29.2% (7/24)" and live[1][1] == "87.5% (21/24)"
    assert live[-2][:2] == ["the cold-start rule at p ≥ 0.15, every sample", "81.2% (39/48)"]
    assert live[-1][:2] == ["the cold-start rule at p ≥ 0.25, every sample", "87.5% (21/24)"]
    # And the service's rule is on the trade-off curve measured for 3 scored glyphs
    curve = next(table for table in result["tables"] if table["caption"].startswith("the trade-off"))
    assert [row[0] for row in curve["rows"] if row[-1] == "the default's make-up"] == [selection.SCORED_WHEN_PUBLIC]
    # And the floor table marks the selection's floor as the default
    floors = next(table for table in result["tables"] if table["caption"].startswith("the floor"))
    assert [row[0] for row in floors["rows"] if row[-1] == "default"] == [
        f"p ≥ {selection.UNMEASURED_MISREAD_FLOOR:.2f}"
    ]
