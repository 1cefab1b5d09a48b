"""fal's queue protocol, served: the official fal clients (``fal-client``, ``@fal-ai/client``)
submit, follow and cancel tilework jobs as fal requests, unchanged."""
