"""The recognize function: one drawn character in, the active ensemble's top 3 guesses out (LiteRT)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from drcaptcha import recognition
from drcaptcha.config import requires_settings
from drcaptcha.http import create_resolver
from drcaptcha.models.api.recognize import RecognizeRequest, RecognizeResponse
from drcaptcha.serving import active_ensemble

logger = Logger()
# What this function cannot start without (a signing key, where one is needed, is checked when it is used).
REQUIRED_SETTINGS = (
    "ensembles_table",
    "bucket_name",
    "rate_limits_table",
)
app = create_resolver()


@app.post(
    "/v1/recognize",
    summary="Recognise a drawn character (PNG data URL): top 3 classes with p > 0.1, and the best guess",
)
def recognize(body: RecognizeRequest) -> RecognizeResponse:
    recognition.count_drawing(app.current_event.request_context.http.source_ip)
    return recognition.recognize(body.image, active_ensemble())


@logger.inject_lambda_context
@requires_settings("recognize", *REQUIRED_SETTINGS)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
