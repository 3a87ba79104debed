"""bench/bench_pool_size.py: a bot that remembers a solving farm's readings learns a small scored pool, and
without a farm it is the transfer bot alone."""

from __future__ import annotations

import numpy as np
import pytest

from bench.bench_people import Pool, World
from bench.bench_pool_size import (
    PERFECT,
    Matcher,
    SplitDraws,
    descriptors,
    farm_memory,
    memorising_bot,
    split_of,
)


def world_of(size: int, transfer_wrong: bool, people_error: float) -> World:
    """`size` glyphs, all of them scorable with equal weight, read wrong by the transfer bot or not."""
    labels = np.arange(size, dtype=np.int64) % 10
    ranks = np.linspace(0.01, 0.99, size)
    pool = Pool(labels, ranks, ranks, np.full(size, people_error))
    return World(pool, np.ones(size, np.bool_), np.zeros(size), np.full(size, transfer_wrong))


def draws_of(world: World) -> SplitDraws:
    size = len(world.pool.labels)
    return SplitDraws(np.arange(size, dtype=np.int64), np.ones(size), world.pool.human_error)


def test_a_farm_that_reads_right_teaches_the_bot_every_glyph_of_a_small_pool() -> None:
    # Given 20 scorable glyphs that the transfer bot always misreads, and people who never misread
    world = world_of(20, transfer_wrong=True, people_error=0.0)
    draws = draws_of(world)
    rng = np.random.default_rng(1)

    # When the bot answers before any farming, and after a farm answered 100 challenges
    alone = memorising_bot(world, draws, 0, PERFECT, 2_000, rng)
    taught = memorising_bot(world, draws, 100, PERFECT, 2_000, rng)

    # Then alone it fails every challenge; taught, only the warp's segmentation errors fail it
    assert alone == 0.0
    assert taught > 0.9


def test_the_farm_remembers_the_majority_reading_of_each_glyph_it_saw() -> None:
    # Given people who misread every glyph, and a farm of 50 challenges over 20 glyphs
    world = world_of(20, transfer_wrong=False, people_error=1.0)
    seen, remembered_right = farm_memory(world, draws_of(world), 50, np.random.default_rng(2))

    # Then it has seen every glyph, and remembers none of them right
    assert seen.all()
    assert not remembered_right.any()


def test_a_bot_that_never_recognises_a_glyph_again_gains_nothing_from_the_farm() -> None:
    # Given a transfer bot that reads every glyph right, and a matcher that never recognises and never matches
    world = world_of(20, transfer_wrong=False, people_error=1.0)
    draws = draws_of(world)
    blind = Matcher(recognised=0.0, false_match=0.0)

    # When a farm of wrong readers answered 100 challenges
    rate = memorising_bot(world, draws, 100, blind, 2_000, np.random.default_rng(3))
    remembering = memorising_bot(world, draws, 100, PERFECT, 2_000, np.random.default_rng(3))

    # Then the blind bot passes as the transfer bot does, and the remembering one is misled by the farm
    assert rate > 0.9
    assert remembering == 0.0


def test_a_split_keeps_each_chosen_glyphs_readings_together() -> None:
    # Given a world whose transfer bot misreads exactly the glyphs of odd class
    world = world_of(100, transfer_wrong=False, people_error=0.1)
    world = World(world.pool, world.ensemble_wrong, world.ensemble_right, world.pool.labels % 2 == 1)

    # When a split of 30 is drawn
    split = split_of(world, 30, np.random.default_rng(4))

    # Then it has 30 glyphs, and each one's transfer reading still matches its class
    assert len(split.pool.labels) == 30
    assert np.array_equal(split.transfer_wrong, split.pool.labels % 2 == 1)


def test_descriptors_correlate_a_crop_with_itself_and_not_with_its_negative() -> None:
    # Given two crops: a random one and its negative
    crop = np.random.default_rng(5).integers(0, 256, (28, 28), dtype=np.uint8)
    found = descriptors(np.stack([crop, 255 - crop]))

    # Then each has unit length, and their correlation is -1
    assert np.linalg.norm(found, axis=1) == pytest.approx([1.0, 1.0])
    assert float(found[0] @ found[1]) == pytest.approx(-1.0)
