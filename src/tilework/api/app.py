"""The FastAPI application: tilework's routes, Replicate's and the render contract's over the
services of ``tilework.service``. Webhooks are sent by the hosts that run workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from tilework import __version__
from tilework.api import health, metrics
from tilework.api.bodylimit import BodyLimit
from tilework.api.console.routes import install_console
from tilework.api.docs import install_docs
from tilework.api.errors import install_error_handlers
from tilework.api.fal import jwks as fal_jwks
from tilework.api.fal import routes as fal
from tilework.api.fal import storage as fal_storage
from tilework.api.fal.proxy import FalProxy
from tilework.api.openapi import install_openapi
from tilework.api.render_contract import routes as render_contract
from tilework.api.replicate import files as replicate_files
from tilework.api.replicate import routes as replicate
from tilework.api.v1 import (
    destinations,
    events,
    jobs,
    keys,
    objects,
    operators,
    providers,
    uploads,
)
from tilework.service.services import Services


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.submitter.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="tilework",
        version=__version__,
        summary="Asynchronous image jobs: submit, poll, fetch results.",
        docs_url=None,  # served by install_docs, with assets of its own
        redoc_url=None,
    )
    app.state.tilework = services
    install_error_handlers(app)
    settings = services.settings
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    # Outside the body cap, so that the cap sees the path a proxied request is routed to.
    app.add_middleware(FalProxy, public_url=settings.resolved_public_url)
    if settings.cors_origins:
        # Browsers (the render contract's React app) call the API directly; keys go in
        # Authorization.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "Prefer",
                "Cancel-After",
                "X-Fal-Target-Url",  # fal's JavaScript client through /fal/proxy
            ],
            expose_headers=[
                "Location",
                "Retry-After",
                "Idempotent-Replayed",
                "X-Fal-Request-Id",
                "X-Fal-Billable-Units",
            ],
            max_age=600,
        )
    # Replicate's /v1/files/{file_id} before the old signed-URL path /v1/files/{key:path},
    # which only keys with a "/" (every signed key) reach.
    routers = (
        jobs,
        events,
        uploads,
        keys,
        replicate_files,
        objects,
        health,
        render_contract,
        replicate,
        # fal's storage upload before its submit route, which would take it for a model's path.
        fal_storage,
        fal,
        fal_jwks,
        providers,
        operators,
        destinations,
        metrics,
    )
    for module in routers:
        app.include_router(module.router)
    install_openapi(app, [module.router for module in routers], services.registry)
    install_docs(app)
    install_console(app, services)
    return app
