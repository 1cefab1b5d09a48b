"""The OpenAPI document, with what every route answers besides its success: the statuses its
dependencies and the middleware give it (401 and 429 from the key, 403 for admin routes, 422
for its parameters, 404 for what its path names, 413 for a body, 503 from the database), each
with the body that status really has there: Replicate's problem on Replicate's routes,
``{"error": {"code", "message", "details"}}`` everywhere else. Keys are a bearer scheme, so
"Try it out" in ``/docs`` sends one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from tilework.api.dependencies import admin, caller
from tilework.api.replicate.problems import Problem, ProblemRoute
from tilework.api.v1.schemas import ErrorBody

SCHEME = "bearer"
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


def install_openapi(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """``routers``: those included in ``app``, whose routes (prefixed) the document lists."""
    routes = [route for router in routers for route in router.routes]

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app, routes)
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
    for model in (ErrorBody, Problem):
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(found.pop("$defs", {}))
        schemas[model.__name__] = found
    schemas.pop("HTTPValidationError", None)  # FastAPI's 422, which this API never answers
    schemas.pop("ValidationError", None)
    components["securitySchemes"] = {
        SCHEME: {"type": "http", "scheme": "bearer", "description": "An API key (tw_…)."}
    }
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        body = "Problem" if isinstance(route, ProblemRoute) else "ErrorBody"
        for method in route.methods or ():
            operation = schema["paths"][route.path_format][method.lower()]
            _complete(operation, route, method, body)
    return schema


def _complete(operation: dict[str, Any], route: APIRoute, method: str, body: str) -> None:
    calls = {dependant.call for dependant in _dependants(route.dependant)}
    statuses: set[int] = set()
    if caller in calls:
        statuses |= {401, 429, 503}
        operation["security"] = [{SCHEME: []}]
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
