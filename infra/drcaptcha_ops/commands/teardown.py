"""`drcaptcha teardown`: delete a deployment's retained data (the bucket and tables) on purpose.

It acts on the names in the settings (`drcaptcha deploy-env` writes them for a deployed stack). Without
`--confirm BUCKET` it only lists what it would delete.
"""

from __future__ import annotations

import argparse
from typing import Any

from drcaptcha.config import get_settings
from drcaptcha.errors import BadRequest
from drcaptcha_ops import teardown


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "teardown", help="delete the deployment's bucket (every version) and tables; lists them without --confirm"
    )
    parser.add_argument("--confirm", metavar="BUCKET", help="the bucket's name: proves you mean this deployment")
    parser.add_argument(
        "--no-backup", action="store_true", help="skip the on-demand backup of each table before deleting it"
    )
    parser.set_defaults(run=run_teardown)


def run_teardown(args: argparse.Namespace) -> int:
    settings = get_settings()
    resources = teardown.data_resources(settings)
    if not resources.bucket:
        raise BadRequest("no BUCKET_NAME: run `drcaptcha deploy-env --stack NAME` first (or export the names)")
    where = settings.aws_endpoint_url or f"AWS {settings.aws_region}"
    if args.confirm is None:
        print(f"teardown at {where} would delete:")
        print(f"  bucket  {resources.bucket} (every object version and delete marker)")
        for table in resources.tables:
            print(f"  table   {table}" + ("" if args.no_backup else " (after an on-demand backup)"))
        print(f"nothing deleted: run again with --confirm {resources.bucket}")
        return 0
    if args.confirm != resources.bucket:
        raise BadRequest(f"--confirm {args.confirm!r} is not this deployment's bucket {resources.bucket!r}")
    label = teardown.backup_label()
    for table in resources.tables:
        backup = None if args.no_backup else teardown.back_up_table(table, label)
        deleted = teardown.delete_table(table)
        print(f"table   {table}: {'deleted' if deleted else 'not found'}" + (f", backup {backup}" if backup else ""))
    versions = teardown.delete_bucket(resources.bucket)
    if versions is None:
        print(f"bucket  {resources.bucket}: not found")
    else:
        print(f"bucket  {resources.bucket}: {versions} versions and delete markers removed, bucket deleted")
    return 0
