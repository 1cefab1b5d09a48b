"""The HTTP API: routes, dependencies and wire formats over ``tilework.service``, one package
per protocol: ``v1`` (tilework's own), ``replicate`` (Replicate's predictions) and
``render_contract`` (the render-pipeline API's jobs). No image work runs here."""
