"""Glyph shards in S3 and the warm in-process cache.

Layout in the data bucket:
    glyphs/manifest.json                 the import's commit marker: splits, shard sizes, class counts
    glyphs/<split>/<shard>.npy           uint8 [n, 28, 28], upright, about 1,000 a shard
    glyphs/<split>/<shard>.labels.npy    int16 [n]: the import-time label, -1 where it was removed
    truth/<split>/<shard>.labels.npy     the removed labels (functions' roles cannot read truth/)

Shards are immutable once imported, so a warm process caches them for its life. Label files change only
when an operator removes labels, so they are cached per manifest version.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

from drcaptcha import aws
from drcaptcha.config import get_settings
from drcaptcha.errors import DataError, NotImported

SHARD_SIZE: Final = 1000
IMAGE_SHAPE: Final = (28, 28)
MANIFEST_KEY: Final = "glyphs/manifest.json"
# An operator's own glyphs beside a public import (`drcaptcha add-private-glyphs`): never trained on, and when an
# import has them, the known glyphs that challenges score and show as gold come from them alone.
PRIVATE_SPLIT: Final = "private"
SPLITS: Final = ("train", "test", PRIVATE_SPLIT)
REMOVED: Final = -1


@dataclass(frozen=True, order=True)
class GlyphRef:
    """Where a glyph lives: its split, shard number and offset in the shard."""

    split: str
    shard: int
    offset: int

    @property
    def key(self) -> str:
        return f"{self.split}:{self.shard:05d}:{self.offset:04d}"

    @classmethod
    def parse(cls, key: str) -> GlyphRef:
        try:
            split, shard, offset = key.split(":")
            ref = cls(split, int(shard), int(offset))
        except ValueError as error:
            raise DataError(f"not a glyph id: {key!r}") from error
        if split not in SPLITS or ref.shard < 0 or ref.offset < 0:
            raise DataError(f"not a glyph id: {key!r}")
        return ref


class SplitInfo(BaseModel):
    count: int
    shard_sizes: list[int]
    per_class: list[int]


class ImportManifest(BaseModel):
    """What one import wrote. `version` grows whenever label files change (remove-labels)."""

    import_id: str
    source: str
    seed: int
    created_at: float
    version: int = 1
    removed: int = 0
    splits: dict[str, SplitInfo]
    labels_public: bool = True
    """Whether the source's labels are public, as EMNIST's are: then an attacker can train a network on the very
    glyphs we score (docs/DESIGN.md, "What keeps the scored pool from being learnt"). An import of a private
    source (`drcaptcha import-emnist --private`) says False, and challenges then score more glyphs."""

    @property
    def scored_split(self) -> str:
        """The split whose known glyphs challenges score: the private one where there is one, else training."""
        return PRIVATE_SPLIT if PRIVATE_SPLIT in self.splits else "train"

    @property
    def scored_labels_public(self) -> bool:
        """Whether the scored glyphs' labels are public: not when the import is private or has a private split."""
        return self.labels_public and PRIVATE_SPLIT not in self.splits


def shard_key(split: str, shard: int) -> str:
    return f"glyphs/{split}/{shard:05d}.npy"


def labels_key(split: str, shard: int) -> str:
    return f"glyphs/{split}/{shard:05d}.labels.npy"


def truth_key(split: str, shard: int) -> str:
    return f"truth/{split}/{shard:05d}.labels.npy"


def encode_array(array: NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def decode_array(data: bytes, what: str) -> NDArray[Any]:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)  # type: ignore[no-any-return]
    except (ValueError, OSError, EOFError) as error:
        raise DataError(f"{what} is not a readable .npy array: {error}") from error


class GlyphStore:
    """Reads and writes glyph shards in one bucket; caches what it reads."""

    def __init__(self, bucket: str | None = None) -> None:
        self.bucket = bucket or get_settings().bucket_name
        self._images: dict[tuple[str, int], NDArray[np.uint8]] = {}
        self._labels: dict[tuple[str, int], NDArray[np.int16]] = {}
        self._labels_version = 0

    @cached_property
    def s3(self) -> Any:
        return aws.client("s3")

    # --- objects -------------------------------------------------------------------------------------------
    def get_bytes(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_array(self, key: str, array: NDArray[Any]) -> None:
        self.put_bytes(key, encode_array(array))

    def get_array(self, key: str) -> NDArray[Any]:
        return decode_array(self.get_bytes(key), key)

    # --- manifest ------------------------------------------------------------------------------------------
    def manifest(self) -> ImportManifest:
        """The committed import; raises NotImported when there is none."""
        try:
            data = self.get_bytes(MANIFEST_KEY)
        except self.s3.exceptions.NoSuchKey as error:
            raise NotImported("no glyphs imported yet: run `drcaptcha import-emnist PATH`") from error
        manifest = ImportManifest.model_validate_json(data)
        if manifest.version != self._labels_version:
            self._labels.clear()
            self._labels_version = manifest.version
        return manifest

    def write_manifest(self, manifest: ImportManifest) -> None:
        self.put_bytes(MANIFEST_KEY, manifest.model_dump_json(indent=2).encode(), "application/json")

    def manifest_or_none(self) -> ImportManifest | None:
        try:
            return self.manifest()
        except NotImported:
            return None

    # --- shards --------------------------------------------------------------------------------------------
    def images(self, split: str, shard: int) -> NDArray[np.uint8]:
        """One shard's images, read from S3 once per process."""
        cache_key = (split, shard)
        if cache_key not in self._images:
            array = self.get_array(shard_key(split, shard))
            if array.dtype != np.uint8 or array.shape[1:] != IMAGE_SHAPE:
                raise DataError(f"shard {shard_key(split, shard)} has shape {array.shape} {array.dtype}")
            self._images[cache_key] = array
        return self._images[cache_key]

    def labels(self, split: str, shard: int) -> NDArray[np.int16]:
        """One shard's import-time labels (-1 where removed), cached per manifest version."""
        cache_key = (split, shard)
        if cache_key not in self._labels:
            self._labels[cache_key] = self.get_array(labels_key(split, shard)).astype(np.int16)
        return self._labels[cache_key]

    def image(self, ref: GlyphRef) -> NDArray[np.uint8]:
        image: NDArray[np.uint8] = self.images(ref.split, ref.shard)[ref.offset]
        return image

    def label(self, ref: GlyphRef) -> int:
        return int(self.labels(ref.split, ref.shard)[ref.offset])

    def load_split(self, split: str) -> tuple[NDArray[np.uint8], NDArray[np.int16]]:
        """Every image and label of a split, in shard order (for training and evaluation)."""
        info = self.manifest().splits[split]
        shards = range(len(info.shard_sizes))
        images: NDArray[np.uint8] = np.concatenate([self.images(split, shard) for shard in shards])
        labels: NDArray[np.int16] = np.concatenate([self.labels(split, shard) for shard in shards])
        return images, labels

    def forget(self) -> None:
        """Drop the warm cache (after a re-import)."""
        self._images.clear()
        self._labels.clear()
        self._labels_version = 0
