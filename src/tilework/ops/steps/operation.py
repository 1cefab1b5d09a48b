"""A job of steps: each step an operation of the registry, planned and run as that operation
would plan and run it alone, in the one job.

The chain lives in the tasks themselves: every task of a step carries, under ``STEP_KEY``,
which step and which of its stages it belongs to, the step's input (the earlier step's output)
and what the finished steps left (their cost, kept outputs, warnings). So the planner stays a
pure function of the records the queue hands it, and a worker killed mid-chain loses nothing
that a retry needs.

Each step's stages are numbered from where its names begin in the job's ``stages`` (a step
skips ahead to them), so progress names the step and the stage that run. Its files go under
``steps/<index>/`` in the job's folder and its timings are named ``<n>.<timing>``: two steps
of one operation never overwrite each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from tilework.core.credits import made_cost
from tilework.core.errors import ErrorCode, TileworkError, field_failures, field_name
from tilework.core.jobs import Finished, JobRecord, JsonDict, NextStage, PlannedTask, TaskRecord
from tilework.core.settings import Settings
from tilework.objects.store import ObjectStore
from tilework.ops.base import CachePolicy, Operation, TaskContext, largest_input
from tilework.ops.steps.params import Step, StepsParams

STEP_KEY = "step"  # in every task's payload: its place in the chain (``Chain``)
AnyOperation = Operation[Any]


@dataclass(frozen=True)
class Resolved:
    """A step with its operation and its params as that operation validated them."""

    index: int
    step: Step
    operation: AnyOperation
    params: BaseModel

    @property
    def label(self) -> str:
        return f"step {self.index + 1} ({self.step.operation})"


@dataclass
class Chain:
    """Where a task stands in the chain, and what the steps before it left."""

    index: int = 0
    stage: int = 0
    input: JsonDict = field(default_factory=dict)
    kept: list[JsonDict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cost: float = 0.0
    costs: list[JsonDict] = field(default_factory=list)

    def to_json(self) -> JsonDict:
        return {
            "index": self.index,
            "stage": self.stage,
            "input": self.input,
            "kept": self.kept,
            "warnings": self.warnings,
            "cost": self.cost,
            "costs": self.costs,
        }

    @classmethod
    def of(cls, task: TaskRecord) -> Chain:
        data = task.payload[STEP_KEY]
        return cls(**{name: data[name] for name in cls().to_json()})


class Steps(Operation[StepsParams]):
    name = "steps"
    Params = StepsParams
    # Whether it needs an input is its first step's to say (``requires_input``).
    needs_input = False

    def __init__(self, lookup: Callable[[str], AnyOperation]) -> None:
        self._lookup = lookup  # the registry's operations by name

    # --- at submit --------------------------------------------------------------------------

    def validate(self, params: JsonDict) -> StepsParams:
        """Every step's params validated by its operation, each failure named where it sits
        (``steps[1].params.scale``)."""
        try:
            parsed = StepsParams.model_validate(params)
        except ValidationError as exc:
            raise field_failures([(error["loc"], error["msg"]) for error in exc.errors()]) from exc
        found: list[tuple[tuple[Any, ...], str]] = []
        checked: list[Step] = []
        for index, step in enumerate(parsed.steps):
            where = ("steps", index)
            if step.operation == self.name:
                found.append(((*where, "operation"), "a step cannot be a job of steps"))
                continue
            try:
                operation = self._lookup(step.operation)
                valid = operation.validate(step.params)
            except TileworkError as error:  # an unknown operation, or its own refusal
                found += [
                    ((*where, *_path(named["field"])), named["message"])
                    for named in error.details.get(
                        "errors", [{"field": "operation", "message": error.message}]
                    )
                ]
                continue
            except ValidationError as exc:
                found += [((*where, "params", *e["loc"]), e["msg"]) for e in exc.errors()]
                continue
            checked.append(step.model_copy(update={"params": valid.model_dump(mode="json")}))
        if found:
            raise field_failures(found)
        return parsed.model_copy(update={"steps": checked})

    def stages(self, params: StepsParams) -> list[str]:
        return [
            _stage_name(each, stage)
            for each in self._resolve(params)
            for stage in each.operation.stages(each.params)
        ]

    def requires_input(self, params: StepsParams) -> bool:
        first = self._resolve(params)[0]
        return first.operation.requires_input(first.params)

    def admit(
        self, params: StepsParams, source: JsonDict, objects: ObjectStore, settings: Settings
    ) -> None:
        """Each step's own checks; a later step's input is an earlier step's output, whose
        size is not known yet (an operation checks what it can without it)."""
        for each in self._resolve(params):
            given = source if each.index == 0 else {"step": each.index - 1}
            try:
                each.operation.admit(each.params, given, objects, settings)
            except TileworkError as error:
                raise _within(each, error) from error

    def cache_policy(self, params: StepsParams) -> CachePolicy:
        """As cacheable as its least cacheable step."""
        found = {each.operation.cache_policy(each.params) for each in self._resolve(params)}
        for policy in (CachePolicy.NEVER, CachePolicy.ASKED):
            if policy in found:
                return policy
        return CachePolicy.ALWAYS

    def cache_variant(self, params: StepsParams, settings: Settings) -> str:
        """Each step's operation version and variant: a change in any is another result."""
        return ";".join(
            f"{each.operation.name}@{each.operation.version}:"
            f"{each.operation.cache_variant(each.params, settings)}"
            for each in self._resolve(params)
        )

    def reserve(self, params: StepsParams, size: tuple[int, int], settings: Settings) -> float:
        """The steps' reservations summed; a later step's input priced as the largest allowed."""
        return sum(
            each.operation.reserve(
                each.params, size if each.index == 0 else largest_input(settings), settings
            )
            for each in self._resolve(params)
        )

    # --- in the queue's transactions --------------------------------------------------------

    def plan(
        self, job: JobRecord, params: StepsParams, stage: int, previous: list[TaskRecord]
    ) -> NextStage | Finished:
        resolved = self._resolve(params)
        starts = _stage_starts(resolved)
        if previous:
            chain = Chain.of(previous[0])
            chain.stage += 1
        else:
            chain = Chain(input=job.input)
        while True:
            each = resolved[chain.index]
            try:
                planned = each.operation.plan(
                    _view(job, each, chain), each.params, chain.stage, previous
                )
            except TileworkError as error:
                raise _within(each, error) from error
            if isinstance(planned, NextStage):
                if planned.tasks:
                    tag = chain.to_json()
                    tasks = [_tagged(task, tag) for task in planned.tasks]
                    return NextStage(tasks, stage=starts[chain.index] + chain.stage)
                chain.stage, previous = chain.stage + 1, []  # a stage with nothing to do
                continue
            _record_end(chain, each, planned)
            if chain.index == len(resolved) - 1:
                return Finished(
                    chain.kept + planned.outputs,
                    chain.warnings,
                    result=planned.result,
                    cost=chain.cost,
                    cost_detail={"steps": chain.costs},
                )
            if params.keep_intermediate:
                chain.kept += planned.outputs
            following = resolved[chain.index + 1]
            chain.input = _handed_on(each, following, planned.outputs)
            chain.index, chain.stage, previous = following.index, 0, []

    def substitute(
        self, job: JobRecord, params: StepsParams, task: TaskRecord, error: TileworkError
    ) -> PlannedTask | None:
        chain = Chain.of(task)
        each = self._resolve(params)[chain.index]
        planned = each.operation.substitute(_view(job, each, chain), each.params, task, error)
        return None if planned is None else _tagged(planned, task.payload[STEP_KEY])

    # --- in the task process ----------------------------------------------------------------

    def run(self, ctx: TaskContext[StepsParams]) -> JsonDict:
        chain = Chain.of(ctx.task)
        each = self._resolve(ctx.params)[chain.index]
        inner = replace(
            cast(TaskContext[Any], ctx),  # the same task, seen as a task of the step's operation
            params=each.params,
            input=chain.input,
            output_space=f"steps/{each.index}/",
            timing_prefix=f"{each.index + 1}.",
        )
        try:
            return each.operation.run(inner)
        except TileworkError as error:
            raise _within(each, error) from error

    def _resolve(self, params: StepsParams) -> list[Resolved]:
        resolved = []
        for index, step in enumerate(params.steps):
            operation = self._lookup(step.operation)
            resolved.append(Resolved(index, step, operation, operation.validate(step.params)))
        return resolved


def _stage_name(each: Resolved, stage: str) -> str:
    operation = each.step.operation
    named = operation if stage == operation else f"{operation}: {stage}"
    return f"{each.index + 1}.{named}"


def _stage_starts(resolved: list[Resolved]) -> list[int]:
    starts, at = [], 0
    for each in resolved:
        starts.append(at)
        at += len(each.operation.stages(each.params))
    return starts


def _view(job: JobRecord, each: Resolved, chain: Chain) -> JobRecord:
    """The job as the step's operation plans it: a job of that operation alone."""
    return replace(
        job,
        operation=each.step.operation,
        params=each.step.params,
        input=chain.input,
        stages=each.operation.stages(each.params),
        stage=chain.stage,
    )


def _tagged(task: PlannedTask, tag: JsonDict) -> PlannedTask:
    return PlannedTask(task.kind, {**task.payload, STEP_KEY: tag}, task.timeout_seconds)


def _record_end(chain: Chain, each: Resolved, finished: Finished) -> None:
    """A step ended: its charge (what it says it used, else its outputs' megapixels) and its
    warnings."""
    cost = finished.cost if finished.cost is not None else made_cost(finished.outputs)
    chain.cost = round(chain.cost + cost, 4)
    chain.costs.append(
        {
            "step": each.index,
            "operation": each.step.operation,
            "cost": cost,
            **(finished.cost_detail or {}),
        }
    )
    chain.warnings += [f"{each.label}: {warning}" for warning in finished.warnings]


def _handed_on(each: Resolved, following: Resolved, outputs: list[JsonDict]) -> JsonDict:
    """The output of ``each`` that ``following`` takes as its input: the one it names in
    ``from``, else the first."""
    wanted = following.step.from_
    chosen = [out for out in outputs if wanted is None or out.get("name") == wanted][:1]
    if not chosen:
        made = ", ".join(str(out.get("name")) for out in outputs) or "nothing"
        what = "no output" if wanted is None else f"no output named {wanted!r}"
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED,
            f"{each.label} made {what} for {following.label} to take (it made: {made})",
            {"step": following.index, "made": [out.get("name") for out in outputs]},
        )
    return {"key": chosen[0]["key"]}


def _within(each: Resolved, error: TileworkError) -> TileworkError:
    """``error`` as the job reports it: naming the step, its fields under ``steps[i]``."""
    details = dict(error.details)
    if "errors" in details:
        details["errors"] = [
            {**named, "field": field_name(("steps", each.index, *_path(named["field"])))}
            for named in details["errors"]
        ]
    details["step"] = each.index
    return TileworkError(
        error.code, f"{each.label}: {error.message}", details, retryable=error.retryable
    )


def _path(field_name: str) -> tuple[str, ...]:
    return tuple(part for part in field_name.split(".") if part)
