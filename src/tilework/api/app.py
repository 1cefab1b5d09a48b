"""The FastAPI application, and the webhook sender that lives beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from tilework import __version__
from tilework.api import (
    events,
    files,
    health,
    jobs,
    keys,
    predictions,
    providers,
    renderjobs,
    uploads,
)
from tilework.api.bodies import event_body
from tilework.api.bodylimit import BodyLimit
from tilework.api.errors import install_error_handlers
from tilework.api.state import ApiState
from tilework.store.deliveries import Delivery
from tilework.store.events import JobEvent
from tilework.store.secrets import webhook_secrets
from tilework.webhooks.deliverer import Deliverer


def create_app(state: ApiState) -> FastAPI:
    deliverer = Deliverer(
        state.settings,
        state.deliveries,
        state.events,
        _renderer(state),
        lambda tenant: webhook_secrets(state.settings, state.database, tenant),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        deliverer.start()
        yield
        deliverer.stop()
        state.submitter.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="tilework",
        version=__version__,
        summary="Asynchronous image jobs: submit, poll, fetch results.",
    )
    app.state.tilework = state
    install_error_handlers(app)
    settings = state.settings
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    if state.settings.cors_origins:
        # Browsers (seed 004's React app) call the API directly; keys go in Authorization.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=state.settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Prefer"],
            expose_headers=["Location", "Retry-After", "Idempotent-Replayed"],
            max_age=600,
        )
    for module in (jobs, events, uploads, keys, files, health, renderjobs, predictions, providers):
        app.include_router(module.router)
    return app


def _renderer(state: ApiState) -> Any:
    """A delivery's body: a tilework event, or the prediction for Replicate-style webhooks."""

    def render(delivery: Delivery, event: JobEvent) -> dict[str, Any]:
        if delivery.format == "replicate":
            logged = [e for e in state.events.after(event.job_id) if e.id <= event.id]
            return predictions.prediction_body(state, event.job, logged)
        return event_body(state, event).model_dump(mode="json")

    return render
