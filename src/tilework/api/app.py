"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tilework import __version__
from tilework.api import files, health, jobs, renderjobs, uploads
from tilework.api.errors import install_error_handlers
from tilework.api.state import ApiState


def create_app(state: ApiState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        state.submitter.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="tilework",
        version=__version__,
        summary="Asynchronous image jobs: submit, poll, fetch results.",
    )
    app.state.tilework = state
    install_error_handlers(app)
    for module in (jobs, uploads, files, health, renderjobs):
        app.include_router(module.router)
    return app
