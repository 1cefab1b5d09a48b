"""The HTTP API: routes, request and response schemas, error mapping. No image work runs here."""
