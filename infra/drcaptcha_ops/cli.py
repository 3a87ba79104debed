"""The `drcaptcha` command line. Each command lives in its own module, which registers its sub-parser.

Errors the user can act on (a missing file, a malformed import, no emulator) print one clear line and exit
with a non-zero status; they never show a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from pynamodb.exceptions import PynamoDBException

from drcaptcha.config import get_settings
from drcaptcha.errors import DrCaptchaError

# Modules that define `register(subparsers)`; each adds its commands with `set_defaults(run=...)`.
COMMAND_MODULES = (
    "drcaptcha_ops.commands.stack",
    "drcaptcha_ops.commands.data",
    "drcaptcha_ops.commands.serve",
    "drcaptcha_ops.commands.sites",
    "drcaptcha_ops.commands.train",
    "drcaptcha_ops.commands.admin",
    "drcaptcha_ops.commands.demo",
    "drcaptcha_ops.commands.simulate",
    "drcaptcha_ops.commands.deploy_env",
    "drcaptcha_ops.commands.smoke",
    "drcaptcha_ops.commands.teardown",
    "drcaptcha_ops.commands.web",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drcaptcha", description=__doc__.splitlines()[0] if __doc__ else "")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int | None = args.run(args)
    except KeyboardInterrupt:
        return 130
    except DrCaptchaError as error:
        return fail(f"{error.code}: {error.message}")
    except EndpointConnectionError as error:
        where = get_settings().aws_endpoint_url or "AWS"
        return fail(f"cannot reach {where}: {error}. Start one with `drcaptcha emulator` or set AWS_ENDPOINT_URL.")
    except (ClientError, BotoCoreError) as error:
        return fail(f"AWS call failed: {error}")
    except PynamoDBException as error:
        # pynamodb wraps botocore's errors (no credentials, no endpoint) in its own.
        cause = error.cause if error.cause is not None else error
        return fail(
            f"DynamoDB call failed: {cause}. Is a stack running? Start one with `drcaptcha emulator` "
            "or set AWS_ENDPOINT_URL."
        )
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        return fail(f"{error.strerror}: {error.filename}")
    return status or 0


def fail(message: str) -> int:
    print(f"drcaptcha: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
