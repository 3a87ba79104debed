"""`drcaptcha deploy-env --stack NAME`: point the CLI at a deployed stack.

It writes the stack's region and resource names (its Outputs) to .drcaptcha/env, which every `drcaptcha`
command reads, so `create-site`, `import-emnist`, `teardown` and the rest act on that stack. Credentials and the
profile stay the shell's own (AWS_PROFILE, as boto3 resolves them); the file holds no secret.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from drcaptcha import aws
from drcaptcha.config import LOCAL_ENV_FILE, get_settings, reset_settings
from drcaptcha_ops.deployment import deployed_environment, describe_stack
from drcaptcha_ops.emulator import write_env_file


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "deploy-env", help="write a deployed stack's region and resource names to .drcaptcha/env for the CLI"
    )
    parser.add_argument("--stack", required=True, help="the CloudFormation stack name (samconfig.toml's stack_name)")
    parser.add_argument("--output", type=Path, default=LOCAL_ENV_FILE, help="default: %(default)s")
    parser.set_defaults(run=run_deploy_env)


def run_deploy_env(args: argparse.Namespace) -> int:
    if args.output.resolve() == LOCAL_ENV_FILE.resolve() and LOCAL_ENV_FILE.exists():
        # The file is being replaced: an old emulator's endpoint in it must not decide where we look.
        LOCAL_ENV_FILE.unlink()
        reset_settings()
        aws.reset_clients()
    endpoint = get_settings().aws_endpoint_url
    stack = describe_stack(args.stack)
    environment = deployed_environment(stack)
    if endpoint:
        environment["AWS_ENDPOINT_URL"] = endpoint
    write_env_file(environment, args.output)
    print(f"deploy-env: stack {stack.name} in {stack.region} -> {args.output}")
    for name, value in sorted(environment.items()):
        print(f"  {name:<28} {value}")
    if args.output.resolve() != LOCAL_ENV_FILE.resolve():
        print(f"the CLI reads {LOCAL_ENV_FILE}; load this file with: set -a; . {args.output}; set +a")
    return 0
