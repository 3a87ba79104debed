"""An operator's own handwriting as an import source: a folder of images listed in labels.csv becomes EMNIST-style
glyphs with their classes, split into training and test, and anything unusable is a clear error naming the line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from drcaptcha.charset import CLASSES, NUM_CLASSES
from drcaptcha.errors import DataError
from drcaptcha_ops.emnist import (
    BYMERGE_TEST_IMAGES,
    BYMERGE_TEST_LABELS,
    LABELLED_IMAGES,
    identify_source,
    load_emnist,
    parse_idx_images,
    parse_idx_labels,
)
from tests.fixtures.own_glyphs import as_scan, write_labels_csv, write_scans


def real_glyphs(emnist_dir: Path, count: int) -> tuple[NDArray[np.uint8], NDArray[np.int16]]:
    images = parse_idx_images((emnist_dir / BYMERGE_TEST_IMAGES).read_bytes(), "bymerge")
    labels = parse_idx_labels((emnist_dir / BYMERGE_TEST_LABELS).read_bytes(), "bymerge", NUM_CLASSES)
    return images[:count], labels[:count]


def test_scans_of_real_emnist_glyphs_come_back_as_those_glyphs_with_their_classes(
    emnist_dir: Path, tmp_path: Path
) -> None:
    # Given 60 real EMNIST glyphs, saved as larger off-centre black-on-white scans and listed with their characters
    glyphs, labels = real_glyphs(emnist_dir, 60)
    folder = write_scans(tmp_path, glyphs, labels)

    # When the folder is read as an import source
    split = load_emnist(folder, seed=3)

    # Then it is the labelled-images kind, every image is kept, and a tenth of each class with two or more is test
    assert split.kind == LABELLED_IMAGES
    assert len(split.train) + len(split.test) == 60
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    expected_test = sum(max(1, int(count * 0.1)) for count in counts if count >= 2)
    assert len(split.test) == expected_test
    # And each glyph is the EMNIST glyph it was scanned from (upright, ink on black, fitted and centred as EMNIST's
    # are), with that glyph's class: its closest original is of its class, and the median match is close
    flat = glyphs.reshape(len(glyphs), -1).astype(np.float64)
    best_matches = []
    for part in (split.train, split.test):
        for image, label in zip(part.images, part.labels, strict=True):
            correlations = [np.corrcoef(image.ravel().astype(np.float64), original)[0, 1] for original in flat]
            closest = int(np.argmax(correlations))
            assert labels[closest] == label, (CLASSES[label], CLASSES[labels[closest]])
            best_matches.append(correlations[closest])
    assert float(np.median(best_matches)) > 0.9


def test_lowercase_letters_that_emnist_merges_take_their_capitals_class_and_others_keep_their_own(
    tmp_path: Path,
) -> None:
    stroke = np.zeros((28, 28), dtype=np.uint8)
    stroke[4:24, 12:16] = 255
    for name in ("o.png", "O.png", "e.png", "e2.png"):
        as_scan(stroke).save(tmp_path / name)
    folder = write_labels_csv(tmp_path, [("o.png", "o"), ("O.png", "O"), ("e.png", "e"), ("e2.png", "e")])

    split = load_emnist(folder)

    classes = sorted(CLASSES[label] for label in np.concatenate([split.train.labels, split.test.labels]))
    assert classes == ["O", "O", "e", "e"]


def test_the_same_folder_is_the_same_import_and_a_changed_image_another(emnist_dir: Path, tmp_path: Path) -> None:
    glyphs, labels = real_glyphs(emnist_dir, 4)
    for index, glyph in enumerate(glyphs):
        as_scan(glyph).save(tmp_path / f"{index}.png")
    folder = write_labels_csv(tmp_path, [(f"{index}.png", CLASSES[labels[index]]) for index in range(4)])
    first = identify_source(folder).import_id(0, None)

    assert identify_source(folder).import_id(0, None) == first
    as_scan(255 - glyphs[1]).save(tmp_path / "1.png")
    assert identify_source(folder).import_id(0, None) != first


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([("a.png", "A")], "name,character", "header line naming the columns file and label"),
        ([("a.png", "AB")], "file,label", r"line 2: label 'AB' is not one of EMNIST's 62 characters"),
        ([("a.png", "%")], "file,label", r"line 2: label '%' is not one of"),
        ([("a.png", "A"), ("missing.png", "B")], "file,label", r"line 3: no image at .*missing.png"),
        ([("../outside.png", "A")], "file,label", r"line 2: file '../outside.png' is not a path inside"),
        ([], "file,label", "lists no images"),
        ([("a.png", "A")], "file,label", "give at least two images of some character"),
    ],
)
def test_an_unusable_labels_file_is_a_data_error_naming_the_line(
    tmp_path: Path, rows: list[tuple[str, str]], header: str, message: str
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    stroke = np.zeros((28, 28), dtype=np.uint8)
    stroke[4:24, 12:16] = 255
    as_scan(stroke).save(folder / "a.png")
    as_scan(stroke).save(tmp_path / "outside.png")
    write_labels_csv(folder, rows, header)

    with pytest.raises(DataError, match=message):
        load_emnist(folder)


def test_a_blank_or_unreadable_image_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    Image.new("L", (40, 40), 255).save(tmp_path / "blank.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")

    blank = write_labels_csv(tmp_path, [("blank.png", "A"), ("blank.png", "A")])
    with pytest.raises(DataError, match=r"blank.png \(labels.csv, line 2\): the drawing is blank"):
        load_emnist(blank)
    broken = write_labels_csv(tmp_path, [("broken.png", "A"), ("broken.png", "A")])
    with pytest.raises(DataError, match=r"broken.png \(labels.csv, line 2\) is not a readable image"):
        load_emnist(broken)
