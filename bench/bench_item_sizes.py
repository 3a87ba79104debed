"""The size of the items the labels function writes, by DynamoDB's sizing rules, and what each write costs.

    .venv/bin/python -m bench.bench_item_sizes [--votes N]

moto reports a fixed ConsumedCapacity (1 unit a write, whatever the item), so capacity units cannot be read back
from the emulator. This computes them instead: it builds the items as the code serialises them (pynamodb), with
ids and sources of the lengths the service makes (a 22-character challenge id, a 32-character source hash), and
sizes them by the rules AWS documents for DynamoDB item size (names plus values; a number is about one byte per
two significant digits plus one; a map or list 3 bytes plus 1 per element). One write unit covers 1 KB of the
larger of the item before and after; a transactional write costs twice that; an update that changes an
attribute projected into an index writes the index too (delete and put when the index key changes).
"""

from __future__ import annotations

import argparse
import math
import sys
from decimal import Decimal
from typing import Any

from drcaptcha.models.tables.glyphs import GOLD, STATE_INDEX_ATTRIBUTES, UNLABELLED, GlyphItem
from drcaptcha.models.tables.votes import AcceptanceItem, SourceItem, VoteItem, audited
from drcaptcha.store.glyphs import acceptance_credit_id

CHALLENGE_ID = "5qVnuhUxTp5Nl0TYYdlSFw"
SOURCE = "0f3c9a1be2d4478fa0c1d2e3f4a5b6c7"
GLYPH_ID = "train:00086:0539"


def value_size(value: dict[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = Decimal(str(inner)).normalize().as_tuple().digits
        return math.ceil(len(digits) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(item) for name, item in inner.items())
    if kind == "L":
        return 3 + sum(1 + value_size(item) for item in inner)
    raise ValueError(f"no size rule for {kind}")


def item_size(item: Any) -> int:
    serialized = item.serialize()
    return sum(len(name.encode()) + value_size(value) for name, value in serialized.items())


def glyph_after(votes: int) -> GlyphItem:
    counted = {f"{CHALLENGE_ID[:-2]}{n:02d}:{n % 6}": {"s": SOURCE, "l": 12, "w": 1.0} for n in range(votes)}
    return GlyphItem(
        GLYPH_ID, state=UNLABELLED, shown=37, tallies={"12": float(votes)}, votes=votes, counted=counted, unreadable=0
    )


# What each of the labels function's Glyphs updates changes (store/glyphs.py), and whether it moves the item in
# the state index (its key, `state`, changes).
GLYPH_UPDATES: dict[str, tuple[frozenset[str], bool]] = {
    "count of a glyph's votes": (frozenset({"tallies", "unreadable", "counted", "votes"}), False),
    "count that makes it ambiguous": (frozenset({"tallies", "unreadable", "counted", "votes", "state"}), True),
    "gold reading (a known glyph's counts)": (frozenset({"readings", "read_right", "gold_pending"}), False),
    "gold reading that moves its state (read right, misread)": (frozenset({"readings", "state"}), True),
    "acceptance (the glyph's label)": (frozenset({"state", "label", "label_source", "accepted_at"}), True),
}

# An acceptance's voters: three humans on average (consensus needs 2.5 of weight, and one in three or four
# glyphs gets a dissent), and the model.
ACCEPTANCE_VOTERS = 3


def acceptance_write_units(voters: int, record_size: int, track_record_size: int) -> tuple[int, int]:
    """Write units of one acceptance beyond the count of its votes, (in one transaction, without one): the
    transaction wrote the glyph again, the audit record and each voter's track record at twice the units; now
    the count that accepts also labels the glyph (nothing more), each voter's credit is one update and the
    audit record one put. The state index's move (2) is in both."""
    record = math.ceil(record_size / 1024)
    track = math.ceil(track_record_size / 1024)
    index_move = 2
    in_a_transaction = 2 * (1 + record + voters * track) + index_move
    without = voters * track + record + index_move
    return in_a_transaction, without


def index_writes(changed: frozenset[str], key_changed: bool, projected: frozenset[str] | None) -> int:
    """Index write units of an update of an item that is in the index before and after (items under 1 KB):
    a moved key is a delete and a put; a changed projected attribute one put; anything else none. `projected`
    None: every attribute is projected (ALL)."""
    if key_changed:
        return 2
    return 1 if projected is None or changed & projected else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--votes", type=int, default=8)
    args = parser.parse_args(argv)
    vote = VoteItem(
        GLYPH_ID,
        f"{CHALLENGE_ID}:2",
        source=SOURCE,
        answer="Q",
        label=26,
        weight=0.9876,
        counted=True,
        site_key="sk_" + "a" * 29,
        challenge_id=CHALLENGE_ID,
        ts=1764921600.123,
    )
    source = SourceItem(SOURCE, agreements=12, disagreements=1, updated_at=1764921600.123)
    print(f"vote record: {item_size(vote)} bytes; source track record: {item_size(source)} bytes")
    # Gold readings (gold.py): a known glyph's item and a reader's track record, each with the ids of its last
    # batch's readings in `gold_pending` (one a batch at scale; three for a glyph read often).
    for pending in (1, 3):
        ids = [f"{CHALLENGE_ID[:-2]}{n:02d}:5" for n in range(pending)]
        known = GlyphItem(
            GLYPH_ID,
            state=GOLD,
            shown=0,
            label=26,
            readings=37,
            read_right=35,
            gold_pending=dict.fromkeys(ids, 1764921600.123),
        )
        reader = SourceItem(
            SOURCE, agreements=12, disagreements=1, updated_at=1764921600.123, gold_pending=dict.fromkeys(ids, GLYPH_ID)
        )
        print(
            f"known glyph with {pending} pending reading(s): {item_size(known)} bytes; "
            f"track record with {pending}: {item_size(reader)} bytes"
        )
    audit = AcceptanceItem(
        GLYPH_ID,
        label=12,
        accepted_at=1764921600.123,
        leader_weight=3.0,
        runner_up_weight=0.5,
        votes=[audited(f"{CHALLENGE_ID[:-2]}{n:02d}:{n % 6}", SOURCE, 12, 0.9876) for n in range(ACCEPTANCE_VOTERS)]
        + [audited(f"model:ens-20261205:{GLYPH_ID}", "model:ens-20261205", 12, 0.5)],
    )
    credited = SourceItem(
        SOURCE,
        agreements=12,
        disagreements=1,
        updated_at=1764921600.123,
        gold_pending={f"{CHALLENGE_ID}:5": GLYPH_ID, acceptance_credit_id(GLYPH_ID): GLYPH_ID},
    )
    print(
        f"acceptance audit record with {ACCEPTANCE_VOTERS} human votes and the model's: {item_size(audit)} bytes; "
        f"track record with a pending reading and an acceptance credit: {item_size(credited)} bytes"
    )
    accepted = glyph_after(ACCEPTANCE_VOTERS + 1)
    accepted.state, accepted.label, accepted.label_source, accepted.accepted_at = "crowd", 12, "crowd", 1764921600.123
    print(
        f"glyph item after the count that accepts it ({ACCEPTANCE_VOTERS + 1} votes, labelled, accepted_at): "
        f"{item_size(accepted)} bytes, {math.ceil(item_size(accepted) / 1024)} WRU"
    )
    in_a_transaction, without = acceptance_write_units(ACCEPTANCE_VOTERS, item_size(audit), item_size(credited))
    print(
        f"an acceptance of {ACCEPTANCE_VOTERS} voters, beyond its count (WRU, the index's move included): "
        f"in one transaction {in_a_transaction}, without one {without}"
    )
    print("glyph item with N counted votes (bytes, write units of an update):")
    for votes in range(args.votes + 1):
        size = item_size(glyph_after(votes))
        print(f"  N={votes}: {size} bytes, {math.ceil(size / 1024)} WRU")
    projected = frozenset(STATE_INDEX_ATTRIBUTES)
    print(f"state index writes of each Glyphs update (WRU): projecting ALL / projecting keys and {sorted(projected)}:")
    for update, (changed, key_changed) in GLYPH_UPDATES.items():
        before, after = index_writes(changed, key_changed, None), index_writes(changed, key_changed, projected)
        print(f"  {update}: {before} / {after}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
