"""The same function as a tilework operation: parameters, one task, a run that stores the result."""

from __future__ import annotations

from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from texture_op.pipeline import run_render_pipeline
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import OutputFormat
from tilework.core.jobs import JsonDict
from tilework.core.settings import Settings
from tilework.objects.store import ObjectStore
from tilework.ops.base import SingleTaskOperation, TaskContext
from tilework.ops.inputs import local_input


class TextureParams(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt parameter is an error, not ignored

    texture_key: str = Field(description="The texture, uploaded with POST /v1/uploads.")
    real_world_scale: int = Field(24, ge=1, le=500, description="Repeats across the width.")


class Texture(SingleTaskOperation[TextureParams]):
    name = "texture"
    Params = TextureParams

    def admit(
        self,
        params: TextureParams,
        source: dict[str, Any],
        objects: ObjectStore,
        settings: Settings,
    ) -> None:
        # Refuse at submit what cannot succeed, naming the field.
        if not objects.exists(params.texture_key):
            raise TileworkError(
                ErrorCode.VALIDATION_FAILED,
                f"no uploaded texture {params.texture_key!r}",
                {"errors": [{"field": "params.texture_key", "message": "not found"}]},
            )

    def run(self, ctx: TaskContext[TextureParams]) -> JsonDict:
        with (
            local_input(ctx) as image_path,
            ctx.objects.readable(ctx.params.texture_key) as texture_path,
            Image.open(image_path) as image,
            Image.open(texture_path) as texture,
            ctx.step("render"),
        ):
            result = run_render_pipeline(image, texture, ctx.params.real_world_scale)
        with ctx.scratch_file(".png") as target:
            result.save(target, "PNG")
            output = ctx.store_output(target, OutputFormat.PNG, result.width, result.height)
        return {"outputs": [output]}


operation = Texture()
