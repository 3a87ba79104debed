"""Reading EMNIST (gzip IDX files, the `emnist-balanced.mat` file, or a folder of either) and splitting it.

Every reader returns images upright, as uint8 [n, 28, 28], and labels in the 47 Balanced classes of
`drcaptcha.charset`. Everything is validated here, before the importer writes anything.

Sources, in the order a folder is tried:
- the official Balanced IDX files (train and test images and labels): their own split, 112,800 / 18,800;
- `emnist-balanced.mat` (the file the original project read): the same split;
- ByMerge test + ByClass test (what `../shared/data/emnist` holds): the *balanced-equivalent* split. ByClass is
  mapped to the 47 classes, both are deduplicated by pixels (216,168 distinct images), 400 test images a class
  are drawn with the seed, and the rest is the training split;
- an operator's own handwriting (*labelled-images*): a folder with `labels.csv` (columns `file` and `label`: an
  image's path inside the folder, and the one character it shows, any of EMNIST's 62) and the images, in any
  format and size Pillow reads. Each becomes an EMNIST-style glyph as the draw page's drawings do
  (`drcaptcha.recognition.to_emnist`), and a tenth of each class (at least one image of a class that has two)
  is drawn with the seed as the test split. Labels that were never published are what keeps the scored pool
  from being learnt (docs/DESIGN.md): import such a folder with `--private`.
"""

from __future__ import annotations

import csv
import errno
import gzip
import hashlib
import json
import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from drcaptcha.charset import BYCLASS_CHARACTERS, BYCLASS_TO_BALANCED, CLASSES, NUM_CLASSES, class_of
from drcaptcha.errors import BadRequest, DataError

IMAGES_MAGIC: Final = 2051
LABELS_MAGIC: Final = 2049
SIDE: Final = 28
PIXELS: Final = SIDE * SIDE
TEST_PER_CLASS: Final = 400
# A subset (`--limit`) keeps at least one test and one training image a class.
MIN_LIMIT: Final = 2 * NUM_CLASSES

BALANCED_TRAIN_IMAGES: Final = "emnist-balanced-train-images-idx3-ubyte.gz"
BALANCED_TRAIN_LABELS: Final = "emnist-balanced-train-labels-idx1-ubyte.gz"
BALANCED_TEST_IMAGES: Final = "emnist-balanced-test-images-idx3-ubyte.gz"
BALANCED_TEST_LABELS: Final = "emnist-balanced-test-labels-idx1-ubyte.gz"
BYMERGE_TEST_IMAGES: Final = "emnist-bymerge-test-images-idx3-ubyte.gz"
BYMERGE_TEST_LABELS: Final = "emnist-bymerge-test-labels-idx1-ubyte.gz"
BYCLASS_TEST_IMAGES: Final = "emnist-byclass-test-images-idx3-ubyte.gz"
BYCLASS_TEST_LABELS: Final = "emnist-byclass-test-labels-idx1-ubyte.gz"
BALANCED_MAT: Final = "emnist-balanced.mat"
BALANCED_FILES: Final = (BALANCED_TRAIN_IMAGES, BALANCED_TRAIN_LABELS, BALANCED_TEST_IMAGES, BALANCED_TEST_LABELS)
EQUIVALENT_FILES: Final = (BYMERGE_TEST_IMAGES, BYMERGE_TEST_LABELS, BYCLASS_TEST_IMAGES, BYCLASS_TEST_LABELS)

# SHA-256 of the official files of the NIST gzip release (see ../shared/data/emnist/README.md). Only files named
# here are checked: a file under another name has no reference to compare with.
OFFICIAL_SHA256: Final = {
    BALANCED_TRAIN_IMAGES: "74295e75e4e9fa2c102147460ee7eb763653d5132d883a84fb88932bfb8d2db4",
    BALANCED_TRAIN_LABELS: "b46d41e5156a0a8aaaa4d18979fdd1588850fa8571018acffd5d93b325a7d6ed",
    BALANCED_TEST_IMAGES: "117fc12b015e37ea98bfb2cbba3f77c3782c056cdbd219b87abfc8661d7135db",
    BALANCED_TEST_LABELS: "a67cac948379b67270b9a4d0a01c8ec661598accf2f2b1964340b7c83cb175cd",
    BYMERGE_TEST_IMAGES: "5e5815ec1b522089134435f7c55e75a00960b58414793593ffff23efc0821683",
    BYMERGE_TEST_LABELS: "8bda1516255683ba9071e141947ca0c91a911176065cdd6259b0b4d8dc5b5f35",
    BYCLASS_TEST_IMAGES: "5ec835bd5d5b1a66378a132e727fef20fe994b3cc666899befcca5ac766f50cd",
    BYCLASS_TEST_LABELS: "501e305eeeacb093b162592d80e8a2632040872360fa6d85cfcb2200d91ca92a",
}

Images = NDArray[np.uint8]
Labels = NDArray[np.int16]


@dataclass(frozen=True)
class LabelledImages:
    """Upright uint8 images [n, 28, 28] and their Balanced labels int16 [n]."""

    images: Images
    labels: Labels

    def __len__(self) -> int:
        return len(self.labels)

    def per_class(self) -> list[int]:
        return [int(count) for count in np.bincount(self.labels, minlength=NUM_CLASSES)]

    def take(self, indices: NDArray[np.intp]) -> LabelledImages:
        return LabelledImages(self.images[indices], self.labels[indices])


@dataclass(frozen=True)
class SourceFile:
    name: str
    sha256: str


BALANCED_IDX: Final = "balanced-idx"
BALANCED_MAT_KIND: Final = "balanced-mat"
BALANCED_EQUIVALENT: Final = "balanced-equivalent"
LABELLED_IMAGES: Final = "labelled-images"
LABELS_CSV: Final = "labels.csv"
# The share of each class of an operator's own images held out as the test split.
OWN_TEST_SHARE: Final = 0.1


@dataclass(frozen=True)
class EmnistSource:
    """The files of a source, checked against the official hashes but not parsed yet."""

    kind: str
    path: Path
    paths: tuple[Path, ...]
    files: tuple[SourceFile, ...]

    def import_id(self, seed: int, limit: int | None) -> str:
        """Same files, seed and limit give the same id: that is how a re-run is recognised."""
        identity = {
            "kind": self.kind,
            "files": sorted((file.name, file.sha256) for file in self.files),
            "seed": seed,
            "limit": limit,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class EmnistSplit:
    """A validated train/test split, ready to import, and where it came from."""

    source: EmnistSource
    seed: int
    limit: int | None
    train: LabelledImages
    test: LabelledImages
    duplicates_dropped: int = 0

    @property
    def kind(self) -> str:
        return self.source.kind

    @property
    def import_id(self) -> str:
        return self.source.import_id(self.seed, self.limit)


# --- files ---------------------------------------------------------------------------------------------------
def checked_file(path: Path) -> SourceFile:
    """A file's digest; an official file whose digest differs from the release's is refused."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    expected = OFFICIAL_SHA256.get(path.name)
    if expected is not None and digest != expected:
        raise DataError(
            f"{path} does not match the official EMNIST file of that name (SHA-256 {digest[:12]}…, "
            f"expected {expected[:12]}…): it is truncated, corrupt or not the official release"
        )
    return SourceFile(path.name, digest)


def gunzip(raw: bytes, what: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except gzip.BadGzipFile as error:
        raise DataError(f"{what} is not a gzip file: {error}") from error
    except (EOFError, zlib.error) as error:
        raise DataError(f"{what} is a truncated or corrupt gzip file: {error}") from error


def parse_idx_images(raw_gzip: bytes, what: str) -> Images:
    """Images of a gzip IDX file (magic 2051), transposed upright (EMNIST stores them column by column)."""
    data = gunzip(raw_gzip, what)
    if len(data) < 16:
        raise DataError(f"{what} is too short for an IDX image header ({len(data)} bytes)")
    magic, count, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != IMAGES_MAGIC:
        raise DataError(f"{what} is not an IDX image file (magic {magic}, expected {IMAGES_MAGIC})")
    if (rows, cols) != (SIDE, SIDE):
        raise DataError(f"{what} holds {rows}x{cols} images; EMNIST images are {SIDE}x{SIDE}")
    expected = 16 + count * PIXELS
    if len(data) != expected:
        raise DataError(
            f"{what}: header says {count} images ({expected} bytes) but the file holds {len(data)} bytes "
            "(truncated or corrupt)"
        )
    images: Images = np.frombuffer(data, np.uint8, offset=16).reshape(count, SIDE, SIDE).transpose(0, 2, 1)
    return np.ascontiguousarray(images)


def parse_idx_labels(raw_gzip: bytes, what: str, num_classes: int) -> Labels:
    """Labels of a gzip IDX file (magic 2049), checked to lie in 0..num_classes-1."""
    data = gunzip(raw_gzip, what)
    if len(data) < 8:
        raise DataError(f"{what} is too short for an IDX label header ({len(data)} bytes)")
    magic, count = struct.unpack(">II", data[:8])
    if magic != LABELS_MAGIC:
        raise DataError(f"{what} is not an IDX label file (magic {magic}, expected {LABELS_MAGIC})")
    if len(data) != 8 + count:
        raise DataError(f"{what}: header says {count} labels but the file holds {len(data) - 8} (truncated or corrupt)")
    labels = np.frombuffer(data, np.uint8, offset=8).astype(np.int16)
    return check_label_range(labels, what, num_classes)


def check_label_range(labels: Labels, what: str, num_classes: int) -> Labels:
    if len(labels) and int(labels.max()) >= num_classes:
        raise DataError(f"{what} has label {int(labels.max())}; this data set has {num_classes} classes")
    return labels


def read_idx_pair(images_path: Path, labels_path: Path, num_classes: int) -> LabelledImages:
    """An images file and its labels file, checked against each other."""
    images = parse_idx_images(images_path.read_bytes(), str(images_path))
    labels = parse_idx_labels(labels_path.read_bytes(), str(labels_path), num_classes)
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    return LabelledImages(images, labels)


# --- the .mat file -------------------------------------------------------------------------------------------
def mat_images_upright(rows: NDArray[Any], what: str) -> Images:
    """The .mat rows hold each image in IDX byte order (column by column), so they are transposed like IDX.

    The original project reshaped them row-major and then applied `rot90(fliplr(img))`, which is a transpose.
    """
    if rows.ndim != 2 or rows.shape[1] != PIXELS:
        raise DataError(f"{what}: images have shape {rows.shape}; expected (n, {PIXELS})")
    if rows.dtype != np.uint8:
        if not np.issubdtype(rows.dtype, np.number) or rows.min() < 0 or rows.max() > 255:
            raise DataError(f"{what}: images are {rows.dtype}, not 8-bit pixels")
        rows = rows.astype(np.uint8)
    return np.ascontiguousarray(rows.reshape(len(rows), SIDE, SIDE).transpose(0, 2, 1))


def mat_labels(values: NDArray[Any], what: str) -> Labels:
    flat = np.asarray(values).reshape(-1)
    if not np.issubdtype(flat.dtype, np.number) or (len(flat) and not np.all(flat == np.round(flat))):
        raise DataError(f"{what}: labels are not whole numbers")
    if len(flat) and flat.min() < 0:
        raise DataError(f"{what} has label {flat.min()}; labels start at 0")
    return check_label_range(flat.astype(np.int16), what, NUM_CLASSES)


def mat_field(record: Any, name: str, what: str) -> Any:
    """A field of a MATLAB struct as loadmat returns it (a 1x1 record array), or a DataError naming the path."""
    try:
        value = record[name]
        return value[0, 0] if value.dtype.names else value
    except (KeyError, ValueError, IndexError, TypeError, AttributeError) as error:
        raise DataError(f"{what} is not an EMNIST .mat file: it has no {name}") from error


def mat_part(dataset: Any, part: str, what: str) -> LabelledImages:
    split = mat_field(dataset, part, what)
    images = mat_field(split, "images", f"{what} dataset.{part}")
    labels = mat_field(split, "labels", f"{what} dataset.{part}")
    upright = mat_images_upright(np.asarray(images), f"{what} dataset.{part}")
    checked = mat_labels(labels, f"{what} dataset.{part}")
    if len(upright) != len(checked):
        raise DataError(f"{what} dataset.{part} holds {len(upright)} images but {len(checked)} labels")
    return LabelledImages(upright, checked)


def check_mat_mapping(dataset: Any, what: str) -> None:
    """The mapping (label, ASCII code) must name our 47 classes, in our order: else labels mean other things."""
    if "mapping" not in (dataset.dtype.names or ()):
        return
    mapping = np.asarray(dataset["mapping"])
    expected = np.array([[label, ord(character)] for label, character in enumerate(CLASSES)])
    if mapping.shape != expected.shape or not np.array_equal(mapping, expected):
        raise DataError(f"{what}: its class mapping is not the 47-class EMNIST Balanced mapping")


def read_mat(path: Path) -> tuple[LabelledImages, LabelledImages]:
    """Train and test of an `emnist-balanced.mat` (structure `dataset` → train/test → images, labels, mapping)."""
    from scipy.io import loadmat  # scipy is slow to import; only this source needs it

    what = str(path)
    try:
        content = loadmat(path)
    except NotImplementedError as error:  # MATLAB v7.3 files are HDF5
        raise DataError(f"{what} is a MATLAB v7.3 (HDF5) file; save it as v7 or use the IDX files") from error
    except Exception as error:  # scipy raises many types for a file that is not a .mat
        raise DataError(f"{what} is not a readable MATLAB .mat file: {error}") from error
    if "dataset" not in content:
        raise DataError(f"{what} is not an EMNIST .mat file: it has no `dataset` structure")
    dataset = mat_field(content, "dataset", what)
    if not dataset.dtype.names:
        raise DataError(f"{what} is not an EMNIST .mat file: `dataset` is not a structure")
    check_mat_mapping(dataset, what)
    return mat_part(dataset, "train", what), mat_part(dataset, "test", what)


# --- splitting -----------------------------------------------------------------------------------------------
def deduplicate(parts: Iterable[LabelledImages]) -> tuple[LabelledImages, int]:
    """The parts joined, keeping the first of each set of pixel-identical images, and how many were dropped.

    A dict keyed by each image's bytes compares pixels exactly (hashing only picks the bucket); it is faster
    than np.unique on a void view for 200k images.
    """
    joined = list(parts)
    images = np.concatenate([part.images for part in joined])
    labels = np.concatenate([part.labels for part in joined])
    first_of: dict[bytes, int] = {}
    for index, row in enumerate(images.reshape(len(images), PIXELS)):
        first_of.setdefault(row.tobytes(), index)
    keep = np.fromiter(sorted(first_of.values()), dtype=np.intp, count=len(first_of))
    return LabelledImages(images[keep], labels[keep]), len(images) - len(keep)


def shuffled(data: LabelledImages, rng: np.random.Generator) -> LabelledImages:
    return data.take(rng.permutation(len(data)))


def draw_test_split(
    pool: LabelledImages, per_class: int, rng: np.random.Generator
) -> tuple[LabelledImages, LabelledImages]:
    """(train, test): `per_class` test images a class drawn from the pool, the rest for training; both shuffled."""
    counts = pool.per_class()
    short = [f"{CLASSES[label]}={count}" for label, count in enumerate(counts) if count <= per_class]
    if short:
        raise DataError(f"too few images to draw {per_class} test images a class: {', '.join(short)}")
    test_indices = np.concatenate(
        [rng.choice(np.flatnonzero(pool.labels == label), per_class, replace=False) for label in range(NUM_CLASSES)]
    )
    is_test = np.zeros(len(pool), dtype=bool)
    is_test[test_indices] = True
    train = pool.take(np.flatnonzero(~is_test))
    test = pool.take(np.flatnonzero(is_test))
    return shuffled(train, rng), shuffled(test, rng)


def balanced_equivalent(
    bymerge: LabelledImages, byclass: LabelledImages, seed: int
) -> tuple[LabelledImages, LabelledImages, int]:
    """ByMerge (47 classes) + ByClass (62 classes, mapped to 47), deduplicated by pixels, split 400 a class."""
    mapped = LabelledImages(byclass.images, np.asarray(BYCLASS_TO_BALANCED, dtype=np.int16)[byclass.labels])
    pool, dropped = deduplicate([bymerge, mapped])
    train, test = draw_test_split(pool, TEST_PER_CLASS, np.random.default_rng(seed))
    return train, test, dropped


def take_subset(train: LabelledImages, test: LabelledImages, limit: int) -> tuple[LabelledImages, LabelledImages]:
    """At most `limit` images, in the same train/test proportion, with a balanced test split.

    Each class keeps `min(full test per class, max(1, per_class * limit / total))` test images; the training
    split takes the rest of the limit. The splits are already shuffled, so taking the first images of each is a
    seeded random draw.
    """
    total = len(train) + len(test)
    if limit < MIN_LIMIT:
        raise DataError(f"--limit must be at least {MIN_LIMIT} (one test and one training image a class)")
    if limit >= total:
        return train, test
    full_per_class = min(test.per_class())
    per_class = min(full_per_class, max(1, full_per_class * limit // total))
    kept = np.concatenate([np.flatnonzero(test.labels == label)[:per_class] for label in range(NUM_CLASSES)])
    small_test = test.take(np.sort(kept))
    small_train = train.take(np.arange(min(len(train), limit - len(small_test))))
    return small_train, small_test


def hold_out(pool: LabelledImages, share: float, rng: np.random.Generator) -> tuple[LabelledImages, LabelledImages]:
    """(train, test): `share` of each class's images (at least one of a class that has two or more) drawn as the
    test split, the rest for training; both shuffled. Classes with one image, or none, are training only."""
    is_test = np.zeros(len(pool), dtype=bool)
    for label, count in enumerate(pool.per_class()):
        if count >= 2:
            members = np.flatnonzero(pool.labels == label)
            is_test[rng.choice(members, max(1, int(count * share)), replace=False)] = True
    if not is_test.any():
        raise DataError("too few images to hold any out for testing: give at least two images of some character")
    return shuffled(pool.take(np.flatnonzero(~is_test)), rng), shuffled(pool.take(np.flatnonzero(is_test)), rng)


def labelled_rows(labels_csv: Path) -> list[tuple[Path, int, int]]:
    """(image path, Balanced class, line number) of each row of an operator's `labels.csv`; DataError naming the
    line for a missing column, an unknown character, or a file outside the folder or missing."""
    folder = labels_csv.parent.resolve()
    rows: list[tuple[Path, int, int]] = []
    with labels_csv.open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        if reader.fieldnames is None or not {"file", "label"} <= set(reader.fieldnames):
            raise DataError(f"{labels_csv} must start with a header line naming the columns file and label")
        for row in reader:
            where = f"{labels_csv}, line {reader.line_num}"
            name, character = (row.get("file") or "").strip(), row.get("label") or ""
            label = class_of(character)
            if character not in BYCLASS_CHARACTERS or label is None:
                raise DataError(f"{where}: label {character!r} is not one of EMNIST's 62 characters (0-9, A-Z, a-z)")
            image = (folder / name).resolve()
            if not name or not image.is_relative_to(folder):
                raise DataError(f"{where}: file {name!r} is not a path inside {folder}")
            if not image.is_file():
                raise DataError(f"{where}: no image at {image}")
            rows.append((image, label, reader.line_num))
    if not rows:
        raise DataError(f"{labels_csv} lists no images")
    return rows


def read_labelled_images(labels_csv: Path) -> LabelledImages:
    """Each image that `labels.csv` lists, as an upright EMNIST-style glyph, with its Balanced class."""
    from PIL import Image, UnidentifiedImageError

    from drcaptcha.recognition import MAX_SIDE, to_emnist

    images: list[Images] = []
    labels: list[int] = []
    for image_path, label, line in labelled_rows(labels_csv):
        where = f"{image_path} ({labels_csv.name}, line {line})"
        try:
            with Image.open(image_path) as image:
                if max(image.size) > MAX_SIDE:
                    raise DataError(f"{where} is {image.size[0]}x{image.size[1]}; at most {MAX_SIDE} a side is read")
                images.append(to_emnist(image))
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
            raise DataError(f"{where} is not a readable image: {error}") from error
        except BadRequest as blank:
            raise DataError(f"{where}: {blank.message}") from blank
        labels.append(label)
    return LabelledImages(np.stack(images), np.asarray(labels, dtype=np.int16))


# --- sources -------------------------------------------------------------------------------------------------
def missing_path(path: Path) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))


def has_all(folder: Path, names: Iterable[str]) -> bool:
    return all((folder / name).is_file() for name in names)


def looks_like_mat(path: Path) -> bool:
    from scipy.io.matlab import matfile_version

    try:
        with path.open("rb") as file:
            matfile_version(file)
    except Exception:  # scipy raises several types for a header it does not know
        return False
    return True


def locate_source(path: Path) -> tuple[str, tuple[Path, ...]]:
    """Which kind of source `path` is, and its files: a cheap check that needs no parsing."""
    if not path.exists():
        raise missing_path(path)
    if path.is_file():
        if path.name.endswith((".gz", "-ubyte")):
            raise DataError(f"{path} is a single IDX file; pass the folder that holds the EMNIST images and labels")
        if not looks_like_mat(path):
            raise DataError(f"{path} is not a readable MATLAB .mat file (nor a folder of EMNIST IDX files)")
        return BALANCED_MAT_KIND, (path,)
    if has_all(path, BALANCED_FILES):
        return BALANCED_IDX, tuple(path / name for name in BALANCED_FILES)
    if (path / BALANCED_MAT).is_file():
        return BALANCED_MAT_KIND, (path / BALANCED_MAT,)
    if has_all(path, EQUIVALENT_FILES):
        return BALANCED_EQUIVALENT, tuple(path / name for name in EQUIVALENT_FILES)
    if (path / LABELS_CSV).is_file():
        rows = labelled_rows(path / LABELS_CSV)
        return LABELLED_IMAGES, (path / LABELS_CSV, *dict.fromkeys(image for image, _, _ in rows))
    raise DataError(
        f"{path} holds no EMNIST source: expected the four emnist-balanced-* IDX files, {BALANCED_MAT}, "
        f"the ByMerge and ByClass test IDX files, or your own images listed in {LABELS_CSV}"
    )


def identify_source(path: Path) -> EmnistSource:
    """The source at `path` with its files' digests; official files are checked against the release."""
    kind, paths = locate_source(path)
    return EmnistSource(kind, path.resolve(), paths, tuple(checked_file(file) for file in paths))


def read_split(source: EmnistSource, seed: int = 0, limit: int | None = None) -> EmnistSplit:
    """Parse and validate every file of `source`, and split it (see the module docstring)."""
    dropped = 0
    if source.kind == LABELLED_IMAGES:
        train, test = hold_out(read_labelled_images(source.paths[0]), OWN_TEST_SHARE, np.random.default_rng(seed))
    elif source.kind == BALANCED_EQUIVALENT:
        bymerge = read_idx_pair(source.paths[0], source.paths[1], NUM_CLASSES)
        byclass = read_idx_pair(source.paths[2], source.paths[3], len(BYCLASS_CHARACTERS))
        train, test, dropped = balanced_equivalent(bymerge, byclass, seed)
    else:
        if source.kind == BALANCED_IDX:
            train = read_idx_pair(source.paths[0], source.paths[1], NUM_CLASSES)
            test = read_idx_pair(source.paths[2], source.paths[3], NUM_CLASSES)
        else:
            train, test = read_mat(source.paths[0])
        # The official split is kept as it is; the shuffle only mixes classes within each shard.
        rng = np.random.default_rng(seed)
        train, test = shuffled(train, rng), shuffled(test, rng)
    if limit is not None:
        train, test = take_subset(train, test, limit)
    return EmnistSplit(source=source, seed=seed, limit=limit, train=train, test=test, duplicates_dropped=dropped)


def load_emnist(path: Path, seed: int = 0, limit: int | None = None) -> EmnistSplit:
    """The validated split that `import-emnist PATH` writes; raises DataError for anything it cannot use."""
    return read_split(identify_source(path), seed, limit)
