"""Reading EMNIST (gzip IDX, .mat, folders), rejecting bad files, and the balanced-equivalent split."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.io import savemat

from drcaptcha.charset import BYCLASS_CHARACTERS, CLASSES, NUM_CLASSES
from drcaptcha.errors import DataError
from drcaptcha_ops import emnist
from drcaptcha_ops.emnist import (
    BALANCED_TEST_IMAGES,
    BALANCED_TEST_LABELS,
    BALANCED_TRAIN_IMAGES,
    BALANCED_TRAIN_LABELS,
    BYCLASS_TEST_IMAGES,
    BYCLASS_TEST_LABELS,
    BYMERGE_TEST_IMAGES,
    BYMERGE_TEST_LABELS,
    LabelledImages,
    balanced_equivalent,
    draw_test_split,
    identify_source,
    load_emnist,
    parse_idx_images,
    parse_idx_labels,
    read_idx_pair,
    read_mat,
    take_subset,
)

RNG = np.random.default_rng(7)
BALANCED_MAPPING = np.array([[label, ord(character)] for label, character in enumerate(CLASSES)])


def random_images(count: int) -> NDArray[np.uint8]:
    """Distinct random images (a collision among 784 random bytes does not happen)."""
    return RNG.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


def idx_images(upright: NDArray[np.uint8], magic: int = 2051, count: int | None = None) -> bytes:
    """A gzip IDX image file, stored column by column as EMNIST stores them."""
    n, rows, cols = upright.shape
    header = struct.pack(">IIII", magic, n if count is None else count, rows, cols)
    return gzip.compress(header + upright.transpose(0, 2, 1).tobytes())


def idx_labels(labels: NDArray[Any], magic: int = 2049) -> bytes:
    return gzip.compress(struct.pack(">II", magic, len(labels)) + np.asarray(labels, dtype=np.uint8).tobytes())


def balanced_labels(per_class: int) -> NDArray[np.int16]:
    return np.repeat(np.arange(NUM_CLASSES, dtype=np.int16), per_class)


def idx_file_images(path: Path) -> tuple[NDArray[np.uint8], NDArray[np.int16]]:
    """The rows of an IDX image file exactly as stored (the layout of the official .mat), and upright."""
    data = gzip.decompress(path.read_bytes())
    rows = np.frombuffer(data, np.uint8, offset=16).reshape(-1, 784)
    return rows, parse_idx_images(path.read_bytes(), str(path))


# --- IDX -----------------------------------------------------------------------------------------------------
def test_idx_images_are_transposed_upright() -> None:
    upright = random_images(5)

    parsed = parse_idx_images(idx_images(upright), "synthetic")

    assert parsed.dtype == np.uint8
    assert np.array_equal(parsed, upright)


def test_real_emnist_characters_come_out_upright(emnist_dir: Path) -> None:
    """No synthetic data can tell upright from transposed; real ones and sevens can."""
    images = parse_idx_images((emnist_dir / BYMERGE_TEST_IMAGES).read_bytes(), "bymerge")
    labels = parse_idx_labels((emnist_dir / BYMERGE_TEST_LABELS).read_bytes(), "bymerge", NUM_CLASSES)
    ones = images[labels == CLASSES.index("1")].mean(axis=0)
    sevens = images[labels == CLASSES.index("7")].mean(axis=0)
    rows, cols = np.indices(ones.shape)

    def spread(weights: NDArray[Any], coordinate: NDArray[Any]) -> float:
        mean = (weights * coordinate).sum() / weights.sum()
        return float(np.sqrt((weights * (coordinate - mean) ** 2).sum() / weights.sum()))

    assert spread(ones, rows) > 1.5 * spread(ones, cols)  # a one is tall, not wide
    assert sevens[:8].sum() > 1.3 * sevens[:, :8].sum()  # a seven's bar is on top, not on the left


def test_idx_labels_are_read_in_range() -> None:
    labels = parse_idx_labels(idx_labels(np.array([0, 46, 3])), "labels", NUM_CLASSES)

    assert labels.tolist() == [0, 46, 3]
    assert labels.dtype == np.int16


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (idx_labels(np.arange(40)), "not an IDX image file"),
        (idx_images(random_images(3), magic=2049), "magic 2049"),
        (idx_images(random_images(4), count=5), "header says 5 images"),
        (idx_images(random_images(2)[:, :, :14]), "28x14"),
        (gzip.compress(b"\x00\x00\x08"), "too short"),
        (struct.pack(">IIII", 2051, 1, 28, 28) + bytes(784), "not a gzip file"),
        (idx_images(random_images(20))[:-700], "truncated or corrupt gzip"),
    ],
    ids=["labels-file", "bad-magic", "count-mismatch", "wrong-dims", "short-header", "not-gzip", "truncated"],
)
def test_a_bad_image_file_is_a_data_error(content: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_idx_images(content, "bad.gz")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (idx_labels(np.array([0, 47])), "has label 47"),
        (idx_images(random_images(1)), "not an IDX label file"),
        (gzip.compress(struct.pack(">II", 2049, 9) + bytes(4)), "header says 9 labels but the file holds 4"),
    ],
    ids=["out-of-range", "images-file", "count-mismatch"],
)
def test_a_bad_label_file_is_a_data_error(content: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_idx_labels(content, "bad.gz", NUM_CLASSES)


def test_images_and_labels_of_different_lengths_are_refused(tmp_path: Path) -> None:
    (tmp_path / "images.gz").write_bytes(idx_images(random_images(4)))
    (tmp_path / "labels.gz").write_bytes(idx_labels(np.array([1, 2, 3])))

    with pytest.raises(DataError, match=r"4 images but .* 3 labels"):
        read_idx_pair(tmp_path / "images.gz", tmp_path / "labels.gz", NUM_CLASSES)


def test_a_file_named_like_an_official_one_must_have_its_hash(tmp_path: Path) -> None:
    for name in (BYMERGE_TEST_IMAGES, BYCLASS_TEST_IMAGES):
        (tmp_path / name).write_bytes(idx_images(random_images(4)))
    for name in (BYMERGE_TEST_LABELS, BYCLASS_TEST_LABELS):
        (tmp_path / name).write_bytes(idx_labels(np.array([1, 2, 3, 4])))

    with pytest.raises(DataError, match=f"{tmp_path / BYMERGE_TEST_IMAGES} does not match the official EMNIST"):
        identify_source(tmp_path)


def test_a_file_without_a_published_hash_is_hashed_for_the_import_id_but_not_checked(tmp_path: Path) -> None:
    images = random_images(47).transpose(0, 2, 1).reshape(47, 784)
    mat = write_mat(tmp_path / "emnist-balanced.mat", (images, np.arange(47)), (images, np.arange(47)))

    source = identify_source(mat)

    assert source.kind == "balanced-mat"
    assert source.files[0].sha256 == hashlib.sha256(mat.read_bytes()).hexdigest()
    assert source.import_id(seed=0, limit=None) != source.import_id(seed=0, limit=100)


# --- .mat ----------------------------------------------------------------------------------------------------
def write_mat(path: Path, train: tuple[Any, Any], test: tuple[Any, Any], mapping: Any = BALANCED_MAPPING) -> Path:
    """A .mat with the official structure: dataset -> train/test -> images (n, 784), labels (n, 1); mapping."""

    def part(images: Any, labels: Any) -> dict[str, Any]:
        return {"images": images, "labels": np.asarray(labels).reshape(-1, 1), "writers": np.zeros((len(labels), 1))}

    savemat(path, {"dataset": {"train": part(*train), "test": part(*test), "mapping": mapping}})
    return path


def test_the_mat_reader_gives_the_same_upright_images_as_the_idx_reader(emnist_dir: Path, tmp_path: Path) -> None:
    # Given a .mat laid out like the official one, holding real images in their stored byte order
    rows, upright = idx_file_images(emnist_dir / BYMERGE_TEST_IMAGES)
    labels = parse_idx_labels((emnist_dir / BYMERGE_TEST_LABELS).read_bytes(), "labels", NUM_CLASSES)
    mat = write_mat(tmp_path / "emnist-balanced.mat", (rows[:300], labels[:300]), (rows[300:400], labels[300:400]))

    # When it is read
    train, test = read_mat(mat)

    # Then its images are the IDX reader's upright images, with the same labels
    assert np.array_equal(train.images, upright[:300])
    assert np.array_equal(test.images, upright[300:400])
    assert train.labels.tolist() == labels[:300].tolist()


def test_mat_labels_stored_as_doubles_are_read_as_classes(tmp_path: Path) -> None:
    images = random_images(3).transpose(0, 2, 1).reshape(3, 784)
    mat = write_mat(tmp_path / "m.mat", (images, np.array([0.0, 12.0, 46.0])), (images[:1], np.array([5.0])))

    train, test = read_mat(mat)

    assert train.labels.tolist() == [0, 12, 46]
    assert test.labels.tolist() == [5]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("label,pixels\n1,2\n"), "not a readable MATLAB .mat file"),
        (lambda p: savemat(p, {"something": np.zeros(3)}), "no `dataset` structure"),
        (lambda p: savemat(p, {"dataset": {"train": {"images": np.zeros((2, 784))}}}), "no labels"),
        (
            lambda p: write_mat(p, (np.zeros((2, 784)), [0, 47]), (np.zeros((1, 784)), [1])),
            "has label 47",
        ),
        (lambda p: write_mat(p, (np.zeros((2, 100)), [0, 1]), (np.zeros((1, 100)), [1])), r"shape \(2, 100\)"),
        (
            lambda p: write_mat(p, (np.zeros((2, 784)), [0, 1]), (np.zeros((1, 784)), [1]), BALANCED_MAPPING[:10]),
            "not the 47-class EMNIST Balanced mapping",
        ),
        (lambda p: write_mat(p, (np.zeros((2, 784)), [0, 1, 2]), (np.zeros((1, 784)), [1])), "2 images but 3 labels"),
    ],
    ids=["text-file", "no-dataset", "no-labels", "label-out-of-range", "wrong-width", "wrong-mapping", "count"],
)
def test_a_bad_mat_file_is_a_data_error(tmp_path: Path, make: Any, message: str) -> None:
    path = tmp_path / "emnist-balanced.mat"
    make(path)

    with pytest.raises(DataError, match=message):
        read_mat(path)


def test_a_truncated_mat_file_is_a_data_error(tmp_path: Path) -> None:
    images = random_images(50).reshape(50, 784)
    mat = write_mat(tmp_path / "full.mat", (images, np.zeros(50)), (images[:5], np.zeros(5)))
    truncated = tmp_path / "emnist-balanced.mat"
    truncated.write_bytes(mat.read_bytes()[: mat.stat().st_size // 2])

    with pytest.raises(DataError, match=str(truncated)):
        read_mat(truncated)


# --- splitting -----------------------------------------------------------------------------------------------
def test_the_test_draw_takes_the_same_number_of_every_class_and_the_rest_is_training() -> None:
    pool = LabelledImages(random_images(47 * 5), balanced_labels(5))

    train, test = draw_test_split(pool, 3, np.random.default_rng(1))

    assert test.per_class() == [3] * NUM_CLASSES
    assert train.per_class() == [2] * NUM_CLASSES
    stored = {image.tobytes() for image in np.concatenate([train.images, test.images])}
    assert stored == {image.tobytes() for image in pool.images}


def test_a_class_too_small_for_the_test_draw_is_named() -> None:
    labels = balanced_labels(4)
    pool = LabelledImages(random_images(len(labels)), labels)

    with pytest.raises(DataError, match="0=4"):
        draw_test_split(pool, 4, np.random.default_rng(1))


def synthetic_bymerge_and_byclass() -> tuple[LabelledImages, LabelledImages]:
    """ByMerge with 405 a class; ByClass with 100 new images, 30 copies of ByMerge and 5 of its own."""
    bymerge = LabelledImages(random_images(47 * 405), balanced_labels(405))
    fresh_images = random_images(100)
    fresh_labels = RNG.integers(0, len(BYCLASS_CHARACTERS), 100).astype(np.int16)
    copied = RNG.choice(len(bymerge), 30, replace=False)
    small_c = BYCLASS_CHARACTERS.index("c")
    byclass = LabelledImages(
        np.concatenate([fresh_images, bymerge.images[copied], fresh_images[:5]]),
        np.concatenate([fresh_labels, bymerge.labels[copied], fresh_labels[:5]]).astype(np.int16),
    )
    byclass.labels[0] = small_c
    return bymerge, byclass


def test_the_balanced_equivalent_split_drops_pixel_duplicates_and_draws_400_a_class() -> None:
    bymerge, byclass = synthetic_bymerge_and_byclass()

    train, test, dropped = balanced_equivalent(bymerge, byclass, seed=3)

    assert dropped == 35
    assert len(train) + len(test) == 47 * 405 + 100
    assert test.per_class() == [400] * NUM_CLASSES
    all_images = {image.tobytes() for image in np.concatenate([train.images, test.images])}
    assert len(all_images) == 47 * 405 + 100
    lower_c_image = byclass.images[0].tobytes()
    where = [label for image, label in zip(train.images, train.labels, strict=True) if image.tobytes() == lower_c_image]
    where += [label for image, label in zip(test.images, test.labels, strict=True) if image.tobytes() == lower_c_image]
    assert where == [CLASSES.index("C")]


def test_the_same_seed_gives_the_same_split_and_another_seed_another() -> None:
    bymerge, byclass = synthetic_bymerge_and_byclass()

    first_train, first_test, _ = balanced_equivalent(bymerge, byclass, seed=11)
    again_train, again_test, _ = balanced_equivalent(bymerge, byclass, seed=11)
    other_train, other_test, _ = balanced_equivalent(bymerge, byclass, seed=12)

    assert np.array_equal(first_train.images, again_train.images)
    assert np.array_equal(first_test.images, again_test.images)
    assert np.array_equal(first_test.labels, again_test.labels)
    assert not np.array_equal(first_test.images, other_test.images)
    assert len(first_train) == len(other_train)


def test_the_splits_are_shuffled_so_a_shard_mixes_classes() -> None:
    bymerge, byclass = synthetic_bymerge_and_byclass()

    train, test, _ = balanced_equivalent(bymerge, byclass, seed=5)

    assert len(set(train.labels[:200].tolist())) > 40
    assert len(set(test.labels[:200].tolist())) > 40


def test_a_subset_keeps_the_proportion_and_a_balanced_test_split() -> None:
    train = LabelledImages(random_images(2000), RNG.integers(0, NUM_CLASSES, 2000).astype(np.int16))
    test = LabelledImages(random_images(470), balanced_labels(10))

    small_train, small_test = take_subset(train, test, 494)

    assert small_test.per_class() == [2] * NUM_CLASSES
    assert len(small_train) == 494 - 94
    assert np.array_equal(small_train.images, train.images[:400])
    assert take_subset(train, test, 10_000) == (train, test)
    with pytest.raises(DataError, match="at least 94"):
        take_subset(train, test, 93)


# --- folders -------------------------------------------------------------------------------------------------
def write_balanced_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LabelledImages, LabelledImages]:
    """Synthetic files under the official Balanced names; the real ones are not on this machine, so the
    table of official hashes is pointed at these files for the test."""
    train = LabelledImages(random_images(47 * 3), balanced_labels(3))
    test = LabelledImages(random_images(47 * 2), balanced_labels(2))
    contents = {
        BALANCED_TRAIN_IMAGES: idx_images(train.images),
        BALANCED_TRAIN_LABELS: idx_labels(train.labels),
        BALANCED_TEST_IMAGES: idx_images(test.images),
        BALANCED_TEST_LABELS: idx_labels(test.labels),
    }
    for name, content in contents.items():
        (folder / name).write_bytes(content)
        monkeypatch.setitem(emnist.OFFICIAL_SHA256, name, hashlib.sha256(content).hexdigest())
    return train, test


def test_a_folder_of_official_balanced_files_keeps_their_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = write_balanced_folder(tmp_path, monkeypatch)

    split = load_emnist(tmp_path, seed=4)

    assert split.kind == "balanced-idx"
    assert (len(split.train), len(split.test)) == (len(train), len(test))
    assert {image.tobytes() for image in split.test.images} == {image.tobytes() for image in test.images}
    assert split.import_id == load_emnist(tmp_path, seed=4).import_id
    assert split.import_id != load_emnist(tmp_path, seed=5).import_id


def test_a_folder_with_a_mat_file_is_read_as_the_mat(tmp_path: Path) -> None:
    images = random_images(47).transpose(0, 2, 1).reshape(47, 784)
    write_mat(tmp_path / "emnist-balanced.mat", (images, np.arange(47)), (images, np.arange(47)))

    split = load_emnist(tmp_path)

    assert split.kind == "balanced-mat"
    assert split.test.per_class() == [1] * NUM_CLASSES


def test_a_folder_without_emnist_files_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")

    with pytest.raises(DataError, match="holds no EMNIST source"):
        load_emnist(tmp_path)


def test_a_single_idx_file_asks_for_its_folder(tmp_path: Path) -> None:
    single = tmp_path / "some-images-idx3-ubyte.gz"
    single.write_bytes(idx_images(random_images(2)))

    with pytest.raises(DataError, match="pass the folder"):
        load_emnist(single)


def test_a_missing_path_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_emnist(tmp_path / "nowhere")
