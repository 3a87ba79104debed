"""Reading the labelled glyphs: EMNIST labels from the shards' label files plus the crowd's labels.

The trainer reads only `glyphs/` (shards, label files, manifest) and the Glyphs table. It never reads
`truth/`: a label removed by `drcaptcha remove-labels` comes back only once the crowd has agreed on it.

A glyph belongs to the validation split when a hash of its id falls in 1/20 of the range. The rule depends only
on the glyph, so every network trained on this store held out the same glyphs, and `--ensemble auto` can fit
weights on predictions that no member has trained on, however much data was added in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from botocore.exceptions import ClientError, EndpointConnectionError
from numpy.typing import NDArray

from drcaptcha.glyphs import REMOVED, GlyphRef, GlyphStore
from drcaptcha.models.tables.glyphs import CROWD, GlyphItem
from drcaptcha_train.errors import NoLabelledData, StoreUnreachable

VALIDATION_SHARE = 20  # one glyph in 20 is held out for fitting ensemble weights
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class LabelledImages:
    images: NDArray[np.uint8]
    labels: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: NDArray[np.intp]) -> LabelledImages:
        return LabelledImages(self.images[indices], self.labels[indices])


@dataclass(frozen=True)
class TrainingData:
    train: LabelledImages
    validation: LabelledImages
    test: LabelledImages
    emnist_labelled: int
    crowd_labelled: int
    unlabelled: int
    import_id: str


@contextmanager
def reaching_store(bucket: str) -> Iterator[None]:
    """Turn 'no endpoint' and 'no bucket' into a StoreUnreachable error that names the store."""
    try:
        yield
    except EndpointConnectionError as error:
        raise StoreUnreachable(f"cannot reach the data store ({error}); is AWS_ENDPOINT_URL right?") from error
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"NoSuchBucket", "AccessDenied", "ResourceNotFoundException"}:
            raise StoreUnreachable(f"cannot read the data store (bucket {bucket!r}): {error}") from error
        raise


def validation_mask(shards: NDArray[np.int64], offsets: NDArray[np.int64]) -> NDArray[np.bool_]:
    """True for the glyphs held out for validation: a multiplicative hash of (shard, offset)."""
    identity = (shards.astype(np.uint64) << np.uint64(16)) | offsets.astype(np.uint64)
    with np.errstate(over="ignore"):
        mixed = (identity + np.uint64(1)) * _HASH_MULTIPLIER
    held_out: NDArray[np.bool_] = (mixed >> np.uint64(40)) % np.uint64(VALIDATION_SHARE) == 0
    return held_out


def crowd_labels() -> dict[GlyphRef, int]:
    """Every label the crowd has agreed on, by glyph."""
    labels: dict[GlyphRef, int] = {}
    for item in GlyphItem.by_state.query(CROWD):
        if item.label is not None:
            labels[GlyphRef.parse(item.glyph_id)] = int(item.label)
    return labels


def shard_positions(shard_sizes: list[int]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    shards = np.repeat(np.arange(len(shard_sizes), dtype=np.int64), shard_sizes)
    starts = np.repeat(np.cumsum([0, *shard_sizes[:-1]]), shard_sizes)
    return shards, np.arange(len(shards), dtype=np.int64) - starts


def load_training_data(store: GlyphStore, limit: int | None = None, seed: int = 0) -> TrainingData:
    """All labelled training glyphs (split into train and validation) and the labelled test glyphs."""
    with reaching_store(store.bucket):
        manifest = store.manifest()
        images, stored_labels = store.load_split("train")
        test_images, test_labels = store.load_split("test")
        crowd = crowd_labels()
    labels = stored_labels.astype(np.int64)
    emnist_labelled = int((labels != REMOVED).sum())
    offsets_of = np.cumsum([0, *manifest.splits["train"].shard_sizes])
    applied = 0
    for ref, label in crowd.items():
        if ref.split == "train" and ref.shard < len(offsets_of) - 1:
            labels[offsets_of[ref.shard] + ref.offset] = label
            applied += 1
    labelled = np.flatnonzero(labels != REMOVED)
    if len(labelled) == 0:
        raise NoLabelledData("no training glyph has a label: import EMNIST, or wait for the crowd to label some")
    shards, offsets = shard_positions(manifest.splits["train"].shard_sizes)
    held_out = validation_mask(shards, offsets)
    rng = np.random.default_rng(seed)
    train_indices = labelled[~held_out[labelled]]
    validation_indices = labelled[held_out[labelled]]
    test_indices = np.flatnonzero(test_labels != REMOVED)
    if limit:
        train_indices = np.sort(rng.permutation(train_indices)[:limit])
        validation_indices = validation_indices[: max(1, limit // VALIDATION_SHARE)]
        test_indices = np.sort(rng.permutation(test_indices)[:limit])
    if len(test_indices) == 0:
        raise NoLabelledData("the test split holds no labelled glyph to evaluate on")
    everything = LabelledImages(images, labels)
    return TrainingData(
        train=everything.take(train_indices),
        validation=everything.take(validation_indices),
        test=LabelledImages(test_images, test_labels.astype(np.int64)).take(test_indices),
        emnist_labelled=emnist_labelled,
        crowd_labelled=applied,
        unlabelled=int(len(labels) - len(labelled)),
        import_id=manifest.import_id,
    )
