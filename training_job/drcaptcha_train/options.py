"""The job's command-line options, shared by `python -m drcaptcha_train` and `drcaptcha train`.

Kept free of Keras and TensorFlow, so that building the `drcaptcha` parser stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from drcaptcha_train.option_types import positive_int

# The names networks.NETWORKS defines (a unit test keeps the two in step).
NETWORK_NAMES: Final = ("nn", "dnn", "cnn1", "cnn2", "resnet", "vgg")
DEFAULT_BATCH_SIZE: Final = 256


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--network", required=True, choices=NETWORK_NAMES, help="the architecture to train")
    parser.add_argument("--epochs", type=positive_int, default=None, help="default: the network's own")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--limit", type=positive_int, default=None, help="train and test on at most N glyphs each")
    parser.add_argument("--network-id", default=None, help="default: <network>-<utc time>-<random>")
    parser.add_argument("--ensemble", choices=["auto"], default=None, help="then propose a draft ensemble")


def summary(network_id: str, metrics: dict[str, Any], ensemble_key: str | None) -> str:
    """What a finished job prints."""
    lines = [
        f"trained {network_id}: test accuracy {metrics['accuracy']:.2%} on {metrics['test_size']} glyphs, "
        f"LiteRT agreement {metrics['litert_agreement']:.2%}, {metrics['images_per_second']} images/s, "
        f"{metrics['wall_seconds']} s on {metrics['device']}",
    ]
    if ensemble_key:
        lines.append(f"draft ensemble written to {ensemble_key}")
    return "\n".join(lines)
