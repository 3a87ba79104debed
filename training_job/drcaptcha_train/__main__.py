"""`python -m drcaptcha_train --network NAME [--epochs N] [--batch-size B] [--limit N] [--network-id ID]
[--ensemble auto]`: the container's entry point. Settings come from the environment, as in the functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from drcaptcha.errors import DrCaptchaError
from drcaptcha_train.options import add_training_arguments, summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drcaptcha_train", description=__doc__)
    add_training_arguments(parser)
    args = parser.parse_args(argv)
    from drcaptcha_train.job import TrainingOptions, run_training  # TensorFlow loads here, after the arguments

    options = TrainingOptions(args.network, args.epochs, args.batch_size, args.limit, args.network_id, args.ensemble)
    try:
        result = run_training(options)
    except DrCaptchaError as error:
        print(f"drcaptcha-train: error: {error.code}: {error.message}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print(f"drcaptcha-train: error: AWS call failed: {error}", file=sys.stderr)
        return 2
    print(summary(result.network_id, result.metrics, result.ensemble_key))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
