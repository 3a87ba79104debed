"""`drcaptcha simulate`: a simulated crowd and bots against a fresh embedded stack (drcaptcha_ops/simulation/)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from drcaptcha.ensembles import LiteModel
from drcaptcha.selection import GLYPHS_PER_CHALLENGE
from drcaptcha_ops.commands.output import stdout_to_stderr
from drcaptcha_ops.demo import find_emnist
from drcaptcha_ops.simulation.report import report_table
from drcaptcha_ops.simulation.run import SimulationConfig
from drcaptcha_ops.simulation.stack import StackPlan, best_network, fresh_stack, simulate
from drcaptcha_train.option_types import non_negative_int, positive_int


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate", help="simulated humans, spammers, colluders and bots answer captchas; report the labels"
    )
    parser.add_argument("--humans", type=non_negative_int, default=50)
    parser.add_argument("--spammers", type=non_negative_int, default=0, help="blind spammers")
    parser.add_argument("--colluders", type=non_negative_int, default=0, help="informed colluders")
    parser.add_argument("--bots", type=non_negative_int, default=0, help="bots (they need a network: see below)")
    parser.add_argument("--challenges", type=positive_int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--through-gateway", action="store_true", help="over HTTP through the local gateway")
    parser.add_argument("--no-warp", action="store_true", help="render without the warp (to measure what it buys)")
    parser.add_argument(
        "--no-hard-selection", action="store_true", help="pick glyphs without preferring hard ones (see the report)"
    )
    parser.add_argument("--emnist", type=Path, help="EMNIST folder (default: ../shared/data/emnist)")
    parser.add_argument("--limit", type=positive_int, default=20_000, help="import this many EMNIST images")
    parser.add_argument("--remove", type=positive_int, help="labels to remove (default: the challenge count)")
    parser.add_argument(
        "--network", action="store_true", help="use a network (for humans' hard glyphs) even without bots"
    )
    parser.add_argument(
        "--network-dir",
        type=Path,
        action="append",
        default=[],
        help="a trained network in the demo's cache format (bench_ensemble --export); repeat for an ensemble",
    )
    parser.add_argument(
        "--bot-model",
        type=Path,
        help="a .tflite classifier the bots read with instead of the service's ensemble (a transfer bot)",
    )
    parser.add_argument(
        "--quick-network",
        action="store_true",
        help="train (or restore) the demo's quick network instead of using the committed fully trained ones",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(run=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    emnist = args.emnist or find_emnist()
    if emnist is None or not emnist.exists():
        print("drcaptcha: error: no EMNIST folder found: pass --emnist PATH", file=sys.stderr)
        return 2
    if args.bot_model is not None and not args.bot_model.is_file():
        print(f"drcaptcha: error: no bot model at {args.bot_model}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    config = SimulationConfig(
        humans=args.humans,
        spammers=args.spammers,
        colluders=args.colluders,
        bots=args.bots,
        challenges=args.challenges,
        seed=args.seed,
        warp=not args.no_warp,
        hard_selection=not args.no_hard_selection,
        through_gateway=args.through_gateway,
    )
    plan = StackPlan(emnist=emnist, limit=args.limit, remove=args.remove or args.challenges)
    # With --json, stdout is for the report alone: the work's own output (the quick network's Keras epoch lines,
    # the functions' logs) goes to stderr.
    with stdout_to_stderr(args.json), fresh_stack(plan, progress=not args.json) as removed:
        wants_network = args.bots or args.network or args.network_dir or args.quick_network
        network, name = (
            best_network(print, args.network_dir, quick=args.quick_network) if wants_network else (None, None)
        )
        bot_reader = LiteModel(args.bot_model.read_bytes(), batch=GLYPHS_PER_CHALLENGE) if args.bot_model else None
        report = simulate(config, removed, network, name, progress=not args.json, bot_reader=bot_reader)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report_table(report))
    return 0
