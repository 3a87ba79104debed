"""The trainer's typed errors; the entry point and `drcaptcha train` print them as one clear line."""

from __future__ import annotations

from drcaptcha.errors import BadRequest, DrCaptchaError, ServiceUnavailable


class UnknownNetwork(BadRequest):
    code = "unknown-network"


class NoLabelledData(DrCaptchaError):
    code = "no-labelled-data"
    status = 409


class StoreUnreachable(ServiceUnavailable):
    code = "store-unreachable"


class NoNetworks(DrCaptchaError):
    """`--ensemble auto` found no registered network to combine."""

    code = "no-networks"
    status = 409
