"""`drcaptcha import-emnist`, `remove-labels` and `stats`: the glyph data set."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from drcaptcha.charset import CLASSES
from drcaptcha.selection import scored_glyphs_of
from drcaptcha_ops.commands.output import stdout_to_stderr
from drcaptcha_ops.importer import add_private_glyphs, import_emnist, remove_labels, stats
from drcaptcha_train.option_types import positive_int

CLASS_COLUMNS = 4


def register(subparsers: Any) -> None:
    importer = subparsers.add_parser(
        "import-emnist",
        help="import EMNIST (gzip IDX files, emnist-balanced.mat, or a folder of them), or a folder of your own "
        "labelled images, as glyph shards",
    )
    importer.add_argument(
        "path",
        type=Path,
        help="a folder of EMNIST IDX files, an emnist-balanced.mat file, or a folder of images with a labels.csv "
        "(columns file,label: one character of 0-9, A-Z, a-z an image)",
    )
    importer.add_argument("--limit", type=positive_int, help="import a subset of this many images (for tests)")
    importer.add_argument("--seed", type=int, default=0, help="seed of the test draw and the shuffle (default 0)")
    importer.add_argument("--replace", action="store_true", help="replace a different import that is stored")
    importer.add_argument(
        "--private",
        action="store_true",
        help="the source's labels were never published (your own handwriting, not EMNIST): an attacker cannot "
        "train on them, and challenges score 4 glyphs instead of 3",
    )
    importer.set_defaults(run=run_import)

    private = subparsers.add_parser(
        "add-private-glyphs",
        help="add your own labelled images to the stored import: challenges then score only them (4 a challenge)",
    )
    private.add_argument("folder", type=Path, help="a folder of images with a labels.csv (columns file,label)")
    private.set_defaults(run=run_add_private_glyphs)

    remover = subparsers.add_parser("remove-labels", help="make N labelled training glyphs unlabelled")
    remover.add_argument("count", metavar="N", type=positive_int)
    remover.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    remover.set_defaults(run=run_remove_labels)

    counter = subparsers.add_parser("stats", help="count the stored glyphs")
    counter.add_argument("--json", action="store_true", help="print one JSON object")
    counter.set_defaults(run=run_stats)


def run_add_private_glyphs(args: argparse.Namespace) -> int:
    manifest = add_private_glyphs(args.folder)
    private = manifest.splits[manifest.scored_split]
    print(
        f"added {private.count} private glyphs from {args.folder} to import {manifest.import_id} "
        f"(version {manifest.version}): challenges now score {scored_glyphs_of(manifest)} of them"
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    report = import_emnist(
        args.path, seed=args.seed, limit=args.limit, replace=args.replace, labels_public=not args.private
    )
    manifest = report.manifest
    split = report.split
    publicity = "public" if manifest.labels_public else "private"
    if report.already_imported or split is None:
        print(
            f"import {manifest.import_id} is already stored (same files, seed and limit), labels {publicity}: "
            "nothing to do"
        )
        return 0
    if report.replaced_import_id:
        print(f"replaced import {report.replaced_import_id}")
    print(
        f"imported {split.kind} from {split.source.path} (import {manifest.import_id}, seed {split.seed}, "
        f"labels {publicity})"
    )
    if split.duplicates_dropped:
        print(f"dropped {split.duplicates_dropped:,} pixel-identical duplicates")
    for name, info in manifest.splits.items():
        print(f"  {name:<5} {info.count:>8,} glyphs in {len(info.shard_sizes)} shards")
    print(per_class_table(manifest.splits["train"].per_class, manifest.splits["test"].per_class))
    print(f"took {report.seconds:.1f} s")
    return 0


def per_class_table(train: list[int], test: list[int]) -> str:
    cells = [f"{CLASSES[label]} {train[label]:>6,} /{test[label]:>4}" for label in range(len(CLASSES))]
    rows = ["per class (train / test):"]
    rows += ["  " + "   ".join(cells[start : start + CLASS_COLUMNS]) for start in range(0, len(cells), CLASS_COLUMNS)]
    return "\n".join(rows)


def run_remove_labels(args: argparse.Namespace) -> int:
    report = remove_labels(args.count, seed=args.seed)
    print(
        f"removed the labels of {report.removed:,} training glyphs ({report.manifest.removed:,} unlabelled in all); "
        "their true labels are under truth/train/"
    )
    return 0


def run_stats(args: argparse.Namespace) -> int:
    with stdout_to_stderr(args.json):
        counts = stats()
    if args.json:
        print(json.dumps(counts))
        return 0
    width = max(len(name) for name in counts)
    for name, value in counts.items():
        print(f"{name:<{width}}  {value:>9,}")
    return 0
