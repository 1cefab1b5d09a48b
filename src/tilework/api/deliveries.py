"""Webhook bodies in the API's wire formats, for the sender (``webhooks.deliverer``), which
runs in every host with workers: a tilework event, or a prediction for Replicate-style hooks.

Only wire formats are imported from here, no routes: a worker host loads pydantic's models, not
FastAPI's app.
"""

from __future__ import annotations

from tilework.api.replicate.views import prediction_body
from tilework.api.v1.bodies import event_body
from tilework.core.jobs import JsonDict
from tilework.core.settings import Settings
from tilework.objects.store import ObjectStore
from tilework.store.deliveries import Delivery
from tilework.store.events import EventLog, JobEvent
from tilework.webhooks.deliverer import Render


def delivery_renderer(settings: Settings, objects: ObjectStore, events: EventLog) -> Render:
    def render(delivery: Delivery, event: JobEvent) -> JsonDict:
        if delivery.format == "replicate":
            # Replicate's webhook carries the prediction with its logs up to this event.
            logged = [e for e in events.after(event.job_id) if e.id <= event.id]
            return prediction_body(settings, objects, event.job, logged)
        return event_body(settings, objects, event).model_dump(mode="json")

    return render
