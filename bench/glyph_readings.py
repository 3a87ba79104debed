"""Benchmark: how the ensemble and the transfer bot read each glyph, measured (issue 15, items 4 and 5).

    .venv/bin/python -m bench.glyph_readings [--split .gpu/split.npz] [--networks networks]
        [--transfer .drcaptcha/transfer/transfer.keras] [--train-sample 20000]

bench_people once modelled the transfer bot's per-glyph difficulty as correlated 0.5 with the ensemble's (an
assumption). This reads real glyphs with both and measures it:
- **the ensemble**: the committed fully trained networks (`networks/`, int8 LiteRT, with the weights of
  networks/ensemble.json), as the service serves them;
- **the transfer bot**: bench/train_transfer.py's network (a depthwise-separable CNN, a family not in the
  ensemble, its own seed), trained with `--split` on the same public images;
- **two sets of glyphs**: a sample of the split's training part, the glyphs the service scores
  (the training split, `ImportManifest.scored_split` without a private split), which both networks trained on,
  as an attacker's network would have; and the
  split's test part, which neither saw.

It also reads the glyphs of the 288 real readings (../shared/data/readings: what readers typed for each glyph of 48
captchas, their glyph ids from the same import) with both networks, and compares the readers' errors on the
glyphs the ensemble misreads with those on the glyphs it reads: a measured sign of rho, the correlation between
people's and the networks' difficulty that bench_people otherwise assumes.

Every reading is judged under the lookalike groups (a reading in the glyph's group is right). It writes
bench/data/glyph-readings.npz (per glyph: class, the ensemble's probability of a right reading and its top
reading, the transfer bot's top reading; per real reading, whether the reader and each network were wrong), which
bench_people reads, and reports the agreement of the two
networks' errors. Results: bench/results/glyph_readings.json.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from bench.results import Cell, Table, record, this_command
from drcaptcha import lookalikes
from drcaptcha.charset import NUM_CLASSES
from drcaptcha.ensembles import LiteModel

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
NETWORKS_DIR: Final = REPO_ROOT / "networks"
READINGS_FILE: Final = Path(__file__).resolve().parent / "data" / "glyph-readings.npz"
TRANSFER_MODEL: Final = Path(".drcaptcha/transfer/transfer.keras")
SPLIT: Final = Path(".gpu/split.npz")
# Unsure: the ensemble gives a right reading less than this probability.
UNSURE_BELOW: Final = 0.9


def accepted_mask() -> NDArray[np.bool_]:
    """[class, reading]: whether the reading is accepted for a glyph of the class (its lookalike group)."""
    mask = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.bool_)
    for label in range(NUM_CLASSES):
        mask[label, sorted(lookalikes.readings_of(label))] = True
    return mask


def ensemble_members(folder: Path) -> dict[str, float]:
    """The committed ensemble's members and weights (networks/ensemble.json)."""
    members: dict[str, float] = json.loads((folder / "ensemble.json").read_text(encoding="utf-8"))["members"]
    return members


def ensemble_probabilities(folder: Path, images: NDArray[np.uint8]) -> NDArray[np.float64]:
    """The weighted mean of the committed networks' int8 LiteRT probabilities."""
    members = ensemble_members(folder)
    total = np.zeros((len(images), NUM_CLASSES), dtype=np.float64)
    for name, weight in members.items():
        model = LiteModel((folder / name / "files" / "model.int8.tflite").read_bytes(), batch=256)
        total += weight * model.predict(images)
    result: NDArray[np.float64] = total / sum(members.values())
    return result


def transfer_readings(path: Path, images: NDArray[np.uint8]) -> NDArray[np.int64]:
    """The transfer bot's top reading of each glyph (read as bench/train_transfer.py reads: batch statistics)."""
    import keras

    model = keras.models.load_model(path)
    top = [
        model(images[start : start + 1000, ..., None].astype("float32"), training=True).numpy().argmax(axis=1)
        for start in range(0, len(images), 1000)
    ]
    result: NDArray[np.int64] = np.concatenate(top).astype(np.int64)
    return result


def agreement_rows(name: str, parts: dict[str, NDArray[Any]]) -> list[Cell]:
    """One set of glyphs: each network's error rate, and how the transfer bot does on the ensemble's errors."""
    labels = parts["labels"]
    accepted = accepted_mask()
    ensemble_wrong = ~accepted[labels, parts["ensemble_top"]]
    unsure = parts["ensemble_right"] < UNSURE_BELOW
    transfer_wrong = ~accepted[labels, parts["transfer_top"]]
    correlation = float(np.corrcoef(ensemble_wrong, transfer_wrong)[0, 1])
    return [
        name,
        len(labels),
        pct(ensemble_wrong.mean()),
        pct(unsure.mean()),
        pct(transfer_wrong.mean()),
        pct(transfer_wrong[ensemble_wrong].mean()),
        pct(transfer_wrong[unsure & ~ensemble_wrong].mean()),
        pct(transfer_wrong[~unsure].mean()),
        round(correlation, 3),
    ]


def readers_arrays(
    readings_csv: Path, ensemble: NDArray[np.int64], transfer: NDArray[np.int64]
) -> dict[str, NDArray[np.bool_]]:
    """Per real reading: whether the reader was wrong under the groups, and whether each network misreads the
    glyph (bench_people compares these with its simulated people at each rho)."""
    accepted = accepted_mask()
    with readings_csv.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    labels = np.array([int(row["label"]) for row in rows])
    indices = np.array([glyph_index(row["glyph_id"]) for row in rows])
    typed = [row["typed"] for row in rows]
    return {
        "readers_wrong": np.array(
            [not lookalikes.accepts(int(label), text) for label, text in zip(labels, typed, strict=True)]
        ),
        "readers_ensemble_wrong": ~accepted[labels, ensemble[indices]],
        "readers_transfer_wrong": ~accepted[labels, transfer[indices]],
    }


def readers_rows(readers: dict[str, NDArray[np.bool_]]) -> list[list[Cell]]:
    """The real readers' error rate under the groups on the glyphs each network misreads, and on the rest."""
    readers_wrong = readers["readers_wrong"]
    table: list[list[Cell]] = []
    for name, key in (("the ensemble", "readers_ensemble_wrong"), ("the transfer bot", "readers_transfer_wrong")):
        misread = readers[key]
        for subset, mask in (("misreads", misread), ("reads", ~misread)):
            table.append(
                [name, subset, int(mask.sum()), f"{int(readers_wrong[mask].sum())}", pct_or_dash(readers_wrong[mask])]
            )
    return table


def glyph_index(glyph_id: str) -> int:
    """The glyph's row in the split's training part: the importer's shards hold SHARD_SIZE glyphs each."""
    from drcaptcha.glyphs import SHARD_SIZE

    split, shard, offset = glyph_id.split(":")
    if split != "train":
        raise ValueError(f"{glyph_id} is not a training glyph")
    return int(shard) * SHARD_SIZE + int(offset)


def pct_or_dash(values: NDArray[np.bool_]) -> str:
    return pct(values.mean()) if len(values) else "–"


def pct(value: float) -> str:
    return f"{100 * float(value):.1f}%"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, default=SPLIT)
    parser.add_argument("--networks", type=Path, default=NETWORKS_DIR)
    parser.add_argument("--transfer", type=Path, default=TRANSFER_MODEL)
    parser.add_argument("--train-sample", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--out", type=Path, default=READINGS_FILE)
    parser.add_argument("--readings", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "readings")
    args = parser.parse_args(argv)
    readings_csv = args.readings / "readings.csv"
    read_set: tuple[NDArray[np.uint8], NDArray[np.int64]] | None = None
    with np.load(args.split) as split:
        sample = np.random.default_rng(args.seed).permutation(len(split["y_train"]))[: args.train_sample]
        sets = {
            "train": (split["x_train"][np.sort(sample)], split["y_train"][np.sort(sample)]),
            "test": (split["x_test"], split["y_test"]),
        }
        if readings_csv.is_file():
            with readings_csv.open(newline="", encoding="utf-8") as file:
                read_ids = sorted({glyph_index(row["glyph_id"]) for row in csv.DictReader(file)})
            read_set = (split["x_train"][read_ids], np.array(read_ids))
    arrays: dict[str, NDArray[Any]] = {}
    rows: list[list[Cell]] = []
    accepted = accepted_mask()
    for part, (images, labels) in sets.items():
        labels = labels.astype(np.int64)
        probabilities = ensemble_probabilities(args.networks, images)
        readings = {
            "labels": labels.astype(np.uint8),
            "ensemble_right": (probabilities * accepted[labels]).sum(axis=1).astype(np.float16),
            "ensemble_top": probabilities.argmax(axis=1).astype(np.uint8),
            "transfer_top": transfer_readings(args.transfer, images).astype(np.uint8),
        }
        arrays.update({f"{part}_{key}": value for key, value in readings.items()})
        rows.append(agreement_rows(part, readings))
    reader_rows: list[list[Cell]] = []
    if read_set is not None:
        read_images_only, read_ids_array = read_set
        ensemble_top = np.zeros(int(read_ids_array.max()) + 1, dtype=np.int64)
        transfer_top = np.zeros_like(ensemble_top)
        ensemble_top[read_ids_array] = ensemble_probabilities(args.networks, read_images_only).argmax(axis=1)
        transfer_top[read_ids_array] = transfer_readings(args.transfer, read_images_only)
        readers = readers_arrays(readings_csv, ensemble_top, transfer_top)
        arrays.update(readers)
        reader_rows = readers_rows(readers)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)  # type: ignore[arg-type]
    members = ensemble_members(args.networks)
    transfer_info = json.loads((REPO_ROOT / "bench" / "data" / "transfer-confusion.json").read_text(encoding="utf-8"))
    shown = args.networks.relative_to(REPO_ROOT) if args.networks.is_relative_to(REPO_ROOT) else args.networks
    notes = [
        "the ensemble: "
        + " + ".join(f"{name} × {weight}" for name, weight in members.items())
        + f" (int8 LiteRT, {shown})",
        f"the transfer bot: {transfer_info['network']}, trained on {transfer_info['trained_on']}; "
        f"{pct(transfer_info['accuracy'])} on {transfer_info['held_out']} (exact class)",
        "every reading judged under the lookalike groups; unsure: the ensemble's probability of a right reading "
        f"under {UNSURE_BELOW}",
        f"train: {args.train_sample:,} glyphs sampled (seed {args.seed}) from the split's training part, which "
        "both networks trained on and the service scores; test: the split's test part, which neither saw",
        f"per-glyph readings written to {args.out.name} for bench_people",
    ]
    record(
        "glyph_readings",
        command=this_command("bench.glyph_readings", argv),
        title="The ensemble's and the transfer bot's readings of the same glyphs (issue 15)",
        tables=[
            Table(
                caption="Errors under the lookalike groups, and whether the transfer bot shares the ensemble's",
                columns=[
                    "glyphs",
                    "count",
                    "ensemble wrong",
                    "ensemble unsure",
                    "transfer bot wrong",
                    "transfer wrong where the ensemble is wrong",
                    "where it is unsure but right",
                    "where it is sure",
                    "correlation of the two errors",
                ],
                rows=rows,
            ),
            Table(
                caption="The 288 real readings (../shared/data/readings): the readers' errors under the groups on "
                "the glyphs each network misreads, and on those it reads",
                columns=["network", "glyphs it", "readings", "read wrong", "readers' error rate"],
                rows=reader_rows,
            ),
        ],
        notes=notes,
    )
    for row in rows + reader_rows:
        print(" | ".join(str(cell) for cell in row))
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
