"""The recognize API's request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RecognizeRequest(BaseModel):
    image: str = Field(description="data:image/png;base64,… of one drawn character, any size up to 2000x2000 and 1 MiB")


class Prediction(BaseModel):
    label: str
    probability: float


class RecognizeResponse(BaseModel):
    predictions: list[Prediction] = Field(
        description="the top 3 classes with a probability above `threshold`, most likely first; empty when the "
        "ensemble is that unsure of every class"
    )
    best: Prediction = Field(
        description="the most likely class, whatever its probability: a guess to show as unsure when its "
        "probability is not above `threshold`"
    )
    threshold: float = Field(description="the probability a class must exceed to be listed in `predictions`")
    ensemble_id: str
