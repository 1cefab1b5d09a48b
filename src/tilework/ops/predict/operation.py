"""``predict``'s plan: one task that submits the model's request, defers while the provider
works (woken by its signed callback, or polling), and ends with the model's files copied."""

from __future__ import annotations

from typing import Any, ClassVar

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import Finished, JobRecord, NextStage, PlannedTask, TaskRecord
from tilework.core.settings import Settings
from tilework.objects.store import ObjectStore
from tilework.ops.base import CachePolicy, Operation
from tilework.ops.predict.params import MODEL_SHAPES, PredictParams, model_price, reserved_cost


class Predict(Operation[PredictParams]):
    name = "predict"
    Params = PredictParams
    # A hosted model may answer differently each time: reusing an answer is the job's choice.
    cache = CachePolicy.ASKED
    needs_input = False
    run_module = "tilework.ops.predict.run"
    tasks: ClassVar[dict[str, str]] = {"predict": "predict"}

    def stages(self, params: PredictParams) -> list[str]:
        return ["predict"]

    def admit(
        self,
        params: PredictParams,
        source: dict[str, Any],
        objects: ObjectStore,
        settings: Settings,
    ) -> None:
        provider = settings.providers.get(params.provider)
        if provider is None:
            known = ", ".join(sorted(settings.providers)) or "none are configured"
            raise _invalid("params.provider", f"not a configured provider ({known})")
        shape, words = MODEL_SHAPES[provider.kind]
        if not shape.match(params.model):
            raise _invalid("params.model", f"a {provider.kind.value} model is {words}")
        if params.image_field is not None and not source:
            raise _invalid("input", f"image_field {params.image_field!r} needs an input image")
        if params.image_field is None and source:
            raise _invalid("params.image_field", "name the input field the image goes to")
        if model_price(settings, params).per_unit > 0 and params.max_units is None:
            raise _invalid(
                "params.max_units",
                "the model is priced per billable unit: give the most it may use",
            )

    def price(self, params: PredictParams, settings: Settings) -> float | None:
        return reserved_cost(model_price(settings, params), params)

    def plan(
        self, job: JobRecord, params: PredictParams, stage: int, previous: list[TaskRecord]
    ) -> NextStage | Finished:
        if stage == 0:
            return NextStage([PlannedTask("predict")])
        (task,) = previous
        done = task.result or {}
        return Finished(
            list(done.get("outputs", [])),
            result=done.get("result"),
            cost=done.get("cost"),
            cost_detail=done.get("cost_detail"),
        )


def _invalid(field: str, message: str) -> TileworkError:
    return TileworkError(
        ErrorCode.VALIDATION_FAILED,
        f"invalid request: {field}",
        {"errors": [{"field": field, "message": message}]},
    )


operation = Predict()
