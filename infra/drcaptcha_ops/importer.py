"""Writing an EMNIST split into the glyph store, removing labels, and counting what is there.

The import writes shards first and the manifest last: the manifest is the commit marker, so a reader sees the
whole import or none of it. Objects under glyphs/ or truth/ without a manifest are leftovers of a failed import,
and the next import deletes them before it writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from drcaptcha.errors import BadRequest, Conflict, DataError, ServiceUnavailable
from drcaptcha.glyphs import (
    MANIFEST_KEY,
    PRIVATE_SPLIT,
    REMOVED,
    SHARD_SIZE,
    GlyphRef,
    GlyphStore,
    ImportManifest,
    SplitInfo,
    labels_key,
    shard_key,
    truth_key,
)
from drcaptcha.models.tables.glyphs import UNLABELLED, GlyphItem
from drcaptcha_ops.emnist import (
    LABELLED_IMAGES,
    LABELS_CSV,
    EmnistSplit,
    LabelledImages,
    identify_source,
    read_labelled_images,
    read_split,
)

# S3 puts are I/O bound; boto3 clients are thread-safe and pool 10 connections by default.
S3_WORKERS: Final = 8
GLYPH_PREFIXES: Final = ("glyphs/", "truth/")
TRAIN: Final = "train"

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ImportReport:
    manifest: ImportManifest
    split: EmnistSplit | None  # None when the import was stored already and nothing was read
    already_imported: bool
    replaced_import_id: str | None
    seconds: float


@dataclass(frozen=True)
class RemoveReport:
    removed: int
    manifest: ImportManifest


def parallel_map(function: Callable[[T], R], items: Sequence[T], label: str, progress: bool) -> list[R]:
    """`function` over `items` on a thread pool, in order, with a progress bar on stderr."""
    with (
        ThreadPoolExecutor(max_workers=S3_WORKERS) as pool,
        tqdm(total=len(items), desc=label, unit="obj", disable=not progress, leave=False) as bar,
    ):
        futures = [pool.submit(function, item) for item in items]
        results = []
        try:
            for future in futures:
                results.append(future.result())
                bar.update()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results


def configured_store() -> GlyphStore:
    """The store of the configured bucket; without one, no emulator or stack was named."""
    store = GlyphStore()
    if not store.bucket:
        raise ServiceUnavailable(
            "no data bucket is configured (BUCKET_NAME is empty): start `drcaptcha emulator` in this folder, "
            "or set AWS_ENDPOINT_URL and the resource names of a bootstrapped stack"
        )
    return store


# --- import --------------------------------------------------------------------------------------------------
def import_emnist(
    source: Path,
    seed: int = 0,
    limit: int | None = None,
    replace: bool = False,
    store: GlyphStore | None = None,
    progress: bool = True,
    labels_public: bool = True,
) -> ImportReport:
    """Import the EMNIST source at `source`: validate all of it, write its shards, then the manifest.

    The same import again (same files, seed and limit) is recognised from the files' digests, before anything
    is parsed, and changes nothing but, when it differs, whether its labels are public (`labels_public`: False
    for a source that was never published; challenges then score more glyphs). A different one over an existing
    import is refused unless `replace`, which first removes the old glyphs, their truth and their glyph items.
    """
    started = time.perf_counter()
    located = identify_source(source)
    store = store or configured_store()
    import_id = located.import_id(seed, limit)
    existing = stored_import(store, import_id, replace)
    if existing is not None and existing.import_id == import_id:
        if existing.labels_public != labels_public:
            existing = existing.model_copy(update={"labels_public": labels_public})
            store.write_manifest(existing)
        return ImportReport(existing, None, True, None, time.perf_counter() - started)
    split = read_split(located, seed=seed, limit=limit)
    return write_import(store, split, existing, progress, started, labels_public)


def import_split(
    split: EmnistSplit, replace: bool = False, store: GlyphStore | None = None, progress: bool = True
) -> ImportReport:
    """Import a split that was read already (`import_emnist` does the same from a path)."""
    started = time.perf_counter()
    store = store or configured_store()
    existing = stored_import(store, split.import_id, replace)
    if existing is not None and existing.import_id == split.import_id:
        return ImportReport(existing, split, True, None, time.perf_counter() - started)
    return write_import(store, split, existing, progress, started)


def stored_import(store: GlyphStore, import_id: str, replace: bool) -> ImportManifest | None:
    """The stored import's manifest, if any; raises Conflict if it is another import and not `replace`."""
    existing = store.manifest_or_none()
    if existing is not None and existing.import_id != import_id and not replace:
        raise Conflict(
            f"glyphs of another import ({existing.import_id}, from {existing.source}, seed {existing.seed}) are "
            "already stored; pass --replace to delete them and import this source"
        )
    return existing


def write_import(
    store: GlyphStore,
    split: EmnistSplit,
    previous: ImportManifest | None,
    progress: bool,
    started: float,
    labels_public: bool = True,
) -> ImportReport:
    clear_glyphs(store, progress)
    manifest = write_split(store, split, progress, labels_public)
    replaced = previous.import_id if previous else None
    return ImportReport(manifest, split, False, replaced, time.perf_counter() - started)


def put_shards(store: GlyphStore, parts: dict[str, LabelledImages], written: list[str], progress: bool) -> None:
    """Every shard and labels file of `parts` (split name: glyphs), in parallel; each key is added to `written`."""
    jobs = [(name, shard, data) for name, data in parts.items() for shard in range(shard_count(len(data)))]

    def put_shard(job: tuple[str, int, LabelledImages]) -> None:
        name, shard, data = job
        window = slice(shard * SHARD_SIZE, (shard + 1) * SHARD_SIZE)
        store.put_array(shard_key(name, shard), data.images[window])
        written.append(shard_key(name, shard))
        store.put_array(labels_key(name, shard), data.labels[window].astype(np.int16))
        written.append(labels_key(name, shard))

    store.s3  # noqa: B018 - create the client once, before the threads share it
    parallel_map(put_shard, jobs, "writing shards", progress)


def write_split(store: GlyphStore, split: EmnistSplit, progress: bool, labels_public: bool = True) -> ImportManifest:
    """Every shard and labels file, then the manifest; on any failure, delete what was written."""
    parts = {TRAIN: split.train, "test": split.test}
    written: list[str] = []
    try:
        put_shards(store, parts, written, progress)
        manifest = ImportManifest(
            import_id=split.import_id,
            source=f"{split.kind}: {split.source.path}",
            seed=split.seed,
            created_at=time.time(),
            splits={name: split_info(data) for name, data in parts.items()},
            labels_public=labels_public,
        )
        store.write_manifest(manifest)
    except BaseException:
        delete_keys(store, written)
        raise
    store.forget()
    return manifest


def add_private_glyphs(folder: Path, store: GlyphStore | None = None, progress: bool = True) -> ImportManifest:
    """Your own labelled images (a folder with labels.csv) as the stored import's private split, replacing any
    earlier one: from then on the known glyphs that challenges score and show as gold come from it alone, and
    challenges score 4 (its labels were never published). Nothing is trained on it, so the ensemble's misreads of
    it are those of glyphs it never saw. Shards first, then the manifest (its version raised, so warm selectors
    re-read the pool), then the earlier split's surplus shards go."""
    store = store or configured_store()
    manifest = store.manifest()
    located = identify_source(folder)
    if located.kind != LABELLED_IMAGES:
        raise DataError(f"{folder} is not a folder of your own images: it needs a {LABELS_CSV} (columns file,label)")
    data = read_labelled_images(located.paths[0])
    earlier = set(list_keys(store, f"glyphs/{PRIVATE_SPLIT}/"))
    written: list[str] = []
    try:
        put_shards(store, {PRIVATE_SPLIT: data}, written, progress)
        updated = manifest.model_copy(
            update={
                "splits": {**manifest.splits, PRIVATE_SPLIT: split_info(data)},
                "version": manifest.version + 1,
            }
        )
        store.write_manifest(updated)
    except BaseException:
        delete_keys(store, sorted(set(written) - earlier))
        raise
    delete_keys(store, sorted(earlier - set(written)))
    store.forget()
    return updated


def shard_count(images: int) -> int:
    return -(-images // SHARD_SIZE)


def split_info(data: LabelledImages) -> SplitInfo:
    sizes = [min(SHARD_SIZE, len(data) - start) for start in range(0, len(data), SHARD_SIZE)]
    return SplitInfo(count=len(data), shard_sizes=sizes, per_class=data.per_class())


def clear_glyphs(store: GlyphStore, progress: bool) -> None:
    """Remove an import (manifest first, so no reader sees it half gone) and every glyph item that points into it."""
    store.s3.delete_object(Bucket=store.bucket, Key=MANIFEST_KEY)
    keys = [key for prefix in GLYPH_PREFIXES for key in list_keys(store, prefix)]
    delete_keys(store, keys)
    with GlyphItem.batch_write() as batch:
        for item in tqdm(GlyphItem.scan(), desc="deleting glyph items", disable=not progress, leave=False):
            batch.delete(item)
    store.forget()


def list_keys(store: GlyphStore, prefix: str) -> list[str]:
    paginator = store.s3.get_paginator("list_objects_v2")
    pages: Iterable[dict[str, Any]] = paginator.paginate(Bucket=store.bucket, Prefix=prefix)
    return [entry["Key"] for page in pages for entry in page.get("Contents", [])]


def delete_keys(store: GlyphStore, keys: Sequence[str]) -> None:
    for start in range(0, len(keys), 1000):  # delete_objects takes at most 1,000 keys
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        store.s3.delete_objects(Bucket=store.bucket, Delete={"Objects": batch, "Quiet": True})


# --- labels --------------------------------------------------------------------------------------------------
def fetch_labels(store: GlyphStore, split: str, shards: int, progress: bool) -> list[NDArray[np.int16]]:
    """Every labels file of a split, read fresh (not from the warm cache), in shard order."""

    def fetch(shard: int) -> NDArray[np.int16]:
        return store.get_array(labels_key(split, shard)).astype(np.int16)

    return parallel_map(fetch, list(range(shards)), f"reading {split} labels", progress)


def fetch_truth(store: GlyphStore, split: str, shard: int, size: int) -> NDArray[np.int16]:
    """A shard's removed true labels (REMOVED where a label was never removed)."""
    try:
        return store.get_array(truth_key(split, shard)).astype(np.int16)
    except store.s3.exceptions.NoSuchKey:
        return np.full(size, REMOVED, dtype=np.int16)


def remove_labels(count: int, seed: int = 0, store: GlyphStore | None = None, progress: bool = True) -> RemoveReport:
    """Make `count` labelled training glyphs unlabelled; their true labels move under truth/.

    Order of writes: truth first (a label is never lost), then the glyph items, then the label files, then the
    manifest, whose new version tells warm readers to drop their cached labels.
    """
    if count < 1:
        raise BadRequest("the number of labels to remove must be at least 1")
    store = store or configured_store()
    manifest = store.manifest()
    info = manifest.splits[TRAIN]
    labels = fetch_labels(store, TRAIN, len(info.shard_sizes), progress)
    shard_of = np.concatenate([np.full(len(shard_labels), shard) for shard, shard_labels in enumerate(labels)])
    offset_of = np.concatenate([np.arange(len(shard_labels)) for shard_labels in labels])
    labelled = np.flatnonzero(np.concatenate(labels) != REMOVED)
    if count > len(labelled):
        raise BadRequest(f"cannot remove {count} labels: only {len(labelled)} training glyphs still have one")
    chosen = np.sort(np.random.default_rng(seed).choice(labelled, count, replace=False))
    by_shard: dict[int, NDArray[np.intp]] = {}
    for shard in np.unique(shard_of[chosen]):
        by_shard[int(shard)] = offset_of[chosen[shard_of[chosen] == shard]]

    def move_to_truth(shard: int) -> None:
        offsets = by_shard[shard]
        truth = fetch_truth(store, TRAIN, shard, len(labels[shard]))
        truth[offsets] = labels[shard][offsets]
        store.put_array(truth_key(TRAIN, shard), truth)

    def blank_labels(shard: int) -> None:
        labels[shard][by_shard[shard]] = REMOVED
        store.put_array(labels_key(TRAIN, shard), labels[shard])

    shards = sorted(by_shard)
    parallel_map(move_to_truth, shards, "moving labels to truth/", progress)
    with GlyphItem.batch_write() as batch:
        for shard in tqdm(shards, desc="creating glyph items", disable=not progress, leave=False):
            for offset in by_shard[shard]:
                batch.save(GlyphItem(glyph_id=GlyphRef(TRAIN, shard, int(offset)).key, state=UNLABELLED))
    parallel_map(blank_labels, shards, "blanking labels", progress)
    manifest = manifest.model_copy(update={"version": manifest.version + 1, "removed": manifest.removed + count})
    store.write_manifest(manifest)
    store.forget()
    return RemoveReport(count, manifest)


# --- stats ---------------------------------------------------------------------------------------------------
def stats(store: GlyphStore | None = None, progress: bool = False) -> dict[str, int]:
    """The counts `drcaptcha stats` prints; labelled and unlabelled count the training split's label files."""
    store = store or configured_store()
    manifest = store.manifest()
    train = np.concatenate(fetch_labels(store, TRAIN, len(manifest.splits[TRAIN].shard_sizes), progress))
    test_per_class = manifest.splits["test"].per_class
    return {
        "train": manifest.splits[TRAIN].count,
        "test": manifest.splits["test"].count,
        "labelled": int(np.count_nonzero(train != REMOVED)),
        "unlabelled": int(np.count_nonzero(train == REMOVED)),
        "classes": len(test_per_class),
        "test_per_class_min": min(test_per_class),
        "test_per_class_max": max(test_per_class),
    }
