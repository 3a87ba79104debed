"""Benchmark: recognize latency in a warm process, and the cold start (imports + active ensemble load).

    .venv/bin/python -m bench.bench_recognize [--network-dir DIR ...|--networks vgg,cnn2,nn] [--runs 2000]

By default it serves the fully trained vgg, cnn2 and dnn that bench_ensemble exported to
.drcaptcha/trained/export (int8 where kept), and otherwise trains the `--networks` itself.

It starts its own emulator, seeds 2,000 + 400 real EMNIST glyphs, trains each network for one epoch on CPU
(latency does not depend on how well a network is trained, only on its architecture), creates and activates
an ensemble of them, and then measures, in this process:
- recognize: the whole library call (PNG decode, EMNIST preprocessing, one LiteRT run per member) on drawings of
  real test glyphs at 128x128 (what the canvas page sends) and 280x280 (its drawing pad), taking turns call by
  call, and the ensemble's inference alone;
- cold start, in a fresh interpreter: importing the recognize handler, and loading the active ensemble from the
  emulator (pointer, manifest, every model with its digest checked).
Results go in docs/BENCHMARKS.md, section "Recognize".
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from bench.bench_ensemble import TRAINED_EXPORT
from bench.results import Cell, Table, record, this_command
from drcaptcha import ensemble_admin, recognition, serving
from drcaptcha.ensembles import read_manifest
from drcaptcha.glyphs import GlyphStore
from drcaptcha.models.api.admin import MemberRequest
from drcaptcha_ops.demo import restore_cached_network
from drcaptcha_ops.emulator import running_emulator

REPO_ROOT = Path(__file__).resolve().parents[1]

COLD_START = textwrap.dedent(
    """
    import time
    started = time.perf_counter()
    from functions.recognize import app
    from drcaptcha.serving import active_ensemble
    imported = time.perf_counter()
    active_ensemble()
    loaded = time.perf_counter()
    print(imported - started, loaded - imported)
    """
)


def drawn(glyph: NDArray[np.uint8], side: int = 128) -> str:
    """A test glyph as the web canvas sends a drawing: black ink on opaque white, PNG, 128x128 (the 280x280 pad
    scaled down in the browser, web/canvas.js)."""
    image = Image.fromarray(255 - glyph).resize((side, side), Image.Resampling.BILINEAR).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def p50_p99(samples: list[float]) -> tuple[float, float]:
    milliseconds = sorted(sample * 1000 for sample in samples)
    return statistics.median(milliseconds), milliseconds[int(len(milliseconds) * 0.99) - 1]


def percentiles(samples: list[float]) -> str:
    p50, p99 = p50_p99(samples)
    return f"p50 {p50:.3f} ms, p99 {p99:.3f} ms, mean {1000 * statistics.fmean(samples):.3f} ms"


DEFAULT_TRAINED = ("vgg", "cnn2", "dnn")


def trained_networks() -> list[Path]:
    """The fully trained networks bench_ensemble exported, when all of the default three are there."""
    folders = [TRAINED_EXPORT / name for name in DEFAULT_TRAINED]
    return folders if all((folder / "item.json").is_file() for folder in folders) else []


def activate_bench_ensemble(store: GlyphStore, names: list[str], network_dirs: list[Path]) -> list[str]:
    """Register the trained networks (or train the named ones for an epoch), make one equal-weight ensemble of
    them and activate it; returns what each member serves, "int8" or "float"."""
    network_ids = [restore_cached_network(store, folder) for folder in network_dirs]
    if not network_dirs:
        from drcaptcha_train.job import TrainingOptions, run_training  # TensorFlow: only when the bench trains

        for name in names:
            run_training(TrainingOptions(name, epochs=1, network_id=f"bench-{name}", verbose=0), store)
        network_ids = [f"bench-{name}" for name in names]
    members = [MemberRequest(network_id=str(network_id), weight=1) for network_id in network_ids]
    detail = ensemble_admin.create_ensemble("bench", members)
    ensemble_admin.activate_ensemble(detail.ensemble_id)
    return [
        "int8" if "int8" in member.model_key else "float" for member in read_manifest(store, detail.ensemble_id).members
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--networks", help="comma-separated architectures to train and serve (default vgg,cnn2,nn)")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--sides", default="128,280", help="drawing sizes: the canvas sends 128; 280 is the pad")
    parser.add_argument(
        "--network-dir",
        type=Path,
        action="append",
        default=[],
        help="fully trained networks (bench_ensemble --export), served as the ensemble instead of --networks",
    )
    args = parser.parse_args(argv)
    if not args.network_dir and args.networks is None:
        args.network_dir = trained_networks()
    names = [folder.name for folder in args.network_dir] or (args.networks or "vgg,cnn2,nn").split(",")
    with running_emulator():
        from tests.fixtures.glyph_data import seed_glyph_store

        seeded = seed_glyph_store(train=2000, test=400)
        served = activate_bench_ensemble(seeded.store, names, args.network_dir)

        cold = []
        for _ in range(5):
            result = subprocess.run(
                [sys.executable, "-c", COLD_START],
                cwd=REPO_ROOT,
                env={**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'layers/drcaptcha/python'}:{REPO_ROOT}"},
                capture_output=True,
                text=True,
                check=True,
            )
            cold.append(tuple(float(value) for value in result.stdout.split()[-2:]))

        ensemble = serving.active_ensemble()
        images, _ = GlyphStore().load_split("test")
        sides = [int(side) for side in args.sides.split(",")]
        drawings = {side: [drawn(image, side) for image in images[:200]] for side in sides}
        glyphs = [recognition.to_emnist(recognition.decode_png(d))[np.newaxis] for d in drawings[sides[0]]]
        for side in sides:
            for drawing in drawings[side][:50]:
                recognition.recognize(drawing, ensemble)
        whole: dict[int, list[float]] = {side: [] for side in sides}
        inference: list[float] = []
        # The sizes take turns call by call, so that the machine's load weighs on each alike.
        for run in range(args.runs):
            for side in sides:
                drawing = drawings[side][run % len(drawings[side])]
                started = time.perf_counter()
                recognition.recognize(drawing, ensemble)
                whole[side].append(time.perf_counter() - started)
            started = time.perf_counter()
            ensemble.predict(glyphs[run % len(glyphs)])
            inference.append(time.perf_counter() - started)

    print(f"{platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"ensemble of {len(names)}: {', '.join(names)}; {args.runs} runs")
    for side in sides:
        print(f"recognize {side}x{side} (decode + preprocess + inference): {percentiles(whole[side])}")
    print(f"inference alone: {percentiles(inference)}")
    imports = [value[0] for value in cold]
    loads = [value[1] for value in cold]
    cold_total = statistics.median(i + j for i, j in cold)
    print(
        f"cold start over 5 fresh interpreters: import {statistics.median(imports):.3f} s, "
        f"ensemble load {statistics.median(loads):.3f} s, total {cold_total:.3f} s"
    )
    inference_p50, inference_p99 = p50_p99(inference)
    rows: list[list[Cell]] = []
    for side in sides:
        whole_p50, whole_p99 = p50_p99(whole[side])
        rows.append(
            [
                " + ".join(f"{name} ({model})" for name, model in zip(names, served, strict=True)),
                f"{side}x{side}",
                round(whole_p50, 2),
                round(whole_p99, 2),
                round(inference_p50, 2),
                round(inference_p99, 2),
                round(statistics.median(imports), 2),
                round(statistics.median(loads), 2),
                round(cold_total, 2),
            ]
        )
    record(
        "recognize",
        command=this_command("bench.bench_recognize", argv),
        title="Recognize latency in a warm process, and the cold start",
        tables=[
            Table(
                caption=f"{args.runs:,} calls a drawing size, drawings of real test glyphs; cold start: median of 5",
                columns=[
                    "ensemble",
                    "drawing",
                    "recognize p50 ms",
                    "recognize p99 ms",
                    "inference p50 ms",
                    "inference p99 ms",
                    "cold: import s",
                    "cold: load s",
                    "cold total s",
                ],
                rows=rows,
            )
        ],
        notes=[
            "goals (issue 6): recognize ≤ 2 ms for a 3-network ensemble, cold start ≤ 1 s",
            "the canvas page sends 128x128 (web/canvas.js scales its 280x280 pad down); 280x280 is for comparison",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
