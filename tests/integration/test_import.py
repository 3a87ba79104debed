"""EMNIST import, re-import, remove-labels and stats, against the emulator with a subset of the real data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drcaptcha import aws
from drcaptcha.errors import BadRequest, Conflict, DataError, NotImported
from drcaptcha.glyphs import (
    MANIFEST_KEY,
    PRIVATE_SPLIT,
    REMOVED,
    GlyphRef,
    GlyphStore,
    labels_key,
    shard_key,
    truth_key,
)
from drcaptcha.models.tables.glyphs import UNLABELLED, GlyphItem
from drcaptcha_ops import cli
from drcaptcha_ops.emnist import EmnistSplit, load_emnist
from drcaptcha_ops.emulator import Emulator
from drcaptcha_ops.importer import add_private_glyphs, import_emnist, import_split, remove_labels, stats
from tests.fixtures.own_glyphs import write_scans

LIMIT = 2500
# The proportional test draw for 2,500 of 216,168 images: max(1, 400 * 2500 // 216168) = 4 a class.
TEST_PER_CLASS = 4


@pytest.fixture(scope="module")
def subset(emnist_dir: Path) -> EmnistSplit:
    """A 2,500-image subset of the real data, read once: reading and deduplicating takes about 2 s."""
    return load_emnist(emnist_dir, seed=1, limit=LIMIT)


@pytest.fixture(scope="module")
def other_subset(emnist_dir: Path) -> EmnistSplit:
    return load_emnist(emnist_dir, seed=2, limit=300)


def stored_objects(store: GlyphStore) -> dict[str, str]:
    """Every object of the bucket, key to ETag."""
    listing = aws.client("s3").list_objects_v2(Bucket=store.bucket)
    return {entry["Key"]: entry["ETag"] for entry in listing.get("Contents", [])}


def glyph_items() -> list[GlyphItem]:
    return list(GlyphItem.scan())


def test_an_import_of_a_subset_writes_shards_labels_and_then_the_manifest(
    emulator: Emulator, emnist_dir: Path, subset: EmnistSplit
) -> None:
    # Given the real EMNIST folder
    expected = subset

    # When a subset of it is imported
    report = import_emnist(emnist_dir, seed=1, limit=LIMIT, progress=False)

    # Then the shards hold exactly the split, upright, in shards of 1,000, with int16 labels beside them
    store = GlyphStore()
    manifest = store.manifest()
    assert manifest.import_id == report.manifest.import_id == expected.import_id
    assert manifest.splits["test"].per_class == [TEST_PER_CLASS] * 47
    assert manifest.splits["train"].count == LIMIT - 47 * TEST_PER_CLASS
    assert manifest.splits["train"].shard_sizes == [1000, 1000, LIMIT - 47 * TEST_PER_CLASS - 2000]
    train_images, train_labels = store.load_split("train")
    assert train_images.dtype == np.uint8
    assert np.array_equal(train_images, expected.train.images)
    assert np.array_equal(train_labels, expected.train.labels)
    assert store.get_array(labels_key("test", 0)).dtype == np.int16
    assert set(stored_objects(store)) == {
        MANIFEST_KEY,
        *(
            key(split, shard)
            for split, shards in (("train", 3), ("test", 1))
            for shard in range(shards)
            for key in (shard_key, labels_key)
        ),
    }


def test_the_same_import_again_changes_nothing(emulator: Emulator, subset: EmnistSplit) -> None:
    # Given an import
    first = import_split(subset, progress=False)
    store = GlyphStore()
    before = stored_objects(store)

    # When the same source, seed and limit are imported again
    again = import_split(subset, progress=False)

    # Then it says so and no object is added or rewritten
    assert again.already_imported
    assert again.manifest == first.manifest
    assert stored_objects(store) == before


def test_a_different_import_is_refused_unless_replace_and_replace_leaves_only_the_new_one(
    emulator: Emulator, subset: EmnistSplit, other_subset: EmnistSplit
) -> None:
    # Given an import with some labels removed
    import_split(subset, progress=False)
    remove_labels(10, progress=False)

    # When another seed is imported without and then with --replace
    with pytest.raises(Conflict, match="--replace"):
        import_split(other_subset, progress=False)
    report = import_split(other_subset, replace=True, progress=False)

    # Then only the new import is stored: no old shards, truth or glyph items
    store = GlyphStore()
    assert store.manifest().import_id == report.manifest.import_id
    assert report.replaced_import_id is not None
    assert not any(key.startswith("truth/") for key in stored_objects(store))
    assert len(stored_objects(store)) == 1 + 2 * 2
    assert glyph_items() == []


class FailingStore(GlyphStore):
    """A store whose fifth put fails: S3 cannot be made to fail midway on demand, so this test double does."""

    def __init__(self) -> None:
        super().__init__()
        self.puts = 0

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.puts += 1
        if self.puts == 5:
            raise OSError("connection reset while writing")
        super().put_bytes(key, data, content_type)


def test_an_import_that_fails_midway_leaves_nothing_behind(emulator: Emulator, subset: EmnistSplit) -> None:
    # Given a store that fails after a few shards were written
    store = FailingStore()

    # When an import runs into the failure
    with pytest.raises(OSError, match="connection reset"):
        import_split(subset, store=store, progress=False)

    # Then no object was left, and the next import starts clean and completes
    assert store.puts > 5
    assert stored_objects(store) == {}
    assert import_split(subset, progress=False).manifest.splits["train"].count == len(subset.train)


def test_remove_labels_moves_true_labels_to_truth_and_creates_glyph_items(
    emulator: Emulator, subset: EmnistSplit
) -> None:
    # Given an imported subset
    split = subset
    import_split(split, progress=False)
    store = GlyphStore()

    # When labels are removed twice
    remove_labels(100, seed=3, progress=False)
    report = remove_labels(50, seed=4, progress=False)

    # Then 150 label files entries are -1, truth/ holds exactly their true labels, and each has a glyph item
    shards = len(store.manifest().splits["train"].shard_sizes)
    labels = np.concatenate([store.get_array(labels_key("train", shard)) for shard in range(shards)])
    truth = np.concatenate([truth_for(store, shard, 1000) for shard in range(shards)])
    removed = np.flatnonzero(labels == REMOVED)
    assert len(removed) == 150
    assert np.array_equal(truth[removed], split.train.labels[removed])
    assert np.count_nonzero(truth != REMOVED) == 150
    assert np.array_equal(labels[labels != REMOVED], split.train.labels[labels != REMOVED])
    items = glyph_items()
    assert {item.glyph_id for item in items} == {
        GlyphRef("train", int(index) // 1000, int(index) % 1000).key for index in removed
    }
    assert {item.state for item in items} == {UNLABELLED}
    assert (report.manifest.version, report.manifest.removed) == (3, 150)
    assert stats() == {
        "train": len(split.train),
        "test": 47 * TEST_PER_CLASS,
        "labelled": len(split.train) - 150,
        "unlabelled": 150,
        "classes": 47,
        "test_per_class_min": TEST_PER_CLASS,
        "test_per_class_max": TEST_PER_CLASS,
    }


def truth_for(store: GlyphStore, shard: int, size: int) -> Any:
    try:
        return store.get_array(truth_key("train", shard))
    except aws.client("s3").exceptions.NoSuchKey:
        return np.full(size, REMOVED)


def test_removing_more_labels_than_remain_is_refused(emulator: Emulator, other_subset: EmnistSplit) -> None:
    import_split(other_subset, progress=False)
    train = GlyphStore().manifest().splits["train"].count

    with pytest.raises(BadRequest, match=f"only {train} training glyphs"):
        remove_labels(train + 1, progress=False)

    assert stats()["unlabelled"] == 0


def test_stats_before_any_import_says_to_import(emulator: Emulator) -> None:
    with pytest.raises(NotImported, match="import-emnist"):
        stats()


def test_the_cli_imports_removes_labels_and_prints_stats_as_json(
    emulator: Emulator, emnist_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an import through the CLI
    assert cli.main(["import-emnist", str(emnist_dir), "--limit", "600"]) == 0
    assert "per class (train / test)" in capsys.readouterr().out

    # When labels are removed and it is imported again
    assert cli.main(["remove-labels", "20", "--seed", "9"]) == 0
    assert cli.main(["import-emnist", str(emnist_dir), "--limit", "600"]) == 0
    assert "nothing to do" in capsys.readouterr().out

    # Then stats --json prints exactly the documented object
    assert cli.main(["stats", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {
        "train": 600 - 47,
        "test": 47,
        "labelled": 600 - 47 - 20,
        "unlabelled": 20,
        "classes": 47,
        "test_per_class_min": 1,
        "test_per_class_max": 1,
    }
    assert cli.main(["stats"]) == 0
    assert "unlabelled" in capsys.readouterr().out


def test_the_same_import_marked_private_changes_only_its_manifest(
    emulator: Emulator, emnist_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an import of EMNIST through the CLI: its labels are public
    assert cli.main(["import-emnist", str(emnist_dir), "--limit", "600"]) == 0
    assert "labels public" in capsys.readouterr().out
    store = GlyphStore()
    assert store.manifest().labels_public is True
    before = stored_objects(store)

    # When the same files are imported again with --private (a source whose labels were never published)
    assert cli.main(["import-emnist", str(emnist_dir), "--limit", "600", "--private"]) == 0

    # Then only the manifest changed: it now says the labels are private, and no shard was written again
    assert "labels private: nothing to do" in capsys.readouterr().out
    assert store.manifest().labels_public is False
    after = stored_objects(store)
    assert {key for key in after if after[key] != before.get(key)} == {MANIFEST_KEY}
    # And importing it without --private marks it public again
    assert cli.main(["import-emnist", str(emnist_dir), "--limit", "600"]) == 0
    assert store.manifest().labels_public is True


def test_a_folder_of_your_own_scans_is_imported_privately_through_the_cli(
    emulator: Emulator, emnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Own handwriting stands in as real EMNIST glyphs saved as black-on-white scans (an operator's are not here)."""
    # Given a folder of 40 scans, listed with their characters in labels.csv
    glyphs = load_emnist(emnist_dir, limit=200).train
    write_scans(tmp_path, glyphs.images[:40], glyphs.labels[:40])

    # When it is imported with --private
    assert cli.main(["import-emnist", str(tmp_path), "--private"]) == 0

    # Then the store holds all 40 as glyphs of their classes, and the manifest says the labels are private
    assert "imported labelled-images" in capsys.readouterr().out
    store = GlyphStore()
    manifest = store.manifest()
    assert manifest.labels_public is False
    assert manifest.splits["train"].count + manifest.splits["test"].count == 40
    stored = np.concatenate([store.labels(split, 0) for split in ("train", "test")])
    assert sorted(stored.tolist()) == sorted(glyphs.labels[:40].tolist())
    assert store.images("train", 0).shape[1:] == (28, 28)


def test_your_own_glyphs_added_beside_emnist_become_the_scored_split_and_leave_emnist_as_it_was(
    emulator: Emulator, subset: EmnistSplit, tmp_path: Path
) -> None:
    # Given an EMNIST import (public labels) and a folder of 30 scans of someone's handwriting
    store = GlyphStore()
    import_split(subset, store=store, progress=False)
    before = stored_objects(store)
    version = store.manifest().version
    glyphs = subset.test
    write_scans(tmp_path / "mine", glyphs.images[:30], glyphs.labels[:30])

    # When they are added as the import's private glyphs
    manifest = add_private_glyphs(tmp_path / "mine", store=store, progress=False)

    # Then the manifest holds a private split of the 30, is a version newer (warm selectors re-read the pool), and
    # says the scored glyphs come from it and their labels are not public
    assert manifest.splits[PRIVATE_SPLIT].count == 30
    assert manifest.version == version + 1
    assert manifest.scored_split == PRIVATE_SPLIT
    assert (manifest.scored_labels_public, manifest.labels_public) == (False, True)
    assert store.manifest() == manifest
    assert sorted(store.labels(PRIVATE_SPLIT, 0).tolist()) == sorted(glyphs.labels[:30].tolist())
    # And nothing of EMNIST's import changed: only the manifest and the private split's own objects are new
    after = stored_objects(store)
    changed = {key for key in after if after[key] != before.get(key)}
    assert changed == {MANIFEST_KEY, shard_key(PRIVATE_SPLIT, 0), labels_key(PRIVATE_SPLIT, 0)}

    # When another folder is added instead, the private split is that folder's
    write_scans(tmp_path / "other", glyphs.images[30:42], glyphs.labels[30:42])
    replaced = add_private_glyphs(tmp_path / "other", store=store, progress=False)
    assert replaced.splits[PRIVATE_SPLIT].count == 12 and replaced.version == version + 2
    assert sorted(store.labels(PRIVATE_SPLIT, 0).tolist()) == sorted(glyphs.labels[30:42].tolist())


def test_own_glyphs_need_an_import_and_a_labels_file(emulator: Emulator, emnist_dir: Path, tmp_path: Path) -> None:
    glyphs = load_emnist(emnist_dir, limit=200).test
    write_scans(tmp_path / "mine", glyphs.images[:4], glyphs.labels[:4])

    with pytest.raises(NotImported):
        add_private_glyphs(tmp_path / "mine", progress=False)
    assert cli.main(["import-emnist", str(emnist_dir), "--limit", "600"]) == 0
    with pytest.raises(DataError, match=r"needs a labels\.csv"):
        add_private_glyphs(emnist_dir, progress=False)
