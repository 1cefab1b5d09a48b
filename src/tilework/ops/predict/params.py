"""The parameters of ``predict``, and the model names each kind of provider takes."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tilework.core.credits import MINIMUM_COST
from tilework.core.settings import ModelPrice, ProviderKind, Settings

# owner/name, then a path (fal: owner/app/path) or a version (Replicate: owner/name:version).
MODEL_PATTERN = r"^[\w.-]+/[\w.-]+(/[\w./-]+)?(:[\w.-]+)?$"
MAX_TIMEOUT_SECONDS = 24 * 3600

# What each kind takes: Replicate a model or one of its versions, fal an app and its path.
MODEL_SHAPES = {
    ProviderKind.REPLICATE: (re.compile(r"^[\w.-]+/[\w.-]+(:[\w.-]+)?$"), "owner/name[:version]"),
    ProviderKind.FAL: (re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?$"), "owner/app[/path]"),
}


class PredictParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(
        min_length=1, max_length=64, description="A provider named in TILEWORK_PROVIDERS."
    )
    model: str = Field(
        pattern=MODEL_PATTERN,
        max_length=256,
        description="Replicate: owner/name or owner/name:version; fal: owner/app[/path].",
        examples=["black-forest-labs/flux-schnell", "fal-ai/flux/dev"],
    )
    input: dict[str, Any] = Field(
        default_factory=dict, description="The model's input, passed to it as it is."
    )
    image_field: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="The input field that gets the job's input image, as a URL the provider "
        "can fetch; none: the job needs no input image.",
    )
    max_units: float | None = Field(
        None,
        gt=0,
        description="The most billable units the request may use: needed when the model is "
        "priced per unit, as the credits reserved at submit.",
    )
    timeout_seconds: float = Field(
        600.0,
        gt=0,
        le=MAX_TIMEOUT_SECONDS,
        description="From the remote submit: past it the remote request is canceled and the "
        "job fails with timeout.",
    )


# A model the operator gave no price: one credit a request, as the least any job costs.
UNPRICED = ModelPrice(per_request=MINIMUM_COST)


def model_price(settings: Settings, params: PredictParams) -> ModelPrice:
    """The model's price in its provider's table (by its name, then without a version)."""
    prices = settings.providers[params.provider].prices
    found = prices.get(params.model) or prices.get(params.model.partition(":")[0])
    return found or UNPRICED


def reserved_cost(price: ModelPrice, params: PredictParams) -> float:
    """The most the request can cost: its time bounded by ``timeout_seconds``, its units by
    ``max_units``."""
    return round(
        price.per_request
        + price.per_second * params.timeout_seconds
        + price.per_unit * (params.max_units or 0.0),
        4,
    )


def used_cost(price: ModelPrice, seconds: float | None, units: float | None) -> float:
    """What the request cost, from what the provider says it used."""
    return round(
        price.per_request + price.per_second * (seconds or 0.0) + price.per_unit * (units or 0.0),
        4,
    )
