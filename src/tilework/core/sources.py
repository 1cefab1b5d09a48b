"""Where an input image comes from: an upload's key or a URL."""

from __future__ import annotations

from typing import Self

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

# A job whose URL input may be answered from the cache first fetches it, as a stage of its
# own (``worker.fetching``): its bytes' sha256 completes the cache key.
FETCH_KIND = "fetch_input"
FETCH_STAGE = "fetch input"


class SourceSpec(BaseModel):
    """Exactly one of ``key`` (from POST /v1/uploads) or ``url`` (http or https)."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, max_length=512)
    url: AnyHttpUrl | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.key is None) == (self.url is None):
            raise ValueError("give exactly one of 'key' or 'url'")
        return self
