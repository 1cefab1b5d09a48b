"""The OpenAPI document, with what every route answers besides its success: the statuses its
dependencies and the middleware give it (401 and 429 from the key, 403 for admin routes, 422
for its parameters, 404 for what its path names, 413 for a body, 503 from the database), each
with the body that status really has there: Replicate's problem on Replicate's routes, fal's
``{"detail", "error_type", "message"}`` on fal's, ``{"error": {"code", "message", "details"}}``
everywhere else. Keys are a bearer scheme (fal's routes: ``Key``), so "Try it out" in
``/docs`` sends one."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.routing import BaseRoute

from tilework.api.dependencies import admin, caller
from tilework.api.fal.errors import FalRoute, fal_caller
from tilework.api.fal.schemas import FalError
from tilework.api.render_contract.translate import RenderJobRequest
from tilework.api.replicate.problems import Problem, ProblemRoute
from tilework.api.v1.schemas import ErrorBody
from tilework.ops.registry import Registry

SCHEME = "bearer"
FAL_SCHEME = "falKey"  # fal's clients send the key as "Authorization: Key <key>"
EXAMPLE_URL = "https://example.com/photo.jpg"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
DESCRIPTIONS = {
    401: "No key, or one that is malformed, unknown or revoked.",
    403: "The key is not an admin key.",
    404: "Nothing of that id for the caller's tenant.",
    413: "The body is larger than the server takes.",
    422: "A parameter or the body is invalid; each field is named.",
    429: "Past the key's rate; Retry-After says when to come back.",
    503: "The job database is unreachable; Retry-After says when to come back.",
}


def install_openapi(app: FastAPI, routers: Sequence[APIRouter], registry: Registry) -> None:
    """``routers``: those included in ``app``, whose routes (prefixed) the document lists;
    ``registry``: the operations whose params a job names, installed plugins included."""
    routes = [route for router in routers for route in router.routes]

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app, routes)
            _operations_union(app.openapi_schema["components"]["schemas"], registry)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def _document(app: FastAPI, routes: list[BaseRoute]) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    # Bodies that routes read or answer themselves, named by reference in their documentation.
    for model in (ErrorBody, Problem, FalError, RenderJobRequest):
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(found.pop("$defs", {}))
        schemas[model.__name__] = found
    schemas.pop("HTTPValidationError", None)  # FastAPI's 422, which this API never answers
    schemas.pop("ValidationError", None)
    components["securitySchemes"] = {
        SCHEME: {"type": "http", "scheme": "bearer", "description": "An API key (tw_…)."},
        FAL_SCHEME: {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An API key as fal's clients send one: Key tw_… (Bearer works too).",
        },
    }
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        body = "ErrorBody"
        if isinstance(route, ProblemRoute):
            body = "Problem"
        elif isinstance(route, FalRoute):
            body = "FalError"
        for method in route.methods or ():
            operation = schema["paths"][route.path_format][method.lower()]
            _complete(operation, route, method, body)
    return schema


def _operations_union(schemas: dict[str, Any], registry: Registry) -> None:
    """``JobCreate`` as one variant per registered operation, told apart by ``operation``, each
    with that operation's params model (and, where its defaults are valid, an example)."""
    generic = schemas.pop("JobCreate")
    variants: dict[str, str] = {}
    for name in registry.names():
        params_model = registry.get(name).Params
        found = params_model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(found.pop("$defs", {}))
        params_name = f"{_camel(name)}Params"
        schemas[params_name] = found
        variant = copy.deepcopy(generic)
        variant["title"] = f"JobCreate ({name})"
        variant["properties"]["operation"] = {"type": "string", "const": name}
        variant["properties"]["params"] = {"$ref": f"#/components/schemas/{params_name}"}
        variant["required"] = sorted({*variant.get("required", []), "operation"})
        example = _example(params_model)
        if example is not None:
            variant["examples"] = [
                {"operation": name, "input": {"url": EXAMPLE_URL}, "params": example}
            ]
        variants[name] = f"#/components/schemas/JobCreate_{name}"
        schemas[f"JobCreate_{name}"] = variant
    schemas["JobCreate"] = {
        "title": "JobCreate",
        "description": "A job: one of the registered operations, with its params.",
        "oneOf": [{"$ref": reference} for reference in variants.values()],
        "discriminator": {"propertyName": "operation", "mapping": variants},
    }


def _example(params_model: type[BaseModel]) -> dict[str, Any] | None:
    """The params model's own example (``json_schema_extra``), else its defaults if valid."""
    extra = params_model.model_config.get("json_schema_extra")
    given = extra.get("examples") if isinstance(extra, dict) else None
    if isinstance(given, list) and given and isinstance(given[0], dict):
        return given[0]
    try:
        return params_model().model_dump(mode="json")
    except ValidationError:  # some params have no defaults (a resize's box)
        return None


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _complete(operation: dict[str, Any], route: APIRoute, method: str, body: str) -> None:
    calls = {dependant.call for dependant in _dependants(route.dependant)}
    statuses: set[int] = set()
    if caller in calls:
        statuses |= {401, 429, 503}
        operation["security"] = [{SCHEME: []}]
    if fal_caller in calls:
        statuses |= {401, 429, 503}
        operation["security"] = [{FAL_SCHEME: []}]
    if admin in calls:
        statuses.add(403)
    if _has_parameters(route.dependant):
        statuses.add(422)
    if route.dependant.path_params:
        statuses.add(404)
    if method in BODY_METHODS:  # the body cap (api.bodylimit) applies before any route
        statuses.add(413)

    responses = operation.setdefault("responses", {})
    reference = {"$ref": f"#/components/schemas/{body}"}
    declared = {str(status) for status in (route.responses or {})}  # the route's own words win
    for status in sorted(statuses):
        if str(status) in declared:
            continue
        answer = responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
        answer["content"] = {"application/json": {"schema": reference}}


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependants(sub)


def _has_parameters(dependant: Dependant) -> bool:
    everyone = [dependant, *_dependants(dependant)]
    return any(
        d.path_params or d.query_params or d.header_params or d.body_params for d in everyone
    )
