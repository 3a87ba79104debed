"""`drcaptcha create-admin` and `drcaptcha ensemble create|update|evaluate|activate|list|delete`.

The ensemble verbs call the same library functions as the admin HTTP API, so both normalise, evaluate (LiteRT,
test split) and activate (one conditional pointer write) the same way.
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from drcaptcha import admins, ensemble_admin
from drcaptcha.models.api.admin import EnsembleDetail, MemberRequest
from drcaptcha_ops.commands.output import stdout_to_stderr


def register(subparsers: Any) -> None:
    create = subparsers.add_parser("create-admin", help="make an admin key: printed once, only its hash is stored")
    create.add_argument("--name", default=None, help="who holds the key (default: your user name)")
    create.set_defaults(run=run_create_admin)

    ensemble = subparsers.add_parser("ensemble", help="create, edit, evaluate, activate or list ensembles")
    verbs = ensemble.add_subparsers(dest="verb", required=True, metavar="VERB")
    member_help = "NETWORK_ID=WEIGHT, repeated; weights are normalised to sum to 1"

    new = verbs.add_parser("create", help="normalise, evaluate on the test split and record a new ensemble")
    new.add_argument("--name", required=True)
    new.add_argument("--member", action="append", required=True, type=member_argument, help=member_help)
    new.set_defaults(run=run_create)

    update = verbs.add_parser("update", help="change the name, weights or members; re-evaluate")
    update.add_argument("ensemble_id")
    update.add_argument("--name", default=None)
    update.add_argument("--member", action="append", default=None, type=member_argument, help=member_help)
    update.set_defaults(run=run_update)

    for verb, run, text in (
        ("evaluate", run_evaluate, "evaluate again on the test split"),
        ("activate", run_activate, "make it the ensemble that recognize and the captcha function use"),
        ("delete", run_delete, "delete an ensemble that is not active"),
    ):
        parser = verbs.add_parser(verb, help=text)
        parser.add_argument("ensemble_id")
        parser.set_defaults(run=run)

    listing = verbs.add_parser("list", help="every ensemble, the active one marked")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=run_list)


def member_argument(text: str) -> MemberRequest:
    network_id, separator, weight = text.rpartition("=")
    try:
        if not separator or not network_id:
            raise ValueError(text)
        return MemberRequest(network_id=network_id, weight=float(weight))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected NETWORK_ID=WEIGHT with a weight >= 0, got {text!r}") from error


def run_create_admin(args: argparse.Namespace) -> int:
    admin = admins.create_admin(args.name or getpass.getuser())
    print(f"admin: {admin.name}")
    print(f"key:   {admin.key}")
    print("The key is shown only this once; only its hash is stored. Send it as `Authorization: Bearer <key>`.")
    return 0


def print_detail(detail: EnsembleDetail) -> None:
    accuracy = "n/a" if detail.accuracy is None else f"{detail.accuracy:.2%}"
    print(f"{detail.ensemble_id} (version {detail.version}): {detail.name}, accuracy {accuracy} on {detail.test_size}")
    for network_id, weight in detail.weights.items():
        print(f"  {weight:.4f}  {network_id}")


def run_create(args: argparse.Namespace) -> int:
    print_detail(ensemble_admin.create_ensemble(args.name, args.member, created_by=getpass.getuser()))
    return 0


def run_update(args: argparse.Namespace) -> int:
    print_detail(ensemble_admin.update_ensemble(args.ensemble_id, args.name, args.member))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    print_detail(ensemble_admin.reevaluate_ensemble(args.ensemble_id))
    return 0


def run_activate(args: argparse.Namespace) -> int:
    result = ensemble_admin.activate_ensemble(args.ensemble_id, by=getpass.getuser())
    print(f"active: {result.active_id} (version {result.manifest_version}); before: {result.previous_id or 'none'}")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    ensemble_admin.delete_ensemble(args.ensemble_id)
    print(f"deleted {args.ensemble_id}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    with stdout_to_stderr(args.json):
        listing = ensemble_admin.list_ensembles()
    if args.json:
        print(json.dumps(listing.model_dump(), indent=2))
        return 0
    if not listing.ensembles:
        print("no ensembles yet: `drcaptcha ensemble create --name N --member NETWORK_ID=1 ...`")
    for summary in listing.ensembles:
        marker = "*" if summary.active else " "
        accuracy = "  n/a " if summary.accuracy is None else f"{summary.accuracy:6.2%}"
        print(f"{marker} {summary.ensemble_id:<32} v{summary.version:<3} {accuracy} {summary.status:<6} {summary.name}")
    return 0
