"""Benchmark: how often each kind of position shows a glyph again, to one client (issue 19, item 2).

    .venv/bin/python -m bench.bench_repeats [--challenges 150] [--unlabelled 2000] [PATH]

A client that remembers the glyphs it has seen learns which positions do not count if one kind of glyph recurs
and the other does not: the issue measured 456 unscored slots over 152 challenges with only 50 distinct glyphs
(up to 12 shows each) against 423 distinct among the 456 scored ones. This bench starts its own emulator, imports
EMNIST, removes `--unlabelled` labels, and issues `--challenges` challenges to one client, with each candidate-set
width for unlabelled glyphs (the `UNLABELLED_CANDIDATES` setting), drawn by weight or in rounds (least shown first,
`selection.UNLABELLED_IN_ROUNDS`), and with or without avoiding the glyphs the client has seen
(`selection.AVOID_SEEN_UNLABELLED`), in one run. For each kind (scored, gold,
unlabelled) it counts slots, distinct glyphs and the most shows of one glyph. Then it plays the remembering
client: a position whose glyph it has seen before is guessed unscored; precision (how many of those guesses are
unscored) and recall (how many unscored positions it finds) say how far memory takes it. Nothing is answered, so
no unlabelled glyph gets labelled meanwhile: the worst case for repeats.

Results go in bench/results/repeats.json and, through `python -m bench.report`, docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Final

from bench.results import Table, record, this_command
from drcaptcha import selection, sites
from drcaptcha.challenges import CaptchaRuntime, issue_challenge
from drcaptcha.config import reset_settings
from drcaptcha.glyphs import REMOVED
from drcaptcha.models.tables.challenges import ChallengeItem
from drcaptcha_ops.emulator import running_emulator
from drcaptcha_ops.importer import import_emnist, remove_labels

DEFAULT_SOURCE: Final = Path(__file__).resolve().parents[2] / "shared" / "data" / "emnist"
# (unlabelled candidates, drawn in rounds, a client's seen glyphs avoided): before issue 19, a wider set, rounds
# over it, and the service's setting.
CONFIGURATIONS: Final = (
    (50, False, False),
    (50, False, True),
    (500, False, False),
    (500, True, False),
    (500, False, True),
)
KINDS: Final = ("scored", "gold", "unlabelled")


def kinds_of(item: ChallengeItem) -> list[str]:
    gold = list(item.gold or [])
    return [
        "scored" if expected != REMOVED else "gold" if gold and gold[position] != REMOVED else "unlabelled"
        for position, expected in enumerate(item.expected)
    ]


def one_configuration(site_key: str, width: int, in_rounds: bool, avoid: bool, challenges: int) -> dict[str, Any]:
    """Issue `challenges` challenges to one client with `width` unlabelled candidates, drawn `in_rounds` or not,
    avoiding the glyphs it has seen or not; what it saw, by kind."""
    os.environ["UNLABELLED_CANDIDATES"] = str(width)
    reset_settings()
    setattr(selection, "UNLABELLED_IN_ROUNDS", in_rounds)  # noqa: B010 - Final constants, set for this run only
    setattr(selection, "AVOID_SEEN_UNLABELLED", avoid)  # noqa: B010
    runtime = CaptchaRuntime.create()
    shows: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    seen: set[str] = set()
    guessed = guessed_right = unscored = 0
    for _ in range(challenges):
        challenge_id = issue_challenge(runtime, site_key, "203.0.113.50").challenge_id
        item = ChallengeItem.get(challenge_id, consistent_read=True)
        for glyph_id, kind in zip(item.glyph_ids, kinds_of(item), strict=True):
            shows[kind][glyph_id] += 1
            unscored += kind != "scored"
            if glyph_id in seen:
                guessed += 1
                guessed_right += kind != "scored"
            seen.add(glyph_id)
    return {
        "shows": shows,
        "precision": guessed_right / guessed if guessed else None,
        "recall": guessed_right / unscored if unscored else 0.0,
        "guessed": guessed,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--challenges", type=int, default=150)
    parser.add_argument("--unlabelled", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=20_000, help="EMNIST glyphs to import")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, Any]] = {}
    with running_emulator():
        os.environ["TOKEN_SIGNING_KEY"] = "bench-" + uuid.uuid4().hex
        os.environ["RATE_LIMIT_CHALLENGES"] = str(10 * args.challenges)  # one client asks for them all
        reset_settings()
        import_emnist(args.source, limit=args.limit, progress=False)
        remove_labels(args.unlabelled, progress=False)
        site = sites.create_site("repeats.example", pow_difficulty=0)
        for width, in_rounds, avoid in CONFIGURATIONS:
            name = f"{width}, {'in rounds' if in_rounds else 'by weight'}{', seen avoided' if avoid else ''}"
            results[name] = one_configuration(site.site_key, width, in_rounds, avoid, args.challenges)
    rows: list[list[Any]] = []
    for name, result in results.items():
        for kind in KINDS:
            counter: Counter[str] = result["shows"][kind]
            slots = sum(counter.values())
            rows.append([name, kind, slots, len(counter), max(counter.values(), default=0)])
    memory_rows = [
        [
            name,
            result["guessed"],
            "-" if result["precision"] is None else f"{result['precision']:.1%}",
            f"{result['recall']:.1%}",
        ]
        for name, result in results.items()
    ]
    tables = [
        Table(
            caption=f"{args.challenges} challenges to one client, {args.unlabelled} unlabelled glyphs, none answered",
            columns=["unlabelled candidates, draw", "kind", "slots", "distinct glyphs", "most shows of one glyph"],
            rows=rows,
        ),
        Table(
            caption="a client that guesses 'unscored' for every glyph it has seen before",
            columns=[
                "unlabelled candidates, draw",
                "guesses",
                "precision (unscored)",
                "recall (of unscored positions)",
            ],
            rows=memory_rows,
        ),
    ]
    path = record(
        "repeats",
        command=this_command("bench.bench_repeats", argv),
        title="Glyph repeats by kind of position, and what remembering them gives a client",
        tables=tables,
        notes=[
            "the service draws 500 unlabelled candidates (UNLABELLED_CANDIDATES) by weight and avoids those the "
            "client has seen (selection.AVOID_SEEN_UNLABELLED); before issue 19 it drew 50 and did not avoid them",
            "a remembering client's precision below the share of unscored positions (50%) means memory misleads it",
        ],
    )
    for table in tables:
        print(table["caption"])
        for row in table["rows"]:
            print("  ", row)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
