"""The recognize API's request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RecognizeRequest(BaseModel):
    image: str = Field(description="data:image/png;base64,… of one drawn character, any size up to 2000x2000 and 1 MiB")


class Prediction(BaseModel):
    label: str
    probability: float


class RecognizeResponse(BaseModel):
    predictions: list[Prediction]
    ensemble_id: str
