"""The parameters of a job of steps."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_STEPS = 16


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    operation: str = Field(min_length=1, max_length=64, examples=["upscale"])
    params: dict[str, Any] = Field(default_factory=dict)
    from_: str | None = Field(
        None,
        alias="from",
        min_length=1,
        max_length=64,
        description="The name of the earlier step's output this step takes; by default its "
        "first output.",
    )


class StepsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    keep_intermediate: bool = Field(
        False, description="Also answer every earlier step's outputs, not only the last's."
    )
