"""Benchmark: the labels consumer's throughput in votes/s, and a check that each vote is counted exactly once.

    .venv/bin/python -m bench.bench_consumer [--votes 2000] [--glyphs 500] [--batch-size B] [PATH]

PATH defaults to ../shared/data/emnist. It starts its own emulator, imports a small EMNIST subset (`--limit`
images), removes `--glyphs` labels, and puts `--votes` vote records on the Kinesis stream as the captcha function
does after a pass (`outbox.deliver_votes`, one PutRecords a challenge, three unlabelled glyphs a challenge). The
votes cycle evenly through the unlabelled glyphs, as the least-shown selection spreads them, from `--voters`
distinct clients, each typing the glyph's true class (from truth/) except at `--error-rate`. Then it times the
template's stream poller and the labels function draining the stream (batches of the template's BatchSize, or
`--batch-size`), and compares the votes put with the Votes table's rows, and each glyph's counted-vote tally with
its counted rows. The labels function's module is imported before the clock starts (a warm consumer).

On the emulator each vote is a few DynamoDB calls to moto, whose transactions deep-copy every table they touch:
the rate falls as the Glyphs and Votes tables grow, so it measures the local stack, not Lambda + DynamoDB.
Results go in docs/BENCHMARKS.md, section "Consumer throughput".
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench.bench_gateway import DEFAULT_SOURCE
from bench.bench_load import VoteCheck, count_votes_once
from bench.results import Table, describe_machine, load_average, machine_summary, record, this_command
from drcaptcha import charset, outbox
from drcaptcha.glyphs import GlyphRef, GlyphStore, truth_key
from drcaptcha.models.stream import VoteRecord
from drcaptcha.models.tables.glyphs import UNLABELLED, GlyphItem
from drcaptcha.models.tables.votes import VoteItem
from drcaptcha.ratelimit import client_identity
from drcaptcha.selection import GLYPHS_PER_CHALLENGE, MIN_KNOWN_GLYPHS
from drcaptcha_ops.emulator import running_emulator
from drcaptcha_ops.importer import import_emnist, remove_labels
from drcaptcha_ops.poller import StreamPoller, create_poller

# A challenge shows at least MIN_KNOWN_GLYPHS scored glyphs; the other positions carry the votes.
VOTES_PER_CHALLENGE = GLYPHS_PER_CHALLENGE - MIN_KNOWN_GLYPHS
IMPORT_LIMIT = 5_000
UNLABELLED_GLYPHS = 500  # as bench_load: moto's per-transaction table copies make a larger table slower
DEFAULT_VOTES = 2000
SOURCE_KEY = b"bench-consumer"


@dataclasses.dataclass(frozen=True)
class Crowd:
    voters: int
    error_rate: float
    seed: int


def true_classes(glyph_ids: list[str]) -> dict[str, int]:
    """Each removed glyph's true class, from truth/ (the labels the removal moved there)."""
    store = GlyphStore()
    refs = {glyph_id: GlyphRef.parse(glyph_id) for glyph_id in glyph_ids}
    truth = {
        (ref.split, ref.shard): store.get_array(truth_key(ref.split, ref.shard))
        for ref in {GlyphRef(r.split, r.shard, 0) for r in refs.values()}
    }
    return {glyph_id: int(truth[ref.split, ref.shard][ref.offset]) for glyph_id, ref in refs.items()}


def typed(truth: int, error_rate: float, rng: np.random.Generator) -> str:
    if rng.random() >= error_rate:
        return charset.character_of(truth)
    return charset.character_of(int(rng.choice([c for c in range(charset.NUM_CLASSES) if c != truth])))


def put_votes(count: int, glyph_ids: list[str], crowd: Crowd) -> tuple[set[str], int]:
    """Put `count` votes on the stream, a challenge's worth per PutRecords; return their ids and the outboxed."""
    rng = np.random.default_rng(crowd.seed)
    order = [glyph_ids[i] for i in rng.permutation(len(glyph_ids))]
    truth = true_classes(order)
    sources = [client_identity(f"10.0.{i // 256}.{i % 256}", SOURCE_KEY) for i in range(crowd.voters)]
    vote_ids: set[str] = set()
    outboxed = 0
    for first in range(0, count, VOTES_PER_CHALLENGE):
        challenge_id = secrets.token_urlsafe(16)
        source = sources[int(rng.integers(crowd.voters))]
        votes = []
        for position, number in enumerate(range(first, min(count, first + VOTES_PER_CHALLENGE))):
            glyph_id = order[number % len(order)]
            answer = typed(truth[glyph_id], crowd.error_rate, rng)
            votes.append(
                VoteRecord(
                    vote_id=f"{challenge_id}:{MIN_KNOWN_GLYPHS + position}",
                    glyph_id=glyph_id,
                    answer=answer,
                    label=charset.class_of(answer),
                    source=source,
                    challenge_id=challenge_id,
                    ts=time.time(),
                )
            )
        outboxed += outbox.deliver_votes(challenge_id, votes)
        vote_ids.update(vote.vote_id for vote in votes)
    return vote_ids, outboxed


def warm_poller(batch_size: int | None) -> StreamPoller:
    """The template's poller, with its consumers' modules imported (a warm Lambda), at `batch_size` if given."""
    poller = create_poller()
    if batch_size is not None:
        poller.subscriptions = [dataclasses.replace(s, batch_size=batch_size) for s in poller.subscriptions]
    for subscription in poller.subscriptions:
        _ = poller.functions[subscription.function_id].module
    return poller


def outcomes() -> tuple[Counter[bool], int]:
    """Votes rows by `counted` (False: late, for a glyph labelled already), and the glyphs labelled now."""
    rows = Counter(bool(row.counted) for row in VoteItem.scan(consistent_read=True))
    labelled = sum(1 for glyph in GlyphItem.scan(consistent_read=True) if glyph.state != UNLABELLED)
    return rows, labelled


def exactly_once(check: VoteCheck) -> bool:
    return (
        check.rows == check.cast and check.missing == 0 and check.unexpected == 0 and check.glyphs_with_wrong_tally == 0
    )


def smaller_run_note(votes: int, glyphs: int) -> list[str]:
    """Votes/s falls as the tables grow on the emulator: say when a run was smaller than the default one."""
    if votes >= DEFAULT_VOTES and glyphs >= UNLABELLED_GLYPHS:
        return []
    return [
        f"a smaller run than the default ({DEFAULT_VOTES:,} votes on {UNLABELLED_GLYPHS} glyphs), whose smaller "
        "tables make each vote cheaper on the emulator"
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--votes", type=int, default=DEFAULT_VOTES, help="vote records to put on the stream")
    parser.add_argument("--glyphs", type=int, default=UNLABELLED_GLYPHS, help="unlabelled glyphs they vote on")
    parser.add_argument("--limit", type=int, default=IMPORT_LIMIT, help="EMNIST images imported")
    parser.add_argument("--voters", type=int, default=200, help="distinct clients casting the votes")
    parser.add_argument("--error-rate", type=float, default=0.1, help="share of votes naming a wrong class")
    parser.add_argument("--batch-size", type=int, help="records a batch (default: the template's BatchSize)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.votes < 1 or args.glyphs < 1 or args.voters < 1 or (args.batch_size is not None and args.batch_size < 1):
        parser.error("--votes, --glyphs, --voters and --batch-size must be at least 1")
    crowd = Crowd(args.voters, args.error_rate, args.seed)
    with running_emulator():
        import_emnist(args.source, limit=args.limit, progress=False)
        remove_labels(args.glyphs, progress=False)
        glyph_ids = sorted(glyph.glyph_id for glyph in GlyphItem.scan(consistent_read=True))
        started = time.perf_counter()
        cast, outboxed = put_votes(args.votes, glyph_ids, crowd)
        put_seconds = time.perf_counter() - started
        poller = warm_poller(args.batch_size)
        batch_size = poller.subscriptions[0].batch_size
        load_before = load_average()
        check = count_votes_once(cast, poller)
        load_after = load_average()
        rows, labelled = outcomes()
    rate = check.cast / check.poll_seconds
    once = exactly_once(check)

    print(f"{machine_summary(describe_machine())}")
    print(
        f"{check.cast} votes on {len(glyph_ids)} glyphs put in {put_seconds:.1f} s ({outboxed} via the outbox); "
        f"consumed in {check.poll_seconds:.1f} s at batch size {batch_size}: {rate:.1f} votes/s "
        f"(load average {load_before} -> {load_after})"
    )
    print(
        f"Votes rows {check.rows} (counted {rows[True]}, late {rows[False]}), missing {check.missing}, unexpected "
        f"{check.unexpected}, glyphs whose tally != counted rows {check.glyphs_with_wrong_tally}; "
        f"glyphs labelled {labelled}/{len(glyph_ids)}; records delivered (with redeliveries) "
        f"{check.delivered_by_poller}"
    )
    print("each vote counted exactly once: " + ("yes" if once else "NO"))
    record(
        "consumer",
        command=this_command("bench.bench_consumer", argv),
        title="Labels consumer throughput",
        tables=[
            Table(
                caption="Draining the stream through the local poller and the labels function",
                columns=["votes", "glyphs", "batch size", "seconds", "votes/s", "load avg during"],
                rows=[
                    [check.cast, len(glyph_ids), batch_size, check.poll_seconds, rate, f"{load_before} → {load_after}"]
                ],
            ),
            Table(
                caption="Exactly once",
                columns=["votes put", "Votes rows", "counted", "late", "missing", "unexpected", "wrong tallies"],
                rows=[
                    [
                        check.cast,
                        check.rows,
                        rows[True],
                        rows[False],
                        check.missing,
                        check.unexpected,
                        check.glyphs_with_wrong_tally,
                    ]
                ],
            ),
        ],
        notes=[
            f"each vote counted exactly once: {'yes' if once else 'NO'}; {labelled} of {len(glyph_ids)} glyphs "
            f"labelled by the crowd ({args.voters} voters, {args.error_rate:.0%} wrong answers)",
            f"putting the votes took {put_seconds:.1f} s ({VOTES_PER_CHALLENGE} a PutRecords, {outboxed} via the "
            "outbox); the poller delivered "
            f"{check.delivered_by_poller:,} records, redeliveries included",
            *smaller_run_note(args.votes, len(glyph_ids)),
        ],
    )
    return 0 if once else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
