"""``render``'s parameters: the texture, the optional mask, where the result is stored, and
the render contract's options (``RenderOptions``, which ``POST /render/jobs`` takes as they are).
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tilework.core.sources import SourceSpec

SAFE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"  # one object key segment


class RenderOptions(BaseModel):
    """The render contract's ``options``: how to render. ``/render/jobs`` takes exactly these."""

    model_config = ConfigDict(extra="forbid")

    real_world_scale: float = Field(24, gt=0, le=1000, description="Repeats across the region.")
    enable_refinement: bool = Field(False, description="Feather the edge and add seeded grain.")
    refinement_seed: int = Field(42, ge=0, le=2**31 - 1, description="Seed of the refinement.")
    stage_timeout_seconds: float | None = Field(
        None, gt=0, le=3600, description="Limit for each stage; past it the job fails 'timeout'."
    )


class RenderParams(RenderOptions):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"texture": {"url": "https://example.com/swatch.jpg"}}]},
    )

    texture: SourceSpec = Field(description="The texture (swatch) to lay over the region.")
    mask: SourceSpec | None = Field(
        None, description="Where the texture goes (white, or opaque); estimated when absent."
    )
    project_id: str | None = Field(None, pattern=SAFE_ID, description="Names the result.")
    user_id: str | None = Field(None, pattern=SAFE_ID, description="Required with project_id.")

    @model_validator(mode="after")
    def _owner(self) -> Self:
        if self.project_id is not None and self.user_id is None:
            raise ValueError("user_id is required with project_id")
        return self

    def result_key(self, job_id: str) -> str | None:
        """Where the render contract stores a project's render; None for the job's usual key."""
        if self.project_id is None:
            return None
        return f"renders/{self.user_id}/{self.project_id}-{job_id}.png"
